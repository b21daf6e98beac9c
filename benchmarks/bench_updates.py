# ruff: noqa: PLC0415 - each child imports only what it measures; a CLI that prints
"""Updates on the component store: bytes written and read on the key, modelled USB 2 time,
apply time and peak memory, for an app-only, a deps and a Firefox release; beside the
whole-slot design's numbers (docs/performance.md, "Updates", 2026-11-27 run).

The key's CD-ROM is release 1.0.0 (published too, so that its components are the patch
bases): ``app/`` = the installed esecure package, ``lib/linux/`` = its runtime
distributions, ``firefox/linux/`` = Debian's firefox-esr (symlinks followed; a 1 MB
stand-in with ``--no-firefox``), ``profile/``, ``trust/``. Then, each published and
applied in turn on one data area (the key running the release before):

* **app** 1.0.1: one module of esecure edited, the version changed;
* **deps** 1.0.2: one module of a third-party package edited;
* **firefox** 1.0.3: 64 KiB changed in the middle of ``browser/omni.ja``.

Each publish and each apply runs in a fresh child started through a shell (so that its
``ru_maxrss`` is its own: Linux carries the replaced process's into an exec). For the
apply (check, download to the host, install; the install is what is timed): bytes written
to the data area (the ``Disk`` layer's count, and ``/proc/self/io`` write_bytes during the
install), bytes read from the key (the data area and the CD-ROM: every ``open()`` for
reading under them, counted), CPU time (user + system) of the install, peak memory
(VmHWM). Modelled time on a USB 2 key = written / 10 MB/s + read / 30 MB/s + CPU.

Usage: .venv/bin/python benchmarks/bench_updates.py [--no-firefox] [--json FILE]
"""

from __future__ import annotations

import argparse
import functools
import http.server
import importlib.metadata as md
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
MB = 1_000_000
WRITE_RATE, READ_RATE = 10 * MB, 30 * MB  # a USB 2 key, writing and reading
SKIP_DISTS = {"esecure", "pyinstaller", "pyinstaller-hooks-contrib", "altgraph", "setuptools"}
# The whole-slot design (one application root per slot + its uncompressed archive kept as
# the next patch base), docs/performance.md "Updates", run of 2026-11-27 17:22 UTC: a
# release writes the slot and the archive (2 x the root) and reads the cached archive.
SLOT = {  # apply seconds and peak MB of a whole-slot release, by whether the root has Firefox
    False: {"root_mb": 27.6, "apply_s": 0.79, "peak_mb": 176},
    True: {"root_mb": 336.7, "apply_s": 5.55, "peak_mb": 1650},
}


# --- the application roots ------------------------------------------------------------------


def _runtime_files() -> list[tuple[Path, str]]:
    """(source, path in lib/linux/) of every file of esecure's runtime distributions."""
    seen: dict[str, md.Distribution] = {}
    todo = [
        r.split(";")[0] for r in (md.distribution("esecure").requires or []) if "extra" not in r
    ]
    while todo:
        raw = todo.pop()
        for sep in "[<>=!~ (":
            raw = raw.split(sep)[0]
        name = raw.strip().lower().replace("_", "-")
        if not name or name in seen or name in SKIP_DISTS:
            continue
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue
        seen[name] = dist
        todo += [r.split(";")[0] for r in dist.requires or [] if "extra ==" not in r]
    out = []
    for dist in seen.values():
        for f in dist.files or []:
            src = Path(str(dist.locate_file(f)))
            text = str(f)
            if ".dist-info" in text or "__pycache__" in text or text.startswith(".."):
                continue
            if src.is_file():
                out.append((src, text))
    return out


