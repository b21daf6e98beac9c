"""The bootstrap's start check on the component store, beside the slot design's, same run.

Builds the real launcher (esecure + its run-time packages, as bench_updates.py does) and
lays it out twice:

* as format 1 (components): a CD-ROM whose release names app, deps-linux, firefox-linux,
  profile, trust; a data area holding release 9.9.0 twice over — one release whose app
  AND deps are in the store (the worst start: ~40 MB to hash from the data area), one
  whose app only is (an app-only update: the deps are the CD-ROM's, used in place);
* as the slot design (1fa89ee): the same files as one slot with its signed MANIFEST.json.

Each run is a fresh ``python -S`` child that imports esecure_onkey alone (as frozen) and
times ``store.resolve`` for both releases and then the old bootstrap's
``verify_app_root`` (its file loaded by path from git) on the slot. Page cache warm; the
transfer from a USB 2 key (~30 MB/s) is computed from the bytes hashed, not measured.

Usage: .venv/bin/python benchmarks/bench_start_check.py [--repeat 10] [--baseline 1fa89ee]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parent))

CHILD = r"""
import importlib.util, json, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from esecure_onkey import store
cd, data, rid_all, rid_app, old_path, slot = sys.argv[2:8]
t0 = time.perf_counter(); a = store.resolve(Path(data), rid_all, Path(cd), "linux")
t1 = time.perf_counter(); b = store.resolve(Path(data), rid_app, Path(cd), "linux")
t2 = time.perf_counter()
assert not isinstance(a, str), a
assert not isinstance(b, str), b
spec = importlib.util.spec_from_file_location("old_bootstrap", old_path)
old = importlib.util.module_from_spec(spec); sys.modules["old_bootstrap"] = old
spec.loader.exec_module(old)
t3 = time.perf_counter(); version, why = old.verify_app_root(Path(slot), Path(cd), "linux")
t4 = time.perf_counter()
assert version, why
print(json.dumps({"all": t1 - t0, "app": t2 - t1, "slot": t4 - t3}))
"""


def _files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def launcher_root(root: Path, version: str) -> Path:
    """The slot design's application root (lib/linux/ = esecure + its run-time packages,
    product.json and trust/ beside it), from bench_updates' component layout."""
    from bench_updates import make_root  # noqa: PLC0415

    make_root(root, version, "bench", "BENCH", firefox=False)
    shutil.copytree(root / "app" / "esecure", root / "lib" / "linux" / "esecure")
    shutil.move(root / "app" / "product.json", root / "product.json")
    shutil.rmtree(root / "app")
    (root / "trust").mkdir(exist_ok=True)
    return root


