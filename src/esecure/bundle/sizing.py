"""The data partition's size for a project: the budget (:mod:`esecure.bundle.budget`) over
files sized on disk, and the refusal of an explicit ``[image] data_size_mib`` below its
minimum (ES957, exit 2).

* `esecure build` sizes the application root it assembled, before it signs or writes any
  image: :func:`root_budget`, then :func:`data_size`.
* `esecure check` cannot size ``lib/<platform>/`` (the ``app`` and ``deps-<platform>``
  components) without assembling it — the host's is compiled by the build, the others
  come from ``--launcher-dir`` — so it sizes what it can read as it is: each platform's
  Firefox (its ``[firefox]`` folder, as the build copies it, plus the policies and CA the
  build adds), ``profile/``, ``trust/`` and ``product.json`` (:func:`source_budget`). Its
  minimum is a lower bound: a size below it is refused at once, and the build checks the
  exact minimum.
"""

from __future__ import annotations

from pathlib import Path

from esecure.bundle import firefox
from esecure.bundle.budget import Budget, component_sizes, plan_budget
from esecure.bundle.manifest import PUBLIC_KEY_PATH
from esecure.bundle.tree import walk_files
from esecure.config import Project, locate
from esecure.errors import ConfigError, Problem
from esecure_onkey.layout import CD_PRODUCT

__all__ = ["data_size", "root_budget", "source_budget"]


def root_budget(app_root: Path, platforms: tuple[str, ...]) -> Budget:
    """The budget of an application root on disk (a CD-ROM stage or a release)."""
    files = [(rel, (app_root / rel).stat().st_size) for rel in walk_files(app_root)]
    return plan_budget(component_sizes(files), platforms)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:  # a missing file is the build's to report; it costs nothing here
        return 0


def source_budget(project: Project) -> Budget:
    """A lower bound of the build's budget, from what can be sized without assembling."""
    from esecure.bundle.build import TUF_ROOT, product_json  # noqa: PLC0415 - build imports us

    settings = firefox.BrowserSettings(
        site=project.urls.site,
        allowed_hosts=project.urls.allowed_hosts,
        automation=project.firefox.automation,
    )
    ca = _size(project.trust.ca_certificate)
    files: list[tuple[str, int]] = [
        (CD_PRODUCT, len(product_json(project))),
        ("profile/user.js", len(firefox.user_js(settings))),
        ("trust/ca.pem", ca),
        (PUBLIC_KEY_PATH, _size(project.trust.image_signing_public_key)),
    ]
    if (project.root / TUF_ROOT).is_file():
        files.append(("trust/root.json", _size(project.root / TUF_ROOT)))
    sources = {"linux": project.firefox.linux, "windows": project.firefox.windows}
    for plat in project.image.platforms:
        source = sources.get(plat)
        if source is None or not source.is_dir():
            continue
        base = f"firefox/{plat}"
        files.extend(
            (f"{base}/{f.relative_to(source).as_posix()}", _size(f))
            for f in firefox.installation_files(source, plat)
        )
        files.append((f"{base}/distribution/policies.json", len(firefox.policies_json(settings))))
        files.append((f"{base}/distribution/certificates/{firefox.CA_FILE_NAME}", ca))
    return plan_budget(component_sizes(files), project.image.platforms)


def data_size(project: Project, budget: Budget, *, exact: bool = True) -> int:
    """The data partition's size in MiB: ``[image] data_size_mib``, else the budget's
    minimum. An explicit size below the minimum is ES957 with both numbers and the fix;
    ``exact`` False says the minimum is `esecure check`'s lower bound."""
    size = project.image.data_size_mib
    if size is None:
        return budget.minimum_mib
    if size < budget.minimum_mib:
        where, line = locate(project, "image", "data_size_mib")
        scope = (
            "the minimum of this plan's data partition budget"
            if exact
            else "this plan's minimum before lib/ is counted; `esecure build` adds it and "
            "checks again"
        )
        raise ConfigError(
            Problem(
                where,
                f"at least {budget.minimum_mib} MiB, {scope}",
                f"{size} MiB",
                "remove data_size_mib so that `esecure build` sizes the data partition from "
                f"the plan, or set it to at least {budget.minimum_mib}",
                line=line,
            ),
            code="ES957",
        )
    return size
