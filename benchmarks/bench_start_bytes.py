"""Bytes read from the key by a start of the launcher, up to Firefox's start (issue 10).

A key is read over USB 2 at ~30 MB/s on many PCs: what a start reads from it matters more
than CPU. The method of the issue: the demo image (real frozen bootstrap, real Firefox)
extracted onto a block-backed file system, a data area beside it; ``sync`` and
``posix_fadvise(DONTNEED)`` on every file of both; ``e-secure --no-gui`` run with a
stand-in Firefox that exits at once (the CD-ROM's ``firefox-esr`` replaced by a script of
the same size: the start check compares sizes); then the pages of each file resident in
the page cache are counted (``fincore``). Everything resident was read by that start.

Starts measured, each from a fresh copy of its data area:

* ``--version``: the frozen Python runtime and the launcher's entry point, nothing else
  (the floor any start pays);
* ``--self-check``: the previous critical-path check (manifest signature, sizes, and the
  full SHA-256 of what ``hashed_at_start`` names): the baseline;
* first start from the CD-ROM: the data area holds identity.json and a certificate, no
  profile yet (the profile is made and the certificate delivered through Firefox's NSS);
* everyday start from the CD-ROM: the profile already holds the certificate;
* everyday start after an app-only update, and after an app + deps update (the
  bootstrap checks the store's components in full at each start: T11).

Usage: .venv/bin/python benchmarks/bench_start_bytes.py [--runs 3] [--keep DIR]
(needs firefox-esr, xorriso, fincore; freezes the launcher with PyInstaller: ~1 min).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import functools
import http.server
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from esecure.bundle.build import BuildOptions, build_image
from esecure.bundle.freeze import freeze_launcher
from esecure.config import load_project
from esecure.launcher.keystore import Credential, KeyStore
from esecure.scaffold import InitOptions, init_project
from esecure.trust import load_private_key
from esecure.updater.client import UpdateClient
from esecure.updater.publish import init_keys, publish

sys.path.insert(0, str(Path(__file__).resolve().parent))
from image import extract_iso

EPOCH = 1_700_000_000
SERIAL = "BENCH-0001"
MB = 1_000_000
USB2 = 30 * MB  # bytes per second


def _quiet(*_args: object) -> None:
    return None


def build_cd(base: Path) -> tuple[Path, Path]:
    """The demo project and its image's CD-ROM, extracted by xorriso (modes kept)."""
    project = base / "project"
    init_project(project, InitOptions(demo=True), passphrase=None)
    launcher = base / "launcher"
    if not (launcher / "e-secure").is_file():  # a kept frozen launcher is reused (~1 min)
        launcher = freeze_launcher(launcher, launcher_name="e-secure", epoch=EPOCH)
    build_image(
        project, BuildOptions(out=base / "out", launcher_dirs={"linux": launcher}, epoch=EPOCH)
    )
    cd = extract_iso(base / "out" / "cdrom.iso", base / "cd")
    for directory, _dirs, _files in os.walk(cd):
        Path(directory).chmod(0o755)
    shutil.rmtree(base / "out")
    return project, cd


def stand_in_firefox(program: Path) -> None:
    """Replace Firefox's program with a script of the same size that exits at once."""
    size = program.stat().st_size
    head = b"#!/bin/sh\nexit 0\n"
    program.chmod(0o755)
    program.write_bytes(head + b"#" * (size - len(head) - 1) + b"\n")


def make_data(directory: Path, project: Path) -> Path:
    """A data area: identity.json and a certificate of the project's CA for its serial."""
    directory.mkdir(parents=True)
    (directory / "identity.json").write_text(json.dumps({"format": 1, "serial": SERIAL}))
    loaded = load_project(project)
    ca_cert = x509.load_pem_x509_certificate(loaded.trust.ca_certificate.read_bytes())
    assert loaded.trust.ca_key is not None
    ca_key = load_private_key(loaded.trust.ca_key)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "bench"),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, SERIAL),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    KeyStore(directory).save(Credential(key, (cert, ca_cert)))
    return directory


def files_under(*roots: Path) -> list[Path]:
    return sorted(
        p for root in roots for p in root.rglob("*") if p.is_file() and not p.is_symlink()
    )