def make_root(root: Path, version: str, project_id: str, label: str, firefox: bool) -> None:
    """The key's application root of ``version`` (the CD-ROM's layout)."""
    import esecure

    app = root / "app"
    shutil.copytree(
        Path(esecure.__file__).parent, app / "esecure", ignore=shutil.ignore_patterns("__pycache__")
    )
    _set_version(root, version, project_id, label)
    lib = root / "lib" / "linux"
    for src, rel in _runtime_files():
        (lib / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, lib / rel)
    fx = root / "firefox" / "linux"
    if firefox:
        shutil.copytree("/usr/lib/firefox-esr", fx, symlinks=False)
    else:
        (fx / "browser").mkdir(parents=True)
        (fx / "browser" / "omni.ja").write_bytes(os.urandom(1 << 20))
    (root / "profile").mkdir()
    (root / "profile" / "user.js").write_text('user_pref("a", 1);\n')


def _set_version(root: Path, version: str, project_id: str, label: str) -> None:
    app = root / "app"
    init = app / "esecure" / "__init__.py"
    init.unlink(missing_ok=True)  # a hard-linked copy: replace, never write through
    init.write_text(f'"""e-secure."""\n__version__ = "{version}"\n')
    product = {"data": {"label": label}, "format": 1, "id": project_id, "version": version}
    (app / "product.json").unlink(missing_ok=True)
    (app / "product.json").write_text(json.dumps(product))


def _edit(path: Path, change: bytes) -> None:
    data = path.read_bytes()
    path.unlink()  # break the hard link to the previous release's tree
    path.write_bytes(data + change)


def next_release(prev: Path, dest: Path, version: str, kind: str, ids: tuple[str, str]) -> None:
    """``dest`` = ``prev`` (hard links) with the change of a ``kind`` release."""
    shutil.copytree(prev, dest, copy_function=os.link)
    _set_version(dest, version, *ids)
    if kind == "app":
        _edit(dest / "app/esecure/launcher/update_step.py", b"\n# a minor change\nX = 1\n")
    elif kind == "deps":
        _edit(dest / "lib/linux/click/core.py", b"\n# a minor change\n")
    else:
        omni = dest / "firefox/linux/browser/omni.ja"
        data = bytearray(omni.read_bytes())
        mid = len(data) // 2
        data[mid : mid + 65536] = bytes((b + 1) % 256 for b in data[mid : mid + 65536])
        omni.unlink()
        omni.write_bytes(bytes(data))


def tree_size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


# --- children -----------------------------------------------------------------------------


def _hwm() -> int:
    with open("/proc/self/status") as f:  # noqa: PTH123
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))


def _io(field: str) -> int:
    with open("/proc/self/io") as f:  # noqa: PTH123
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))


def child_publish(project: str, version: str, bundle: str) -> dict[str, object]:
    from esecure.config import load_project
    from esecure.updater.publish import publish

    lines: list[str] = []
    start = time.perf_counter()
    publish(load_project(Path(project)), version, Path(bundle), say=lines.append)
    return {"seconds": time.perf_counter() - start, "peak": _hwm(), "lines": lines}


def child_cd(project: str, cd: str, version: str) -> dict[str, object]:
    """Make ``cd`` a CD-ROM: its components' signed lists and release record."""
    from esecure.config import load_project
    from esecure.updater._release import split_components
    from esecure.updater.publish import image_signer
    from esecure_onkey.components import digest, encode_release
    from esecure_onkey.layout import CD_RELEASE, CD_RELEASE_SIG, cd_component_file

    p = load_project(Path(project))
    sign = image_signer(p, None)
    components = split_components(Path(cd))
    for component in components.values():
        for suffix, data in ((".list", component.listed), (".sig", sign(component.listed))):
            path = cd_component_file(Path(cd), component.id, suffix)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    record = encode_release(p.product.id, version, {n: c.id for n, c in components.items()})
    (Path(cd) / CD_RELEASE).write_bytes(record)
    (Path(cd) / CD_RELEASE_SIG).write_bytes(sign(record))
    return {"release": digest(record)}