def main() -> None:  # noqa: PLR0915 - one linear set-up, then the runs
    """Lay out both designs, time the checks, print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--baseline", default="1fa89ee", metavar="REV")
    args = parser.parse_args()
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ed25519  # noqa: PLC0415

    import esecure_onkey  # noqa: PLC0415
    from esecure.bundle.manifest import encode_manifest, sign_manifest  # noqa: PLC0415
    from esecure.bundle.tree import entries, walk_files  # noqa: PLC0415
    from esecure_onkey import layout  # noqa: PLC0415
    from esecure_onkey.components import (  # noqa: PLC0415
        digest,
        encode_component_list,
        encode_release,
        mount,
    )
    from esecure_onkey.records import encode_component_completion  # noqa: PLC0415

    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    def sig(data: bytes) -> bytes:
        return base64.b64encode(key.sign(data)) + b"\n"

    def listed(files: dict[str, bytes]) -> dict[str, tuple[int, str]]:
        return {p: (len(b), hashlib.sha256(b).hexdigest()) for p, b in files.items()}

    runtime = str(Path(esecure_onkey.__file__).parent.parent)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        slot = launcher_root(tmp / "slot", "9.9.0")
        (slot / "trust" / "image-signing.pub.pem").write_bytes(pem)
        lib = _files(slot / "lib" / "linux")
        app = {p: b for p, b in lib.items() if p.startswith("esecure/")}
        app["product.json"] = (slot / "product.json").read_bytes()
        deps = {p: b for p, b in lib.items() if not p.startswith("esecure/")}
        components = {
            "app": app,
            "deps-linux": deps,
            "firefox-linux": {"omni.ja": b"omni" * 1000, "libnss3.so": b"\x7fELF" * 100},
            "profile": _files(slot / "profile"),
            "trust": _files(slot / "trust"),
        }
        data = encode_manifest("bench", "9.9.0", entries(slot, walk_files(slot)))
        (slot / layout.MANIFEST_NAME).write_bytes(data)
        (slot / layout.SIGNATURE_NAME).write_bytes(sign_manifest(data, key))
        cd, area = tmp / "cd", tmp / "data"
        cd_ids, new_ids = {}, {}
        for name, files in components.items():
            for path, content in files.items():
                target = cd / mount(name) / path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(content)
            listing = encode_component_list(name, listed(files))
            cd_ids[name] = digest(listing)
            if name in ("app", "deps-linux"):  # the same files, another version: in the store
                newer = {**files, "VERSION": b"9.9.0\n"}
                listing = encode_component_list(name, listed(newer))
                cid = digest(listing)
                for path, content in newer.items():
                    target = layout.component_dir(area, cid) / path
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(content)
                layout.component_file(area, cid, ".list").write_bytes(listing)
                layout.component_file(area, cid, ".sig").write_bytes(sig(listing))
                layout.component_file(area, cid, ".complete").write_bytes(
                    encode_component_completion(cid)
                )
                new_ids[name] = cid
        (cd / "product.json").write_text('{"version": "1.0.0"}')  # the old bootstrap's floor
        record = encode_release("bench", "1.0.0", cd_ids)
        (cd / layout.CD_RELEASE).write_bytes(record)
        rids = []
        for ids in ({**cd_ids, **new_ids}, {**cd_ids, "app": new_ids["app"]}):
            record = encode_release("bench", "9.9.0", ids)
            rid = digest(record)
            layout.release_file(area, rid, ".json").parent.mkdir(parents=True, exist_ok=True)
            layout.release_file(area, rid, ".json").write_bytes(record)
            layout.release_file(area, rid, ".sig").write_bytes(sig(record))
            rids.append(rid)
        old = tmp / "old_bootstrap.py"
        old.write_bytes(
            subprocess.run(
                ["git", "show", f"{args.baseline}:src/esecure/launcher/bootstrap.py"],
                capture_output=True,
                check=True,
                cwd=HERE.parent,
            ).stdout
        )
        argv = [runtime, str(cd), str(area), *rids, str(old), str(slot)]
        runs = []
        for i in range(args.repeat):
            proc = subprocess.run(
                [sys.executable, "-S", "-c", CHILD, *argv],
                capture_output=True,
                text=True,
                check=False,
                timeout=300,
            )
            if proc.returncode != 0:
                raise SystemExit(proc.stderr)
            runs.append(json.loads(proc.stdout))
            print(f"run {i + 1}: {runs[-1]}", file=sys.stderr)
        app_mb = sum(len(b) for b in app.values()) / 1e6
        deps_mb = sum(len(b) for b in deps.values()) / 1e6
        shutil.rmtree(area)
    med = {k: statistics.median(r[k] for r in runs) for k in ("all", "app", "slot")}
    print(f"app {app_mb:.1f} MB, deps-linux {deps_mb:.1f} MB, {args.repeat} runs, warm cache")
    print("| start check | median ms | runs ms | hashed from the key | at 30 MB/s |")
    print("|---|---|---|---|---|")
    rows = (
        ("all", "store: app + deps in the data area", app_mb + deps_mb),
        ("app", "store: app-only update (deps from the CD-ROM, in place)", app_mb),
        ("slot", f"slot design ({args.baseline}): lib/ hashed", app_mb + deps_mb),
    )
    for name, label, mb in rows:
        spread = ", ".join(f"{r[name] * 1000:.1f}" for r in runs)
        print(f"| {label} | {med[name] * 1000:.1f} | {spread} | {mb:.1f} MB | {mb / 30:.2f} s |")
    print(f"ratio store (app + deps) / slot: {med['all'] / med['slot']:.2f}x")
    print(f"ratio store (app only) / slot: {med['app'] / med['slot']:.2f}x")


if __name__ == "__main__":
    main()