def drop_caches(*roots: Path) -> None:
    """sync, then POSIX_FADV_DONTNEED on every file: nothing of them stays cached."""
    os.sync()
    for path in files_under(*roots):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def resident(root: Path) -> dict[str, int]:
    """Bytes of each file under ``root`` resident in the page cache (fincore)."""
    out: dict[str, int] = {}
    paths = [str(p) for p in files_under(root)]
    for start in range(0, len(paths), 300):
        result = subprocess.run(
            ["fincore", "--json", "--bytes", "-o", "RES,FILE", *paths[start : start + 300]],
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        )
        for row in json.loads(result.stdout)["fincore"]:
            if int(row["res"]):
                out[str(Path(row["file"]).relative_to(root))] = int(row["res"])
    return out


def run(cd: Path, data: Path, home: Path, args: tuple[str, ...]) -> tuple[int, float, str]:
    """The CD-ROM's frozen bootstrap with ``args``: (exit code, seconds, stderr's end)."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "XDG_RUNTIME_DIR": str(home / "run"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "ESECURE_DATA_DIR": str(data),
    }
    start = time.perf_counter()
    proc = subprocess.run(
        [str(cd / "e-secure"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    return proc.returncode, time.perf_counter() - start, (proc.stdout + proc.stderr)[-1500:]


def measure(cd: Path, template: Path, base: Path, args: tuple[str, ...], runs: int) -> dict:
    """Median bytes resident (CD-ROM, data area) after ``runs`` starts, each from a fresh
    copy of ``template``; the largest reads of the last run."""
    cd_bytes, data_bytes, seconds = [], [], []
    top: list[tuple[int, str]] = []
    for n in range(runs):
        data = base / f"data-{template.name}-{n}"
        home = base / f"home-{template.name}-{n}"
        shutil.copytree(template, data, symlinks=True)
        for name in ("run", "cache"):
            (home / name).mkdir(parents=True, mode=0o700)
        drop_caches(cd, data)
        code, took, said = run(cd, data, home, args)
        if code != 0:
            raise SystemExit(f"{' '.join(args)} on {template.name} exited {code}:\n{said}")
        on_cd, on_data = resident(cd), resident(data)
        cd_bytes.append(sum(on_cd.values()))
        data_bytes.append(sum(on_data.values()))
        seconds.append(took)
        top = sorted(((v, f"cd/{k}") for k, v in on_cd.items()), reverse=True)[:6]
        top += sorted(((v, f"data/{k}") for k, v in on_data.items()), reverse=True)[:3]
        shutil.rmtree(data)
        shutil.rmtree(home)
    return {
        "cd": statistics.median(cd_bytes),
        "data": statistics.median(data_bytes),
        "seconds": statistics.median(seconds),
        "runs": list(zip(cd_bytes, data_bytes, strict=True)),
        "top": top,
    }


@contextlib.contextmanager
def served(directory: Path) -> Iterator[str]:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    handler.log_message = lambda *_a: None  # type: ignore[method-assign]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def _set_version(bundle: Path, version: str) -> None:
    init = bundle / "app" / "esecure" / "__init__.py"
    text = "".join(
        f'__version__ = "{version}"\n' if line.startswith("__version__") else line
        for line in init.read_text().splitlines(keepends=True)
    )
    init.write_text(text)
    for pyc in (bundle / "app" / "esecure" / "__pycache__").glob("__init__.*.pyc"):
        pyc.unlink()


def make_bundle(cd: Path, bundle: Path) -> None:
    """The CD-ROM's components at their mounts (before Firefox is stood in for: an update
    publishes the real one, whose id is the CD-ROM's, so the key uses the CD-ROM's copy)."""
    for name in ("app", "lib/linux", "firefox/linux", "profile", "trust"):
        shutil.copytree(cd / name, bundle / name, symlinks=True)


def updated(project_dir: Path, cd: Path, base: Path, everyday: Path) -> tuple[Path, Path]:
    """Two data areas like ``everyday`` with an update installed: app only (1.0.1), and
    app + deps (1.0.2: one module of lib/linux changed)."""
    project = load_project(project_dir)
    init_keys(project, say=_quiet)
    bundle = base / "bundle"
    root = project.root / "repository" / "metadata" / "1.root.json"
    out = []
    for version, deps in (("1.0.1", False), ("1.0.2", True)):
        _set_version(bundle, version)
        if deps:
            six = next((bundle / "lib" / "linux").rglob("*.py"))
            six.write_text(six.read_text() + "\n# changed by the benchmark\n")
        publish(project, version, bundle, say=_quiet)
        data = base / f"template-{version}"
        shutil.copytree(everyday, data, symlinks=True)
        with served(project.root / "repository") as url:
            client = UpdateClient(data, url, project.product.id, cd=cd, initial_root=root)
            offer = client.check("1.0.0")
            assert offer is not None and offer.version == version, offer
            client.install(offer, client.download(offer))
        out.append(data)
    shutil.rmtree(bundle)
    return out[0], out[1]


def warmed(cd: Path, template: Path, into: Path) -> Path:
    """``template`` after one start (profile made, certificate delivered, release marked
    good): what every later start finds."""
    if not into.exists():
        shutil.copytree(template, into, symlinks=True)
        home = into.parent / f"home-warm-{into.name}"
        for name in ("run", "cache"):
            (home / name).mkdir(parents=True, mode=0o700, exist_ok=True)
        code, _, said = run(cd, into, home, ("--no-gui",))
        assert code == 0, said
        shutil.rmtree(home)
    return into


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="build here and keep it (reused when present)")
    options = parser.parse_args()
    base = options.keep or Path(tempfile.mkdtemp(prefix="esecure-bytes-", dir="/var/tmp"))
    try:
        if (base / "cd" / "e-secure").is_file():
            project, cd = base / "project", base / "cd"
        else:
            project, cd = build_cd(base)
            make_bundle(cd, base / "bundle")
            stand_in_firefox(cd / "firefox" / "linux" / "firefox-esr")
        first = base / "template-first"
        if not first.exists():
            make_data(first, project)
        everyday = warmed(cd, first, base / "template-everyday")
        app_only, with_deps = (
            (base / "template-1.0.1", base / "template-1.0.2")
            if (base / "template-1.0.2").exists()
            else updated(project, cd, base, everyday)
        )
        app_only_good = warmed(cd, app_only, base / "template-1.0.1-good")
        with_deps_good = warmed(cd, with_deps, base / "template-1.0.2-good")
        size = sum(p.stat().st_size for p in files_under(cd))
        print(f"CD-ROM: {size / MB:.1f} MB, {len(files_under(cd))} files; runs: {options.runs}")
        rows = [
            (
                "`--version` (the frozen Python runtime and the entry point: the floor)",
                first,
                ("--version",),
            ),
            (
                "`--self-check` (previous start check: sizes + hashed_at_start)",
                first,
                ("--self-check",),
            ),
            (
                "first start from the CD-ROM (profile made, certificate delivered)",
                first,
                ("--no-gui",),
            ),
            ("everyday start from the CD-ROM", everyday, ("--no-gui",)),
            (
                "first start after an app-only update (on trial: marked good)",
                app_only,
                ("--no-gui",),
            ),
            ("everyday start after an app-only update", app_only_good, ("--no-gui",)),
            ("first start after an app + deps update", with_deps, ("--no-gui",)),
            ("everyday start after an app + deps update", with_deps_good, ("--no-gui",)),
        ]
        print(
            "| start | read from the CD-ROM | from the data area | at 30 MB/s | wall (warm disk) |"
        )
        print("|---|---|---|---|---|")
        details = []
        for label, template, args in rows:
            got = measure(cd, template, base, args, options.runs)
            total = got["cd"] + got["data"]
            print(
                f"| {label} | {got['cd'] / MB:.1f} MB | {got['data'] / MB:.1f} MB | "
                f"{total / USB2:.2f} s | {got['seconds']:.2f} s |"
            )
            details.append((label, got))
        for label, got in details:
            runs = [(round(c / MB, 1), round(d / MB, 1)) for c, d in got["runs"]]
            print(f"\n{label}: runs (cd, data) MB = {runs}")
            for value, name in got["top"]:
                print(f"  {value / MB:7.2f} MB  {name}")
    finally:
        if options.keep is None:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
