"""`esecure keys`, `esecure publish`, `esecure repo`: the release engineer's update commands."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import click

__all__ = ["keys", "publish", "repo"]

_PROJECT = click.argument("project", type=click.Path(path_type=Path, file_okay=False))


def _say(message: str) -> None:
    click.echo(message, err=True)


def _secret(product_id: str, *, confirm: bool) -> Callable[[], bytes]:
    """Keyring, then ESECURE_PASSPHRASE, then a prompt on a terminal; says which it used."""
    cache: list[bytes] = []

    def ask() -> bytes:
        if cache:
            return cache[0]
        from esecure.trust import get_passphrase  # noqa: PLC0415

        prompt = None
        if sys.stdin.isatty():

            def prompt(text: str) -> str:
                value: str = click.prompt(text, hide_input=True, confirmation_prompt=confirm)
                return value

        phrase = get_passphrase(product_id, prompt=prompt)
        _say(f"passphrase: from {phrase.source}")
        cache.append(phrase.value)
        return phrase.value

    return ask


@click.group()
def keys() -> None:
    """TUF signing keys of a key project (root, targets, snapshot, timestamp)."""


@keys.command("init")
@_PROJECT
def keys_init(project: Path) -> None:
    """Make the TUF keys and publish root v1 into PROJECT/repository/metadata/."""
    from esecure.config import load_project  # noqa: PLC0415
    from esecure.updater.publish import init_keys  # noqa: PLC0415

    p = load_project(project)
    init_keys(p, say=_say, secret=_secret(p.product.id, confirm=True))


@keys.command("rotate")
@_PROJECT
@click.argument("role", type=click.Choice(["root", "targets", "snapshot", "timestamp"]))
@click.option("--key", help="Which key of ROLE to replace (default: its first).")
def keys_rotate(project: Path, role: str, key: str | None) -> None:
    """Replace a key of ROLE and publish the new root, signed by the old and new keys."""
    from esecure.config import load_project  # noqa: PLC0415
    from esecure.updater.publish import rotate_key  # noqa: PLC0415

    p = load_project(project)
    rotate_key(p, role, key=key, say=_say, secret=_secret(p.product.id, confirm=False))


@click.command()
@_PROJECT
@click.option("--version", "version", required=True, help="The release's version, e.g. 1.4.0.")
@click.option(
    "--bundle",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    help="An application root (app/ with product.json, lib/<platform>/, firefox/<platform>/, "
    "profile/, trust/). "
    "Default: the one `esecure build` lays out from PROJECT.",
)
@click.option(
    "--launcher-dir",
    "launcher_dirs",
    multiple=True,
    metavar="PLATFORM=DIR",
    help="Without --bundle: lib/PLATFORM/ of a launcher frozen elsewhere (as for "
    "`esecure build`). Repeatable.",
)
@click.option("--required", is_flag=True, help="A security fix: clients apply it without 'later'.")
def publish(
    project: Path, version: str, bundle: Path | None, launcher_dirs: tuple[str, ...], required: bool
) -> None:
    """Publish a release: each changed component (archive + per-file patch), signed."""
    import tempfile  # noqa: PLC0415

    from esecure.config import load_project  # noqa: PLC0415
    from esecure.updater.publish import build_app_root  # noqa: PLC0415
    from esecure.updater.publish import publish as do_publish  # noqa: PLC0415

    p = load_project(project)
    secret = _secret(p.product.id, confirm=False)
    if bundle is not None:
        if launcher_dirs:
            raise click.UsageError("--launcher-dir applies only without --bundle")
        do_publish(p, version, bundle, required=required, say=_say, secret=secret)
    else:
        from esecure.bundle.freeze import parse_launcher_dir  # noqa: PLC0415

        dirs = dict(parse_launcher_dir(v) for v in launcher_dirs)
        if p.product.version != version:
            _say(
                f"note: product.json will say version {p.product.version} ([product] version "
                f"in esecure.toml) while the release is {version}"
            )
        with tempfile.TemporaryDirectory(prefix="esecure-publish-") as tmp:
            root = build_app_root(p, Path(tmp) / "app", launcher_dirs=dirs, say=_say)
            do_publish(p, version, root, required=required, say=_say, secret=secret)
    click.echo(f"published {p.product.id} {version}: upload {project / 'repository'} as is")


@click.group()
def repo() -> None:
    """The project's TUF repository (static files in PROJECT/repository/)."""


@repo.command("status")
@_PROJECT
def repo_status(project: Path) -> None:
    """Show every role's version and expiry, and the published releases."""
    import datetime as dt  # noqa: PLC0415

    from esecure.config import load_project  # noqa: PLC0415
    from esecure.updater.publish import status  # noqa: PLC0415

    st = status(load_project(project))
    now = dt.datetime.now(dt.UTC)
    for r in st.roles:
        left = r.expires - now
        flag = (
            "EXPIRED" if left.total_seconds() < 0 else f"in {left.days} d {left.seconds // 3600} h"
        )
        click.echo(f"{r.role:<10} v{r.version:<4} expires {r.expires:%Y-%m-%d %H:%M} UTC ({flag})")
    for version, required in st.releases:
        click.echo(f"release {version}{' (required)' if required else ''}")
    if not st.releases:
        click.echo("no release published yet")


@repo.command("refresh")
@_PROJECT
@click.option(
    "--role",
    "roles",
    multiple=True,
    type=click.Choice(["root", "targets", "snapshot", "timestamp"]),
    help="Re-sign this role (repeatable); default: the timestamp and every role past half "
    "of its lifetime.",
)
def repo_refresh(project: Path, roles: tuple[str, ...]) -> None:
    """Re-sign what is about to expire: the job to schedule (the timestamp expires daily)."""
    from esecure.config import load_project  # noqa: PLC0415
    from esecure.updater.publish import refresh  # noqa: PLC0415

    p = load_project(project)
    done = refresh(
        p,
        roles=list(roles) or None,
        say=_say,
        secret=_secret(p.product.id, confirm=False),
    )
    click.echo(f"re-signed: {', '.join(done) or 'nothing was due'}")
