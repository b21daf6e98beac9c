# ruff: noqa: PLC0415, PLR0917, ARG001, ISC004 - each child imports only what it measures; CLI-shaped children
"""Updates: patch size, publish time and memory, apply time and memory; ours beside tufup's
defaults (bsdiff patches, gzip -9 re-compression) measured in the same run.

Two releases are measured:

* launcher: an application root whose lib/linux/ holds the installed `esecure` and every
  runtime dependency (what the image builder puts in a slot), minor release = one module
  of esecure edited and the version string changed;
* firefox: the same root plus Debian's firefox-esr install in firefox/linux/, minor release
  = bytes changed inside browser/omni.ja (the same build with a changed omni.ja).

Each measurement runs in a fresh child process; peak memory is that child's max RSS
(interpreter included). "apply" is patch + verify + everything up to files on disk:
ours = zstd patch, SHA-256 check, extract + fsync into the inactive slot, completion
record and pointer; tufup's default = gunzip base, bsdiff patch, SHA-256 check, gzip -9
the new archive (its hard-coded step) and extract it. "+10 Mbit/s" adds the patch's
transfer time at 1.25 MB/s (computed, not throttled).

Usage: .venv/bin/python benchmarks/bench_updates.py [--repeat 3] [--no-firefox]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import importlib.metadata as md
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()
LINK = 10_000_000 / 8  # 10 Mbit/s in bytes per second
SKIP_DISTS = {"pyinstaller", "pyinstaller-hooks-contrib", "altgraph", "setuptools", "pip"}


# --- bundles ------------------------------------------------------------------------------


def _runtime_dists() -> list[md.Distribution]:
    seen: dict[str, md.Distribution] = {}
    todo = ["esecure"]
    while todo:
        name = todo.pop().lower().replace("_", "-")
        if name in seen or name in SKIP_DISTS:
            continue
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue
        seen[name] = dist
        for req in dist.requires or []:
            if "extra ==" in req:
                continue
            todo.append(
                req.split(";")[0]
                .split("[")[0]
                .split("<")[0]
                .split(">")[0]
                .split("=")[0]
                .split("!")[0]
                .split("~")[0]
                .strip()
            )
    return list(seen.values())


def make_launcher_root(root: Path, version: str) -> Path:
    """lib/linux/ with esecure and its runtime dependencies, plus the small files."""
    lib = root / "lib" / "linux"
    for dist in _runtime_dists():
        for f in dist.files or []:
            src = Path(dist.locate_file(f))
            if ".dist-info" in str(f) or "__pycache__" in str(f) or not src.is_file():
                continue
            if str(f).startswith(".."):
                continue
            dst = lib / f
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
    import esecure

    pkg = Path(esecure.__file__).parent
    shutil.copytree(
        pkg, lib / "esecure", dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__")
    )
    (lib / "esecure" / "__init__.py").write_text(f'"""e-secure."""\n__version__ = "{version}"\n')
    (root / "product.json").write_text(json.dumps({"version": version}))
    (root / "profile").mkdir(exist_ok=True)
    (root / "profile" / "user.js").write_text('user_pref("a", 1);\n')
    (root / "trust").mkdir(exist_ok=True)
    (root / "trust" / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    return root


def minor_release(src: Path, dst: Path, version: str) -> None:
    """dst = src with one module edited and the version changed."""
    shutil.copytree(src, dst, symlinks=False)
    lib = dst / "lib" / "linux" / "esecure"
    (lib / "__init__.py").write_text(f'"""e-secure."""\n__version__ = "{version}"\n')
    target = lib / "launcher" / "update_step.py"
    target.write_text(target.read_text() + "\n# a minor change: one comment, one constant\nX = 1\n")
    (dst / "product.json").write_text(json.dumps({"version": version}))


def add_firefox(root: Path) -> None:
    """Debian's firefox-esr install into firefox/linux/ (symlinks followed)."""
    shutil.copytree("/usr/lib/firefox-esr", root / "firefox" / "linux", symlinks=False)


def change_omni(root: Path) -> None:
    """Change 64 KiB in the middle of browser/omni.ja (a minor ESR rebuild's scale)."""
    omni = root / "firefox" / "linux" / "browser" / "omni.ja"
    data = bytearray(omni.read_bytes())
    mid = len(data) // 2
    data[mid : mid + 65536] = bytes((b + 1) % 256 for b in data[mid : mid + 65536])
    omni.write_bytes(bytes(data))


def tree_size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


# --- children (one measurement each) --------------------------------------------------------


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_publish_ours(project: str, version: str, bundle: str) -> dict[str, float]:
    from esecure.config import load_project
    from esecure.updater.publish import publish

    p = load_project(project)
    t = time.perf_counter()
    publish(p, version, Path(bundle), say=lambda _m: None)
    return {"seconds": time.perf_counter() - t, "peak_mb": _peak_mb()}


def child_publish_tufup(
    repo_dir: str, keys_dir: str, version: str, bundle: str
) -> dict[str, float]:
    import os

    from tufup.repo import Repository

    os.chdir(keys_dir)
    repo = Repository.from_config()
    t = time.perf_counter()
    repo.add_bundle(new_bundle_dir=bundle, new_version=version)
    repo.publish_changes(private_key_dirs=[keys_dir])
    return {"seconds": time.perf_counter() - t, "peak_mb": _peak_mb()}


