"""Start-time cost of the bootstrap's slot check (issue 4, M1), beside the old sizes-only check.

Builds the real launcher application root (lib/linux/ = installed esecure + its runtime
packages, as bench_updates.py does), signs its file list with a fresh Ed25519 key, and
starts fresh `python -S` children that import esecure_onkey alone (stdlib only, as the
frozen bootstrap) and time, in this order:

* sig: the first pure-Python Ed25519 verification of the real MANIFEST.json (cold: it
  includes building the base-point table);
* verify_app_root: the whole check of a start (signature + full SHA-256 of lib/linux/ +
  unlisted-file walk + sizes of the rest + version);
* baseline: the previous check (sizes of every listed file from the completion record),
  measured in the same child.

The page cache is warm (the files were just written); on a key the first start after
insertion also reads lib/ from the USB stick: that transfer time is computed at 30 MB/s
(USB 2 in practice), not measured.

Usage: .venv/bin/python benchmarks/bench_bootstrap_verify.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parent))

CHILD = r"""
import json, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from esecure_onkey import boot, ed25519, layout
root, cd = Path(sys.argv[2]), Path(sys.argv[3])
key = ed25519.public_key_from_pem((cd / layout.IMAGE_KEY).read_bytes())
data = (root / layout.MANIFEST_NAME).read_bytes()
sig = __import__("base64").b64decode((root / layout.SIGNATURE_NAME).read_bytes())
t0 = time.perf_counter(); ok = ed25519.verify_ed25519(key, data, sig); t1 = time.perf_counter()
ed25519._BASE_TABLE.clear()  # the whole check below starts cold too
version, why = boot.verify_app_root(root, cd, "linux"); t2 = time.perf_counter()
files = json.loads(data)["files"]
for f in files:
    if (root / f["path"]).stat().st_size != f["size"]:
        raise SystemExit("size")
t3 = time.perf_counter()
assert ok and version, why
out = {"sig": t1 - t0, "verify": t2 - t1, "sizes": t3 - t2, "files": len(files)}
if sys.argv[4]:  # the bootstrap of another revision, loaded by path, timed in this child
    import importlib.util
    spec = importlib.util.spec_from_file_location("old_bootstrap", sys.argv[4])
    old = importlib.util.module_from_spec(spec); sys.modules["old_bootstrap"] = old
    spec.loader.exec_module(old)
    t4 = time.perf_counter(); v2, why2 = old.verify_app_root(root, cd, "linux")
    out["baseline"] = time.perf_counter() - t4
    assert v2, why2
print(json.dumps(out))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--baseline",
        metavar="REV",
        help="also time the start check of the bootstrap at git revision REV (before the "
        "on-key package: src/esecure/launcher/bootstrap.py), in the same children",
    )
    args = parser.parse_args()
    from bench_updates import make_launcher_root, tree_size  # noqa: PLC0415
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ed25519  # noqa: PLC0415

    import esecure_onkey  # noqa: PLC0415
    from esecure.bundle.manifest import (  # noqa: PLC0415
        MANIFEST_NAME,
        SIGNATURE_NAME,
        encode_manifest,
        sign_manifest,
    )
    from esecure.bundle.tree import entries, walk_files  # noqa: PLC0415
    from esecure_onkey import layout  # noqa: PLC0415

    runtime = str(Path(esecure_onkey.__file__).parent.parent)  # stdlib + esecure_onkey only

    key = ed25519.Ed25519PrivateKey.generate()
    with tempfile.TemporaryDirectory() as tmp:
        root = make_launcher_root(Path(tmp) / "slot", "9.9.0")
        data = encode_manifest("bench", "9.9.0", entries(root, walk_files(root)))
        (root / MANIFEST_NAME).write_bytes(data)
        (root / SIGNATURE_NAME).write_bytes(sign_manifest(data, key))
        cd = Path(tmp) / "cd"
        (cd / "trust").mkdir(parents=True)
        (cd / layout.IMAGE_KEY).write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        (cd / "product.json").write_text('{"version": "1.0.0"}')
        lib_mb = tree_size(root / "lib" / "linux") / 1e6
        old = ""
        if args.baseline:
            source = subprocess.run(
                ["git", "show", f"{args.baseline}:src/esecure/launcher/bootstrap.py"],
                capture_output=True,
                check=True,
                cwd=HERE.parent,
            ).stdout
            old = str(Path(tmp) / "old_bootstrap.py")
            Path(old).write_bytes(source)
        runs = []
        for i in range(args.repeat):
            proc = subprocess.run(
                [sys.executable, "-S", "-c", CHILD, runtime, str(root), str(cd), old],
                capture_output=True,
                text=True,
                check=False,
                timeout=300,
            )
            if proc.returncode != 0:
                raise SystemExit(proc.stderr)
            runs.append(json.loads(proc.stdout))
            print(f"run {i + 1}: {runs[-1]}", file=sys.stderr)
    keys = ("sig", "verify", "sizes", *(("baseline",) if old else ()))
    med = {k: statistics.median(r[k] for r in runs) for k in keys}
    print(f"lib/linux: {lib_mb:.1f} MB, {runs[0]['files']} listed files, {args.repeat} runs")
    print("| what | median ms | runs ms |")
    print("|---|---|---|")
    for name, label in (
        ("sig", "Ed25519 verify, pure Python, cold"),
        ("verify", "whole start check (signature + SHA-256 of lib/ + walk + sizes)"),
        ("sizes", "baseline: sizes only (the previous check)"),
        *((("baseline", f"the start check of revision {args.baseline}"),) if old else ()),
    ):
        spread = ", ".join(f"{r[name] * 1000:.1f}" for r in runs)
        print(f"| {label} | {med[name] * 1000:.1f} | {spread} |")
    print(f"ratio whole / baseline: {med['verify'] / med['sizes']:.1f}x")
    if old:
        print(
            f"ratio this start check / revision {args.baseline}'s: "
            f"{med['verify'] / med['baseline']:.2f}x"
        )
    print(f"computed: reading {lib_mb:.1f} MB over USB 2 at 30 MB/s: {lib_mb / 30:.2f} s")


if __name__ == "__main__":
    main()