class _Counted:
    """A file opened for reading whose reads are counted."""

    def __init__(self, f: Any, counted: list[int]) -> None:  # noqa: ANN401 - any binary file
        self._f, self._counted = f, counted

    def read(self, *a: int) -> bytes:
        data: bytes = self._f.read(*a)
        self._counted[0] += len(data)
        return data

    def read1(self, *a: int) -> bytes:
        data: bytes = self._f.read1(*a)
        self._counted[0] += len(data)
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:
        n: int = self._f.readinto(buffer) or 0
        self._counted[0] += n
        return n

    def __enter__(self) -> _Counted:
        return self

    def __exit__(self, *exc: object) -> None:
        self._f.close()

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._f)

    def __getattr__(self, name: str) -> Any:  # noqa: ANN401 - the file's own attributes
        return getattr(self._f, name)


def _count_reads(roots: list[Path]) -> list[int]:
    """Count the bytes read through every file opened for reading under ``roots``."""
    import builtins
    import io

    counted = [0]
    real_open = io.open

    def counting_open(file: Any, mode: str = "r", *args: Any, **kw: Any) -> Any:  # noqa: ANN401
        f = real_open(file, mode, *args, **kw)
        if "r" in mode and "+" not in mode and isinstance(file, str | os.PathLike):
            path = Path(file).resolve()
            if any(root in path.parents for root in roots):
                return _Counted(f, counted)
        return f

    io.open = builtins.open = counting_open
    return counted


def child_apply(data: str, url: str, cd: str, app: str, current: str) -> dict[str, object]:
    import resource

    from esecure.updater._disk import Disk
    from esecure.updater.client import UpdateClient, mark_good
    from esecure_onkey.boot import read_pointer

    pointer = read_pointer(Path(data))
    running = pointer.release if pointer is not None else "cd"
    disk = Disk()
    client = UpdateClient(
        Path(data), url, app, cd=Path(cd), platform="linux", timeout=60, disk=disk
    )
    offer = client.check(current, running=running)
    assert offer is not None
    downloaded = client.download(offer)
    reads = _count_reads([Path(data).resolve(), Path(cd).resolve()])
    usage = resource.getrusage(resource.RUSAGE_SELF)
    io_before, start = _io("write_bytes"), time.perf_counter()
    rid = client.install(offer, downloaded)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = after.ru_utime - usage.ru_utime + after.ru_stime - usage.ru_stime
    result = {
        "seconds": seconds,
        "cpu": cpu,
        "written": disk.written,
        "write_bytes": _io("write_bytes") - io_before,
        "read": reads[0],
        "peak": _hwm(),
        "download": offer.download_size,
        "components": [c.name + (" (patch)" if c.patch else " (full)") for c in offer.components],
        "release": rid,
    }
    mark_good(Path(data), running=rid)
    return result


CHILDREN = {"publish": child_publish, "cd": child_cd, "apply": child_apply}


def run_child(name: str, *args: str) -> dict[str, object]:
    """A fresh Python started by a shell that forks it (its ru_maxrss and VmHWM its own)."""
    cmd = [
        "/bin/sh",
        "-c",
        '"$0" "$@"; exit $?',
        sys.executable,
        str(HERE),
        "--child",
        name,
        *args,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=3600)
    if proc.returncode != 0:
        raise SystemExit(f"child {name} failed:\n{proc.stderr[-4000:]}")
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


# --- the run --------------------------------------------------------------------------------