def child_apply_ours(
    base_tar: str, patch: str, size: str, digest: str, data: str, image_key: str
) -> dict[str, float]:
    from esecure.updater._disk import Checkpoints, Disk
    from esecure.updater._install import install
    from esecure.updater._zstd import apply_patch

    base = Path(base_tar).read_bytes()
    p = Path(patch).read_bytes()
    t = time.perf_counter()
    tar = apply_patch(base, p)
    del base, p  # as in the client: the base is dropped once the patch is applied
    assert len(tar) == int(size) and hashlib.sha256(tar).hexdigest() == digest
    install(  # includes the check of the release's signed file list
        Path(data),
        tar,
        image_key=Path(image_key).read_bytes(),
        app="bench",
        version="2",
        running_slot=None,
        disk=Disk(),
        cp=Checkpoints(),
    )
    return {"seconds": time.perf_counter() - t, "peak_mb": _peak_mb()}


def child_apply_tufup(
    base_tgz: str, patch: str, size: str, digest: str, out: str
) -> dict[str, float]:
    import bsdiff4

    t = time.perf_counter()
    with gzip.open(base_tgz, "rb") as f:
        base = f.read()
    tar = bsdiff4.patch(base, Path(patch).read_bytes())
    assert len(tar) == int(size) and hashlib.sha256(tar).hexdigest() == digest
    dst = Path(out) / "new.tar.gz"
    with gzip.open(dst, "wb") as f:  # tufup: gzip.open(dst_path, mode='wb'): level 9
        f.write(tar)
    with tarfile.open(dst, "r:gz") as archive:
        archive.extractall(Path(out) / "extract", filter="data")
    return {"seconds": time.perf_counter() - t, "peak_mb": _peak_mb()}


CHILDREN = {
    "publish-ours": child_publish_ours,
    "publish-tufup": child_publish_tufup,
    "apply-ours": child_apply_ours,
    "apply-tufup": child_apply_tufup,
}


