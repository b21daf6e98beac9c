"""`esecure build`: a key project in, ``cdrom.iso`` + ``data.img`` + ``build-report.json`` out.

The steps, each timed in the report: check the project, freeze the launcher (or take
frozen launcher directories), lay out the release's components (``app/`` with
product.json, ``lib/<p>/``, ``firefox/<p>/`` with its policies, ``profile/``, ``trust/``),
write the small files (autorun, branding, guide), size the data partition (its budget,
printed; an explicit size below its minimum stops the build here, ES957), sign the
release (each component's file list and the release record, docs/format-1.md) and the
manifest, write the ISO, write the FAT image. The image carries the platforms of
``[image] platforms``. Outputs are written under temporary names and renamed at the
end: a failed build never leaves a half-written image under a final name.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform as host_platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from esecure import __version__
from esecure._fs import atomic_write, fsync_dir
from esecure._tools import MCOPY, MKFS_FAT, SYSTEM, Runner
from esecure.autorun import AutorunSpec, autorun_inf, freedesktop_autorun
from esecure.bundle import (
    authenticode,
    elfdeps,
    fat,
    firefox,
    freeze,
    iso,
    licences,
    release,
    sbom,
    sizing,
    winfirefox,
    winfreeze,
)
from esecure.bundle.budget import Budget
from esecure.bundle.manifest import (
    MANIFEST_NAME,
    PUBLIC_KEY_PATH,
    SIGNATURE_NAME,
    FileEntry,
    encode_manifest,
    sign_manifest,
)
from esecure.bundle.tree import entries, hash_file, walk_files
from esecure.config import NetworkConfig, Project, locate
from esecure.errors import ConfigError, Problem, StorageError, ToolError, UsageError
from esecure_onkey.components import decode_release
from esecure_onkey.layout import (
    CD_PRODUCT,
    CD_RELEASE,
    contents_dir,
    executable_name,
    platform_name,
)

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

__all__ = [
    "AUTOMATION_WARNING",
    "TUF_ROOT",
    "BuildOptions",
    "BuildResult",
    "assemble_app_root",
    "build_image",
    "plan_launchers",
    "product_json",
    "signing_key",
    "source_date_epoch",
]

TUF_ROOT = Path("repository/metadata/root.json")
Report = Callable[[str], None]


@dataclass(frozen=True)
class BuildOptions:
    """What `esecure build` was asked for."""

    out: Path
    launcher_dirs: Mapping[str, Path] = field(default_factory=dict)
    epoch: int | None = None


@dataclass(frozen=True)
class BuildResult:
    """Where the outputs are, and the report written beside them."""

    cdrom: Path
    data: Path
    report_path: Path
    report: dict[str, Any]


def source_date_epoch(project: Project, environ: Mapping[str, str] | None = None) -> int:
    """SOURCE_DATE_EPOCH, else the modification time of esecure.toml (both reproducible)."""
    env = os.environ if environ is None else environ
    value = env.get("SOURCE_DATE_EPOCH", "").strip()
    if value:
        if not value.isdigit():
            raise UsageError(f"SOURCE_DATE_EPOCH={value!r} is not a whole number of seconds")
        return int(value)
    return int(project.config_path.stat().st_mtime)


def product_json(project: Project) -> bytes:
    """``product.json``: what the launcher reads from the image (pure)."""
    p, u = project.product, project.urls
    doc = {
        "format": 1,
        "id": p.id,
        "name": p.name,
        "bank_name": p.bank_name,
        "portal_name": p.portal_name,
        "launcher_name": p.launcher_name,
        "version": p.version,
        "languages": list(p.languages),
        "default_language": p.default_language,
        "support_phone": p.support_phone,
        "urls": {
            "site": u.site,
            "enrolment": u.enrolment,
            "updates": u.updates,
            "allowed_hosts": list(u.allowed_hosts),
        },
        "colours": {
            "primary": project.branding.primary_colour,
            "secondary": project.branding.secondary_colour,
        },
        "firefox": {"host_policies": project.firefox.host_policies},
        "certificates": {
            "key_algorithm": project.certificates.key_algorithm,
            "validity_days": project.certificates.validity_days,
            "renew_before_days": project.certificates.renew_before_days,
        },
        "updates": {
            "check_timeout_seconds": project.updates.check_timeout_seconds,
            "max_offline_days": project.updates.max_offline_days,
        },
        "data": {"label": project.image.data_label},
    }
    if project.network != NetworkConfig():  # an optional key of format 1: only when set, so
        # an image on the defaults carries the product.json it always did
        doc["network"] = {"proxy": project.network.proxy, "doh": project.network.doh}
    return (json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


class _Steps:
    def __init__(self, report: Report) -> None:
        self.report = report
        self.times: list[dict[str, Any]] = []

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        self.report(f"{name} …")
        start = time.perf_counter()
        yield
        seconds = round(time.perf_counter() - start, 3)
        self.times.append({"step": name, "seconds": seconds})
        self.report(f"{name}: {seconds:.1f} s")


def _percent(report: Report, label: str) -> Callable[[int, int], None]:
    shown = [-1]

    def progress(done: int, total: int) -> None:
        tenth = (done * 10 // total) if total else 10
        if tenth != shown[0]:
            shown[0] = tenth
            report(f"  {label}: {tenth * 10}%")

    return progress


def _check(project_dir: Path) -> Project:
    """The project, its trust material, and what the data size can be checked against
    before anything is built (sizing.source_budget: a lower bound)."""
    from esecure.trust import load_checked_project  # noqa: PLC0415

    project = load_checked_project(project_dir)
    sizing.data_size(project, sizing.source_budget(project), exact=False)
    return project


def plan_launchers(
    project: Project, launcher_dirs: Mapping[str, Path], *, freeze_windows: bool = False
) -> dict[str, Path | None]:
    """Each platform of ``[image] platforms`` and its frozen launcher directory (None: the
    host's, made here; with ``freeze_windows``, Windows too on Linux, under Wine). A
    --launcher-dir outside the plan is ES901; a platform of the plan with no launcher (not
    made here, no --launcher-dir) is ES916 at its config line: the build refuses before
    writing anything (no image without the launcher it plans)."""
    plan = project.image.platforms
    extra = sorted(set(launcher_dirs) - set(plan))
    if extra:
        where, line = locate(project, "image", "platforms")
        listed = ", ".join(f'"{p}"' for p in plan)
        raise ConfigError(
            Problem(
                where,
                "every platform given with --launcher-dir",
                f"[{listed}] without " + ", ".join(f'"{p}"' for p in extra),
                f"add {', '.join(repr(p) for p in extra)} to [image] platforms (and its "
                "[firefox] installation), or leave out "
                + ", ".join(f"--launcher-dir {p}=…" for p in extra),
                line=line,
            )
        )
    host = platform_name()
    out: dict[str, Path | None] = {}
    for plat in plan:
        if plat in launcher_dirs:
            out[plat] = launcher_dirs[plat]
        elif plat == host or (freeze_windows and winfreeze.freezes_here(plat, host)):
            out[plat] = None
        else:
            raise _no_launcher(project, plat, host)
    return out


def _no_launcher(project: Project, plat: str, host: str) -> ConfigError:
    """ES916 for a platform of the plan with no launcher, at the config line that plans it
    (``[image] platforms``, else the ``[firefox]`` installation that implies it)."""
    where, line = locate(project, "image", "platforms")
    drop = f"remove {plat} from [image] platforms"
    if line is None:
        where, line = locate(project, "firefox", plat)
        drop = f'set [firefox] {plat} = "" (the plan then leaves {plat} out)'
    return ConfigError(
        Problem(
            where,
            f"a {plat} launcher for the {plat} the plan carries (this {host} machine can "
            f"freeze only the {host} launcher)",
            f"no --launcher-dir {plat}=DIR",
            f"pass --launcher-dir {plat}=DIR (a launcher frozen on {plat}), or {drop}",
            line=line,
        ),
        code="ES916",
    )


def _firefox_source(project: Project, platform: str) -> Path:
    source = {"linux": project.firefox.linux, "windows": project.firefox.windows}.get(platform)
    if source is None:
        raise ConfigError(
            Problem(
                f"{project.config_path}: [firefox] {platform}",
                f"the Firefox ESR installation for {platform}",
                "nothing",
                f"set [firefox] {platform} to the folder that holds the Firefox program",
            ),
            code="ES910",
        )
    return source


def _check_firefox(project: Project, source: Path, plat: str, scratch: Path) -> None:
    """ES910 when ``source`` holds no Firefox for ``plat``; for Windows, the release
    engineer's Firefox checked against ``[firefox] windows_sha256`` (ES976)."""
    if firefox.firefox_executable(source, plat) is None:
        firefox.copy_firefox(source, scratch / "nowhere", plat)  # raises ES910, names it
    if plat == "windows":
        winfirefox.check_windows_firefox(
            source,
            project.firefox.windows_sha256,
            where=locate(project, "firefox", "windows"),
            pin_where=locate(project, "firefox", "windows_sha256"),
        )


def _tool_versions(runner: Runner) -> dict[str, str]:
    from importlib import metadata  # noqa: PLC0415

    versions = {
        "esecure": __version__,
        "python": sys.version.split()[0],
        "platform": host_platform.platform(),
    }
    for dist in ("pyinstaller", "pycdlib", "cryptography"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[dist] = metadata.version(dist)
    for key, tool, args in (("mkfs.fat", MKFS_FAT, ["--help"]), ("mtools", MCOPY, ["-V"])):
        with contextlib.suppress(ToolError):  # the report says what it could learn
            result = runner.run(
                tool, args, needed_by="the build report", code="ES913", timeout=10, check=False
            )
            first = (result.stdout or result.stderr).strip().splitlines()
            versions[key] = first[0] if first else "unknown"
    return versions


def _stage(
    project: Project,
    options: BuildOptions,
    *,
    stage: Path,
    work: Path,
    steps: _Steps,
    epoch: int,
    runner: Runner,
) -> dict[str, Any]:
    name = project.product.launcher_name
    planned = plan_launchers(project, options.launcher_dirs, freeze_windows=True)
    info: dict[str, Any] = {"platforms": {}}
    # Pre-flight: every input that can be wrong is checked before the long steps start.
    platforms = sorted(planned)
    sources = {plat: _firefox_source(project, plat) for plat in platforms}
    for plat, source in sources.items():
        _check_firefox(project, source, plat, work)
        if plat == "linux":  # ES927 before freezing: every library it needs can be found
            elfdeps.check_libraries(source, image_prefix=f"firefox/{plat}")
    for plat, directory in planned.items():
        if directory is not None:
            freeze.check_launcher_dir(directory, plat, name)
        elif plat != platform_name():
            winfreeze.preflight(runner)  # Wine and osslsigncode, before any step
    iso.plan_iso([f"guide/{p}" for p in _guide_files(project.branding.guide)])
    launchers: dict[str, Path] = {}
    for plat, directory in planned.items():
        if directory is not None:
            launchers[plat] = directory
            continue
        freezer = freeze.freeze_launcher
        if plat != platform_name():
            freezer = winfreeze.freeze_windows_launcher
        with steps.step(f"freeze the {plat} launcher"):
            launchers[plat] = freezer(
                work / f"launcher-{plat}",
                launcher_name=name,
                epoch=epoch,
                log=steps.report,
                runner=runner,
            )
    for plat in platforms:
        directory = launchers[plat]
        freeze.check_launcher_dir(directory, plat, name)
        with steps.step(f"copy the {plat} launcher"):
            exe = executable_name(name, plat)
            shutil.copyfile(directory / exe, stage / exe)
            (stage / exe).chmod(0o755)
            part = contents_dir(plat)
            shutil.copytree(directory / part, stage / part, symlinks=False)
        info["platforms"][plat] = {
            "launcher": executable_name(name, plat),
            "firefox_source": str(sources[plat]),
            "firefox_version": sbom.firefox_version(sources[plat]),
        }
    libs = {plat: launchers[plat] / "lib" / plat for plat in platforms}
    bundles: dict[str, elfdeps.LibraryPlan] = {}
    runtime = _runtime_parts(stage, platforms, name, runner)
    info["updates"] = _lay_out(
        project,
        stage,
        platforms=platforms,
        libs=libs,
        sources=sources,
        steps=steps,
        bundles=bundles,
        runtime=runtime,
        runner=runner,
    )
    _report_libraries(info["platforms"], bundles, stage, steps.report)
    with steps.step("write autorun, branding and guide"):
        info["autorun"] = _small_files(project, stage, steps.report)
    return info


def _lay_out(
    project: Project,
    dest: Path,
    *,
    platforms: list[str],
    libs: Mapping[str, Path],
    sources: Mapping[str, Path],
    steps: _Steps,
    bundles: dict[str, elfdeps.LibraryPlan] | None = None,
    runtime: Sequence[sbom.Part] = (),
    runner: Runner = SYSTEM,
) -> str:
    """The components of a release at their mounts in ``dest``: ``app/`` (this machine's
    esecure, compiled, and product.json), then per platform ``lib/<p>/`` (``libs[p]``
    without e-secure's packages, else assembled from the installed distributions) and
    ``firefox/<p>/`` (a Linux Firefox with its bundled libraries: their plan goes into
    ``bundles``), then ``profile/`` and ``trust/``, then the licence folder
    (``app/licenses/``: texts and SBOM of these and of ``runtime``, the bootstrap's parts).
    Returns what the report says of updates (trust/root.json present or not)."""
    settings = _settings(project)
    parts: list[sbom.Part] = [*runtime]
    with steps.step("assemble app"):
        freeze.assemble_app(dest / "app", progress=steps.report)
        (dest / CD_PRODUCT).write_bytes(product_json(project))
    for plat in platforms:
        with steps.step(f"assemble lib/{plat}"):
            if plat in libs:
                freeze.copy_deps(libs[plat], dest / "lib" / plat, plat)
            else:
                freeze.assemble_lib(dest / "lib" / plat, progress=steps.report)
        copied = _copy_browser(project, plat, sources[plat], dest, settings=settings, steps=steps)
        plan = None
        if plat == "linux":
            with steps.step(f"bundle Firefox's libraries for {plat}"):
                plan = elfdeps.bundle_libraries(
                    dest / "firefox" / plat, image_prefix=f"firefox/{plat}"
                )
            if bundles is not None:
                bundles[plat] = plan
        with steps.step(f"inventory lib/{plat} and firefox/{plat}"):
            parts += sbom.distribution_parts(dest / "lib" / plat, f"lib/{plat}")
            parts.append(sbom.firefox_part(sources[plat], copied, f"firefox/{plat}", runner=runner))
            if plan is not None:  # the bundled libraries: their Debian packages
                origins = {lib.image_path: lib.source for lib in plan.bundled}
                parts += sbom.debian_parts(origins, runner=runner)
    with steps.step("write profile and trust"):
        updates = _profile_and_trust(project, dest, settings, steps.report)
    with steps.step("write the licences and the SBOM"):
        _licence_folder(project, dest, parts)
    return updates


# --- licences and SBOM (esecure.bundle.sbom, esecure.bundle.licences) -----------------------


def _runtime_parts(
    stage: Path, platforms: Sequence[str], name: str, runner: Runner
) -> list[sbom.Part]:
    """The parts of each platform's frozen bootstrap copied onto ``stage``."""
    return [
        part
        for plat in platforms
        for part in sbom.runtime_parts(
            stage, executable_name(name, plat), contents_dir(plat), plat, runner=runner
        )
    ]


def _licence_folder(project: Project, dest: Path, parts: Sequence[sbom.Part]) -> None:
    """``app/licenses/``: e-secure's own package in ``app/`` is a part too."""
    app = dest / "app"
    ours = [f"app/{rel}" for rel in walk_files(app) if not sbom.own_file(f"app/{rel}")]
    licences.write_folder(
        dest,
        [*parts, sbom.esecure_part(ours)],
        product=project.product.id,
        version=project.product.version,
    )


AUTOMATION_WARNING = (
    "[firefox] automation = true: this image's Firefox accepts WebDriver automation when "
    "started with a remote-debugging argument (its developer tools stay locked off). For "
    "test and demo images only: never ship it on a customer's key"
)


def _settings(project: Project) -> firefox.BrowserSettings:
    return firefox.BrowserSettings(
        site=project.urls.site,
        allowed_hosts=project.urls.allowed_hosts,
        automation=project.firefox.automation,
        proxy=project.network.proxy,
        doh=project.network.doh,
    )


def _copy_browser(
    project: Project,
    plat: str,
    source: Path,
    app_root: Path,
    *,
    settings: firefox.BrowserSettings,
    steps: _Steps,
) -> dict[str, Path]:
    """``firefox/<plat>/`` of an application root, with the project's policies and CA.
    Returns the origins of the installation's files (path in ``firefox/<plat>/`` ->
    source)."""
    with steps.step(f"copy Firefox for {plat}"):
        target = app_root / "firefox" / plat
        copied = firefox.copy_firefox(
            source, target, plat, progress=_percent(steps.report, "Firefox")
        )
        dist = target / "distribution"
        dist.mkdir()
        (dist / "policies.json").write_bytes(firefox.policies_json(settings))
        (dist / "certificates").mkdir()
        shutil.copyfile(project.trust.ca_certificate, dist / "certificates" / firefox.CA_FILE_NAME)
    return copied


def _report_libraries(
    platforms: dict[str, Any],
    bundles: Mapping[str, elfdeps.LibraryPlan],
    root: Path,
    report: Report,
) -> None:
    """The build report's word on each Linux platform: the libraries bundled beside Firefox
    (source on this machine, path on the image) and the minimum host of the bootstrap and of
    Firefox (glibc, libstdc++, GTK 3, the host's libraries), also printed."""
    for plat, plan in bundles.items():
        bootstrap = elfdeps.minimum_host(
            [root / contents_dir(plat), root / "lib" / plat, root / "app"]
        )
        browser = elfdeps.minimum_host([root / "firefox" / plat])
        names = ", ".join(b.name for b in plan.bundled) or "none"
        report(f"  Firefox for {plat}: bundled {names} ({plan.bundled_bytes} bytes)")
        for part, need in (("the bootstrap", bootstrap), ("Firefox", browser)):
            gtk = ", GTK 3" if need.gtk3 else ""
            report(f"  minimum host for {part}: glibc {need.glibc}{gtk}")
        entry = platforms.setdefault(plat, {})
        entry["libraries"] = {
            "bundled": [b.as_dict() for b in plan.bundled],
            "bundled_bytes": plan.bundled_bytes,
            "from_host": {family: list(names) for family, names in plan.host.items()},
        }
        entry["minimum_host"] = {"bootstrap": bootstrap.as_dict(), "firefox": browser.as_dict()}


def assemble_app_root(
    project: Project,
    dest: Path,
    *,
    launcher_dirs: Mapping[str, Path] | None = None,
    report: Report = lambda _m: None,
) -> dict[str, Any]:
    """An application root in ``dest`` (which must not exist): the release's components at
    their mounts, laid out by the same code as the CD-ROM's — ``app/`` (esecure compiled,
    product.json), ``lib/<p>/``, ``firefox/<p>/``, ``profile/user.js``, ``trust/``.

    The platforms are ``[image] platforms`` (:func:`plan_launchers`). The host platform's
    lib/ is assembled from the installed distributions exactly as
    :func:`freeze.freeze_launcher` does (no bootstrap is frozen: a release holds none);
    other platforms' lib/ come from ``launcher_dirs`` (without e-secure's packages). No
    list or record is written: :func:`esecure.bundle.release.release_files` derives them
    for the version being published. Returns what the build report says of it, with the
    names of its components.
    """
    steps = _Steps(report)
    launchers = plan_launchers(project, launcher_dirs or {})
    platforms = sorted(launchers)
    sources = {plat: _firefox_source(project, plat) for plat in platforms}
    for plat, source in sources.items():
        _check_firefox(project, source, plat, dest)
    for plat, directory in launchers.items():
        if directory is not None:
            freeze.check_launcher_dir(directory, plat, project.product.launcher_name)
    dest.mkdir(parents=True)
    libs = {
        plat: directory / "lib" / plat
        for plat, directory in launchers.items()
        if directory is not None
    }
    bundles: dict[str, elfdeps.LibraryPlan] = {}
    updates = _lay_out(
        project,
        dest,
        platforms=platforms,
        libs=libs,
        sources=sources,
        steps=steps,
        bundles=bundles,
    )
    libraries: dict[str, Any] = {}
    _report_libraries(libraries, bundles, dest, report)
    return {
        "platforms": platforms,
        "components": release.image_components(platforms),
        "updates": updates,
        "libraries": libraries,
        "steps": steps.times,
    }


def _guide_files(guide: Path) -> list[str]:
    """The guide's files relative to its folder: a guide inside a folder named ``guide``
    brings that whole folder (pages, images), any other guide only itself."""
    if guide.parent.name == "guide":
        return walk_files(guide.parent)
    return [guide.name]


def _small_files(project: Project, stage: Path, report: Report) -> list[str]:
    """autorun, the drive icon, branding/ and guide/: the CD-ROM's files outside the
    release (never updated). Each autorun file is written only when the launcher it names
    is on ``stage`` already: an image without the Windows launcher gets no autorun.inf
    (and a warning saying how to get one), nor the drive icon only autorun.inf names.
    Returns the autorun files written."""
    name = project.product.launcher_name
    icon = f"{name}.ico"
    spec = AutorunSpec(
        launcher=executable_name(name, "windows"),
        icon=icon,
        label=f"{project.product.bank_name} {project.product.name}",
        action=f"{project.product.portal_name}: {project.product.name}",
        linux_launcher=executable_name(name, "linux"),
    )
    written = []
    if (stage / spec.launcher).is_file():
        shutil.copyfile(project.branding.icon_ico, stage / icon)
        (stage / "autorun.inf").write_bytes(autorun_inf(spec))
        written.append("autorun.inf")
    else:
        report(f"warning: {_no_autorun_inf(spec.launcher)}")
    if (stage / spec.linux_launcher).is_file():
        (stage / "autorun.sh").write_bytes(freedesktop_autorun(spec))
        (stage / "autorun.sh").chmod(0o755)
        written.append("autorun.sh")
    (stage / "branding").mkdir()
    shutil.copyfile(project.branding.icon_png, stage / "branding" / "icon.png")
    shutil.copyfile(project.branding.logo, stage / "branding" / "logo.png")
    guide = project.branding.guide
    for rel in _guide_files(guide):
        target = stage / "guide" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(guide.parent / rel, target)
    return written


def _no_autorun_inf(launcher: str) -> str:
    """Why an image has no autorun.inf, and how to get one."""
    return (
        f"no autorun.inf: this image holds no Windows launcher ({launcher}), so Windows "
        'would have nothing to start on insertion. For one, add "windows" to [image] '
        "platforms and pass --launcher-dir windows=DIR (a launcher frozen on Windows)"
    )


def _profile_and_trust(
    project: Project, stage: Path, settings: firefox.BrowserSettings, report: Report
) -> str:
    """profile/user.js and trust/ of an application root."""
    (stage / "profile").mkdir()
    (stage / "profile" / "user.js").write_bytes(firefox.user_js(settings))
    if settings.automation:
        report(f"warning: {AUTOMATION_WARNING}")
    trust = stage / "trust"
    trust.mkdir()
    shutil.copyfile(project.trust.ca_certificate, trust / "ca.pem")
    shutil.copyfile(project.trust.image_signing_public_key, stage / PUBLIC_KEY_PATH)
    root = project.root / TUF_ROOT
    if root.is_file():
        shutil.copyfile(root, trust / "root.json")
        updates = "trust/root.json from repository/metadata/root.json"
    else:
        updates = (
            f"NO TUF root ({root} is missing): this image will not update. Run "
            "`esecure keys init` in the project, then build again"
        )
        report(f"warning: {updates}")
    return updates


def signing_key(project: Project, passphrase: Any) -> Ed25519PrivateKey:  # noqa: ANN401 - see build_image
    """The project's image-signing key (it signs the manifest and the key registry)."""
    from cryptography.hazmat.primitives.asymmetric import ed25519  # noqa: PLC0415

    from esecure.trust import load_private_key  # noqa: PLC0415

    key = load_private_key(project.trust.image_signing_key, passphrase)
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise ConfigError(
            Problem(
                str(project.trust.image_signing_key),
                "an Ed25519 key",
                type(key).__name__,
                "regenerate it",
            )
        )
    return key


def _sign(
    project: Project,
    stage: Path,
    platforms: list[str],
    passphrase: Any,  # noqa: ANN401 - see build_image
) -> tuple[list[FileEntry], dict[str, str]]:
    """Sign the release (each component's list, the release record) and the manifest of
    every file, hashing each file of the image once. Returns the manifest's entries and
    the release's component ids."""
    key = signing_key(project, passphrase)
    files = entries(stage, walk_files(stage))
    extra = release.release_files(
        project.product.id,
        project.product.version,
        files,
        platforms,
        lambda data: sign_manifest(data, key),
    )
    for rel, content in extra.items():
        (stage / rel).parent.mkdir(parents=True, exist_ok=True)
        (stage / rel).write_bytes(content)
    files = sorted([*files, *release.entries_of(extra)], key=lambda f: f.path)
    data = encode_manifest(project.product.id, project.product.version, files)
    (stage / MANIFEST_NAME).write_bytes(data)
    (stage / SIGNATURE_NAME).write_bytes(sign_manifest(data, key))
    return files, decode_release(extra[CD_RELEASE]).components


def _data_partition(project: Project, size_mib: int, budget: Budget) -> dict[str, Any]:
    """What the report says of data.img's size: its source and the budget behind it."""
    given = project.image.data_size_mib is not None
    return {
        "size_mib": size_mib,
        "from": "[image] data_size_mib" if given else "the plan's budget",
        "budget": budget.as_dict(),
    }


def _output(path: Path) -> dict[str, Any]:
    return {"size": path.stat().st_size, "sha256": hash_file(path)}


def build_image(
    project_dir: Path,
    options: BuildOptions,
    *,
    passphrase: Any = None,  # noqa: ANN401 - the Callable[[], Passphrase] of trust.load_private_key
    report: Report = lambda _m: None,
    runner: Runner = SYSTEM,
) -> BuildResult:
    """Build the key image of ``project_dir`` into ``options.out``; ``runner`` starts the
    outside tools (PyInstaller, mkfs.fat, mtools)."""
    steps = _Steps(report)
    with steps.step("check the project"):
        project = _check(project_dir)
    epoch = options.epoch if options.epoch is not None else source_date_epoch(project)
    out = options.out
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot create {out}: {exc.strerror}") from exc
    cdrom, data = out / "cdrom.iso", out / "data.img"
    for stale in out.glob(".esecure-build-*"):  # left by a killed build: never an output
        shutil.rmtree(stale, ignore_errors=True)
    try:
        with tempfile.TemporaryDirectory(prefix=".esecure-build-", dir=out) as tmp:
            stage, work = Path(tmp) / "cd", Path(tmp) / "work"
            stage.mkdir()
            work.mkdir()
            info = _stage(
                project, options, stage=stage, work=work, steps=steps, epoch=epoch, runner=runner
            )
            if (stage / executable_name(project.product.launcher_name, "windows")).is_file():
                with steps.step("sign the Windows launcher (Authenticode)"):
                    info["authenticode"] = authenticode.sign_launcher(
                        project,
                        stage,
                        epoch=epoch,
                        passphrase=passphrase,
                        runner=runner,
                        report=report,
                    )
            with steps.step("size the data partition"):
                budget = sizing.root_budget(stage, project.image.platforms)
                for line in budget.lines():
                    report(line)
                size_mib = sizing.data_size(project, budget)  # ES957 before anything is written
            with steps.step("sign the release and the manifest"):
                files, components = _sign(project, stage, sorted(info["platforms"]), passphrase)
            with steps.step("write cdrom.iso"):
                paths = walk_files(stage)
                executables = frozenset(p for p in paths if (stage / p).stat().st_mode & 0o100)
                plan = iso.plan_iso(paths, executables)
                tmp_iso = Path(tmp) / "cdrom.iso"
                iso.write_iso(
                    stage,
                    tmp_iso,
                    plan,
                    volume_label=project.image.volume_label,
                    epoch=epoch,
                    progress=_percent(report, "ISO"),
                )
            with steps.step("write data.img"):
                tmp_data = Path(tmp) / "data.img"
                fat.write_fat(
                    tmp_data,
                    label=project.image.data_label,
                    size_mib=size_mib,
                    epoch=epoch,
                    runner=runner,
                )
            outputs = {"cdrom.iso": _output(tmp_iso), "data.img": _output(tmp_data)}
            for src in (tmp_iso, tmp_data):
                with Path(src).open("rb+") as handle:
                    os.fsync(handle.fileno())
            tmp_iso.replace(cdrom)
            tmp_data.replace(data)
            fsync_dir(out)
    except OSError as exc:  # disk full, permissions: name the file, leave no image behind
        where = exc.filename or out
        raise StorageError(f"cannot write {where}: {exc.strerror or exc}") from exc
    doc = {
        "format": 1,
        "product": project.product.id,
        "version": project.product.version,
        "source_date_epoch": epoch,
        "volume_label": project.image.volume_label,
        "data_label": project.image.data_label,
        "outputs": outputs,
        "data_partition": _data_partition(project, size_mib, budget),
        "tools": _tool_versions(runner),
        "steps": steps.times,
        **info,
        "components": components,
        "files": [{"path": f.path, "size": f.size, "sha256": f.sha256} for f in files],
    }
    report_path = out / "build-report.json"
    atomic_write(report_path, (json.dumps(doc, indent=2) + "\n").encode())
    return BuildResult(cdrom=cdrom, data=data, report_path=report_path, report=doc)