def _serve(directory: Path) -> tuple[str, http.server.ThreadingHTTPServer]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # noqa: A002, ARG002
            return None

    handler = functools.partial(Quiet, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/", server


def _modelled(written: float, read: float, cpu: float) -> float:
    return written / WRITE_RATE + read / READ_RATE + cpu


def main() -> None:  # noqa: PLR0915 - one scenario, step by step
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-firefox", action="store_true", help="a 1 MB stand-in Firefox")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        name, *rest = args.child
        print(json.dumps(CHILDREN[name](*rest)))
        return

    from esecure.config import load_project
    from esecure.scaffold import InitOptions, init_project
    from esecure.updater.publish import init_keys

    work = Path(tempfile.mkdtemp(prefix="bench-updates-"))
    try:
        project_dir = work / "project"
        init_project(project_dir, InitOptions(demo=True), passphrase=None)
        project = load_project(project_dir)
        init_keys(project, say=lambda _m: None)
        ids = (project.product.id, "ESECUREDATA")
        cd = work / "cd"
        print("laying out the key's CD-ROM (release 1.0.0)...", file=sys.stderr)
        make_root(cd, "1.0.0", *ids, firefox=not args.no_firefox)
        trust = cd / "trust"
        trust.mkdir()
        shutil.copyfile(project_dir / "repository/metadata/root.json", trust / "root.json")
        shutil.copyfile(project.trust.image_signing_public_key, trust / "image-signing.pub.pem")
        run_child("cd", str(project_dir), str(cd), "1.0.0")
        first = run_child("publish", str(project_dir), "1.0.0", str(cd))
        served = work / "served"
        shutil.copytree(project_dir / "repository", served)
        url, server = _serve(served)
        data = work / "data"
        rows = []
        prev, current = cd, "1.0.0"
        releases = [("app", "1.0.1"), ("deps", "1.0.2"), ("firefox", "1.0.3")]
        for kind, version in releases:
            bundle = work / f"r-{version}"
            next_release(prev, bundle, version, kind, ids)
            print(f"{kind} release {version}: publish, apply...", file=sys.stderr)
            pub = run_child("publish", str(project_dir), version, str(bundle))
            shutil.rmtree(served)
            shutil.copytree(project_dir / "repository", served)
            applied = run_child("apply", str(data), url, str(cd), ids[0], current)
            changed = {"app": "app", "deps": "lib/linux", "firefox": "firefox/linux"}[kind]
            rows.append(
                {
                    "kind": kind,
                    "version": version,
                    "component_bytes": tree_size(bundle / changed),
                    "root_bytes": tree_size(bundle) - tree_size(bundle / "trust"),
                    "publish": pub,
                    "apply": applied,
                }
            )
            prev, current = bundle, version
        server.shutdown()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(rows, first)
    if args.json:
        args.json.write_text(json.dumps({"first_publish": first, "rows": rows}, indent=2))


def report(rows: list[dict[str, Any]], first: dict[str, Any]) -> None:
    print(
        f"first publish (1.0.0, every component new): {first['seconds']:.1f} s, "
        f"peak {first['peak'] / MB:.0f} MB"
    )
    print()
    print(
        "| release | changed component MB | download KB | written MB (Disk / io) | read MB "
        "| CPU s | apply s | peak MB | modelled USB 2 s | publish s / peak MB |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        a, p = r["apply"], r["publish"]
        model = _modelled(a["written"], a["read"], a["cpu"])
        print(
            f"| {r['kind']} ({', '.join(a['components'])}) | {r['component_bytes'] / MB:.1f} "
            f"| {a['download'] / 1000:.1f} | {a['written'] / MB:.1f} / {a['write_bytes'] / MB:.1f} "
            f"| {a['read'] / MB:.1f} | {a['cpu']:.2f} | {a['seconds']:.2f} | {a['peak'] / MB:.0f} "
            f"| {model:.1f} | {p['seconds']:.1f} / {p['peak'] / MB:.0f} |"
        )
    print()
    print(
        "whole-slot design, same roots (docs/performance.md: written = slot + cached archive "
        "= 2 x root, read = the cached archive; apply s and peak as measured there):"
    )
    print("| release | root MB | written MB | read MB | apply s | peak MB | modelled USB 2 s |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        root = r["root_bytes"]
        slot = SLOT[root > 100 * MB]  # a root with Firefox, or without
        model = _modelled(2 * root, root, slot["apply_s"])
        print(
            f"| {r['kind']} | {root / MB:.1f} | {2 * root / MB:.1f} | {root / MB:.1f} "
            f"| {slot['apply_s']:.2f} | {slot['peak_mb']} | {model:.1f} |"
        )


if __name__ == "__main__":
    main()