def run_child(name: str, *args: str) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, str(HERE), "--child", name, *args],
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{name} failed: {proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --- one scenario ---------------------------------------------------------------------------


def _tufup_repo(work: Path, v1: Path) -> tuple[Path, Path]:
    """A tufup repository with its default BinaryDiff (bsdiff) holding v1."""
    import os

    from tufup.repo import Repository

    keys = work / "tufup-keys"
    keys.mkdir()
    here = Path.cwd()
    os.chdir(keys)
    try:
        repo = Repository(app_name="bench", repo_dir=work / "tufup-repo", keys_dir=keys)
        repo.initialize()
        repo.add_bundle(new_bundle_dir=v1, new_version="1")
        repo.publish_changes(private_key_dirs=[keys])
        repo.save_config()
    finally:
        os.chdir(here)
    return work / "tufup-repo", keys


def _ours_project(work: Path, v1: Path) -> Path:
    from esecure.config import load_project
    from esecure.scaffold import InitOptions, init_project
    from esecure.updater.publish import init_keys, publish

    d = work / "project"
    init_project(d, InitOptions(demo=True), passphrase=None)
    p = load_project(d)
    init_keys(p, say=lambda _m: None)
    publish(p, "1", v1, say=lambda _m: None)
    return d


def scenario(name: str, v1: Path, v2: Path, work: Path, repeat: int, bsdiff_repeat: int) -> dict:
    print(f"[{name}] bundle {tree_size(v2) / 1e6:.1f} MB", file=sys.stderr)
    ours_pub, tuf_pub, ours_apply, tuf_apply = [], [], [], []
    ours_patch = tuf_patch = archive = 0
    expected = ("", "")
    for i in range(repeat):
        run = work / f"ours-{i}"
        run.mkdir()
        project = _ours_project(run, v1)
        ours_pub.append(run_child("publish-ours", str(project), "2", str(v2)))
        targets = project / "repository" / "targets"
        ours_patch = (targets / "demo-bank-2.patch").stat().st_size
        archive = (targets / "demo-bank-2.tar.gz").stat().st_size
        base = run / "base.tar"
        base.write_bytes(gzip.decompress((targets / "demo-bank-1.tar.gz").read_bytes()))
        new = gzip.decompress((targets / "demo-bank-2.tar.gz").read_bytes())
        expected = (str(len(new)), hashlib.sha256(new).hexdigest())
        ours_apply.append(
            run_child(
                "apply-ours",
                str(base),
                str(targets / "demo-bank-2.patch"),
                *expected,
                str(run / "data"),
                str(project / "trust" / "image-signing.pub.pem"),
            )
        )
        print(
            f"[{name}] ours run {i + 1}: publish {ours_pub[-1]}, apply {ours_apply[-1]}",
            file=sys.stderr,
        )
        shutil.rmtree(run)
    for i in range(bsdiff_repeat):
        run = work / f"tufup-{i}"
        run.mkdir()
        repo_dir, keys = _tufup_repo(run, v1)
        tuf_pub.append(run_child("publish-tufup", str(repo_dir), str(keys), "2", str(v2)))
        targets = repo_dir / "targets"
        tuf_patch = (targets / "bench-2.patch").stat().st_size
        out = run / "out"
        out.mkdir()
        tuf_new = gzip.decompress((targets / "bench-2.tar.gz").read_bytes())
        tuf_expected = (str(len(tuf_new)), hashlib.sha256(tuf_new).hexdigest())
        tuf_apply.append(
            run_child(
                "apply-tufup",
                str(targets / "bench-1.tar.gz"),
                str(targets / "bench-2.patch"),
                *tuf_expected,
                str(out),
            )
        )
        print(
            f"[{name}] tufup run {i + 1}: publish {tuf_pub[-1]}, apply {tuf_apply[-1]}",
            file=sys.stderr,
        )
        shutil.rmtree(run)

    def med(rows: list[dict[str, float]], key: str) -> float:
        return statistics.median(r[key] for r in rows)

    tufup = None
    if tuf_pub:
        tufup = {
            "patch_kb": tuf_patch / 1e3,
            "patch_pct": 100 * tuf_patch / archive,
            "publish_s": med(tuf_pub, "seconds"),
            "publish_mb": med(tuf_pub, "peak_mb"),
            "apply_s": med(tuf_apply, "seconds"),
            "apply_mb": med(tuf_apply, "peak_mb"),
            "apply_10mbit_s": med(tuf_apply, "seconds") + tuf_patch / LINK,
            "n": bsdiff_repeat,
        }
    return {
        "name": name,
        "bundle_mb": tree_size(v2) / 1e6,
        "tar_mb": int(expected[0]) / 1e6,
        "archive_mb": archive / 1e6,
        "ours": {
            "patch_kb": ours_patch / 1e3,
            "patch_pct": 100 * ours_patch / archive,
            "publish_s": med(ours_pub, "seconds"),
            "publish_mb": med(ours_pub, "peak_mb"),
            "apply_s": med(ours_apply, "seconds"),
            "apply_mb": med(ours_apply, "peak_mb"),
            "apply_10mbit_s": med(ours_apply, "seconds") + ours_patch / LINK,
            "n": repeat,
        },
        "tufup": tufup,
    }


def table(results: list[dict]) -> str:
    lines = [
        "| release | bundle MB | archive MB | what | patch KB (% of archive) | publish s / peak MB "
        "| apply s / peak MB | apply + 10 Mbit/s s | runs |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        for who, label in (
            ("ours", "e-secure (zstd, no re-gzip)"),
            ("tufup", "tufup defaults (bsdiff, gzip -9)"),
        ):
            m = r[who]
            if m is None:  # --bsdiff-repeat 0: ours only
                continue
            lines.append(
                f"| {r['name']} | {r['bundle_mb']:.1f} | {r['archive_mb']:.1f} | {label} | "
                f"{m['patch_kb']:.1f} ({m['patch_pct']:.2f} %) | {m['publish_s']:.2f} / "
                f"{m['publish_mb']:.0f} | {m['apply_s']:.2f} / {m['apply_mb']:.0f} | "
                f"{m['apply_10mbit_s']:.2f} | {m['n']} |"
            )
        o, t = r["ours"], r["tufup"]
        if t is None:
            continue
        lines.append(
            f"| {r['name']} | | | ratio tufup / ours | {t['patch_kb'] / o['patch_kb']:.2f}x | "
            f"{t['publish_s'] / o['publish_s']:.1f}x / {t['publish_mb'] / o['publish_mb']:.1f}x | "
            f"{t['apply_s'] / o['apply_s']:.1f}x / {t['apply_mb'] / o['apply_mb']:.1f}x | "
            f"{t['apply_10mbit_s'] / o['apply_10mbit_s']:.1f}x | |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--bsdiff-repeat", type=int, default=1, help="0: ours only")
    parser.add_argument("--no-firefox", action="store_true")
    parser.add_argument("--child", nargs="+")
    args = parser.parse_args()
    if args.child:
        name, *rest = args.child
        print(json.dumps(CHILDREN[name](*rest)))
        return
    results = []
    with tempfile.TemporaryDirectory(prefix="esecure-bench-") as tmp:
        work = Path(tmp)
        v1 = make_launcher_root(work / "launcher-v1", "1")
        minor_release(v1, work / "launcher-v2", "2")
        results.append(
            scenario("launcher", v1, work / "launcher-v2", work, args.repeat, args.bsdiff_repeat)
        )
        if not args.no_firefox and Path("/usr/lib/firefox-esr").is_dir():
            f1 = work / "firefox-v1"
            shutil.copytree(v1, f1)
            add_firefox(f1)
            f2 = work / "firefox-v2"
            shutil.copytree(f1, f2)
            change_omni(f2)
            results.append(
                scenario(
                    "firefox ESR (omni.ja changed)", f1, f2, work, args.repeat, args.bsdiff_repeat
                )
            )
    print(table(results))
    print(json.dumps(results, indent=1), file=sys.stderr)


if __name__ == "__main__":
    main()
