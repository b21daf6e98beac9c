"""`esecure serve` and `esecure admin …`: the reference server and its registry."""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:  # imported lazily at run time: `esecure --help` stays fast
    from esecure.config import Project
    from esecure.server.registry import Registry
    from esecure.trust import Passphrase

__all__ = ["admin", "serve"]


def _passphrase(product_id: str) -> Callable[[], Passphrase]:
    """Asked once, then reused for the CA key and the TLS key."""
    got: list[Passphrase] = []

    def ask() -> Passphrase:
        if got:
            return got[0]
        from esecure.trust import get_passphrase  # noqa: PLC0415

        prompt = None
        if sys.stdin.isatty():

            def prompt(text: str) -> str:
                value: str = click.prompt(text, hide_input=True)
                return value

        phrase = get_passphrase(product_id, prompt=prompt)
        click.echo(f"  passphrase: from {phrase.source}", err=True)
        got.append(phrase)
        return phrase

    return ask


def _ip_address(value: str | None) -> str | None:
    import ipaddress  # noqa: PLC0415

    if value is None:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an IP address (e.g. 127.0.0.1)", param_hint="--trusted-proxy"
        ) from None


_PROJECT = click.argument("project", type=click.Path(path_type=Path), default=".")
_DB = click.option(
    "--db",
    "db_url",
    default=None,
    help=(
        "Registry database URL: sqlite:///PATH (default: sqlite:///PROJECT/server/"
        "registry.db) or postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE (tables "
        "created on first connect; password better in PGPASSWORD or ~/.pgpass)."
    ),
)


_Decorator = Callable[[Callable[..., None]], Callable[..., None]]


def _seconds(name: str, default: float, what: str) -> _Decorator:
    return click.option(
        name,
        type=click.FloatRange(min=0.1, max=3600),
        default=default,
        show_default=True,
        help=what,
    )


@click.command()
@_PROJECT
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8443, show_default=True, help="0: any."
)
@_DB
@click.option(
    "--trusted-proxy",
    default=None,
    callback=lambda _ctx, _param, value: _ip_address(value),
    help="Address of the reverse proxy whose X-SSL-Client-Cert header is trusted.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Server processes sharing the port (SO_REUSEPORT; Linux).",
)
@_seconds("--header-timeout", 10, "Seconds a client has to send a request's headers.")
@_seconds("--body-timeout", 30, "Seconds a client has to send a request's body.")
@_seconds("--idle-timeout", 15, "Seconds an open connection may wait for a request.")
@_seconds("--tls-handshake-timeout", 10, "Seconds a client has to finish its TLS handshake.")
@click.option(
    "--max-connections",
    type=click.IntRange(1, 1_000_000),
    default=1000,
    show_default=True,
    help="Open connections per process; past it, a 503 then close (lowered to fit the "
    "open-files limit).",
)
@click.option("--demo", is_flag=True, help="Add the demo customers, codes and accounts first.")
def serve(  # noqa: PLR0917 - click passes every option by position
    project: Path,
    host: str,
    port: int,
    db_url: str | None,
    trusted_proxy: str | None,
    workers: int,
    header_timeout: float,
    body_timeout: float,
    idle_timeout: float,
    tls_handshake_timeout: float,
    max_connections: int,
    demo: bool,
) -> None:
    """Start the reference server for PROJECT: EST enrolment with the project's CA and
    its update repository (PROJECT/repository under the path of [urls] updates).

    Prints the URLs it serves and the CA file clients must trust; stops cleanly on
    Ctrl-C or SIGTERM. Every client is bounded in time (TLS handshake, headers, body,
    idle) and in number (--max-connections); docs/architecture.md, "The reference
    server", says how.

    The registry is SQLite (PROJECT/server/registry.db) unless --db names another file or
    a PostgreSQL database; its first connection creates the tables, later ones migrate
    them.
    """
    from esecure.config import load_project  # noqa: PLC0415 - lazy: fast --help
    from esecure.server.http import Limits  # noqa: PLC0415
    from esecure.server.http.logs import install  # noqa: PLC0415
    from esecure.server.serve import Running, ServeOptions, serve_forever  # noqa: PLC0415

    root = click.get_current_context().find_root().obj
    verbose = bool(getattr(root, "verbose", False))
    install(verbose=verbose)
    loaded = load_project(project)
    if demo:
        _seed_demo(loaded, db_url)

    def announce(running: Running) -> None:
        click.echo(f"Listening on {running.url}")
        click.echo(f"  EST enrolment:     {running.est_url}")
        click.echo(f"  portal:            {running.url}")
        click.echo(f"  update repository: {running.updates_url}")
        click.echo(f"  CA file clients must trust: {running.ca_file}")
        click.echo(f"  at most {running.max_connections} connections per process")
        if not (loaded.root / "repository").is_dir():
            click.echo("  note: no repository yet (`esecure keys init`, then `esecure publish`)")
        sys.stdout.flush()

    limits = Limits(
        header_timeout=header_timeout,
        body_timeout=body_timeout,
        idle_timeout=idle_timeout,
        tls_handshake_timeout=tls_handshake_timeout,
        max_connections=max_connections,
    )
    options = ServeOptions(
        host=host,
        port=port,
        db_url=db_url,
        trusted_proxy=trusted_proxy,
        workers=workers,
        limits=limits,
        verbose=verbose,
    )
    serve_forever(loaded, options, passphrase=_passphrase(loaded.product.id), announce=announce)
    click.echo("Stopped.", err=True)


def _seed_demo(project: Project, db_url: str | None) -> None:
    from esecure.server.portal.demo import seed  # noqa: PLC0415
    from esecure.server.registry import Registry  # noqa: PLC0415
    from esecure.server.serve import default_db_url  # noqa: PLC0415

    registry = Registry.open(db_url or default_db_url(project))
    try:
        for line in seed(registry, project):
            click.echo(f"demo: {line}", err=True)
    finally:
        registry.close()


class _Admin:
    def __init__(self, project: Path, db_url: str | None) -> None:
        self.project = project
        self.db_url = db_url

    def registry(self) -> Registry:
        from esecure.server.registry import Registry  # noqa: PLC0415

        url = self.db_url
        if url is None:
            from esecure.config import load_project  # noqa: PLC0415
            from esecure.server.serve import default_db_url  # noqa: PLC0415

            url = default_db_url(load_project(self.project))
        registry = Registry.open(url)
        # Closed when the command ends (a PostgreSQL connection is not left to the GC).
        click.get_current_context().call_on_close(registry.close)
        return registry

    def bank_name(self) -> str:
        from esecure.config import load_project  # noqa: PLC0415
        from esecure.errors import ConfigError  # noqa: PLC0415

        try:
            return load_project(self.project).product.bank_name
        except ConfigError:
            return "Your bank"

    def loaded(self) -> Project:
        from esecure.config import load_project  # noqa: PLC0415

        return load_project(self.project)


@click.group()
@click.option(
    "-p",
    "--project",
    type=click.Path(path_type=Path),
    default=".",
    show_default=True,
    help="The key project (its server/registry.db is the default registry).",
)
@_DB
@click.pass_context
def admin(ctx: click.Context, project: Path, db_url: str | None) -> None:
    """Manage the registry: users, key serials, activation codes, lost keys, portal access."""
    ctx.obj = _Admin(project, db_url)


_pass_admin = click.make_pass_decorator(_Admin)


@admin.command("add-user")
@click.argument("identifier")
@_pass_admin
def add_user(state: _Admin, identifier: str) -> None:
    """Add the customer IDENTIFIER."""
    from esecure.server import admin as ops  # noqa: PLC0415

    ops.add_user(state.registry(), identifier, time.time())
    click.echo(f"Added user {identifier}.")


@admin.command("disable-user")
@click.argument("identifier")
@_pass_admin
def disable_user(state: _Admin, identifier: str) -> None:
    """Disable the customer IDENTIFIER: no enrolment until enabled again."""
    from esecure.server import admin as ops  # noqa: PLC0415

    ops.set_user_state(state.registry(), identifier, active=False)
    click.echo(f"User {identifier} disabled.")


@admin.command("enable-user")
@click.argument("identifier")
@_pass_admin
def enable_user(state: _Admin, identifier: str) -> None:
    """Enable the customer IDENTIFIER again."""
    from esecure.server import admin as ops  # noqa: PLC0415

    ops.set_user_state(state.registry(), identifier, active=True)
    click.echo(f"User {identifier} enabled.")


@admin.command("import-keys")
@click.argument("registry_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--public-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The image-signing public key (PEM) that signed the file (default: the "
    "project's [trust] image_signing_public_key).",
)
@_pass_admin
def import_keys(state: _Admin, registry_file: Path, public_key: Path | None) -> None:
    """Import the signed personalisation registry REGISTRY_FILE (CSV or JSON of serials,
    with REGISTRY_FILE.sig beside it): all of it, or nothing when one line is wrong."""
    from esecure.server import admin as ops  # noqa: PLC0415

    project = state.loaded()
    key_path = public_key or project.trust.image_signing_public_key
    try:
        pem = key_path.read_bytes()
    except OSError as exc:
        from esecure.errors import IntegrityError  # noqa: PLC0415

        raise IntegrityError(
            f"cannot read the image-signing public key {key_path}: {exc.strerror}; give "
            "--public-key PEM",
            code="ES938",
        ) from None
    added, known = ops.import_keys(
        state.registry(), registry_file, product=project.product.id, public_key_pem=pem
    )
    click.echo(f"Imported {added} new key serials ({known} already known).")


@admin.command()
@click.argument("serial")
@click.argument("identifier")
@_pass_admin
def assign(state: _Admin, serial: str, identifier: str) -> None:
    """Hand the key SERIAL to the customer IDENTIFIER."""
    from esecure.server import admin as ops  # noqa: PLC0415

    ops.assign(state.registry(), serial, identifier)
    click.echo(f"Key {serial} is bound to {identifier}.")


@admin.command("issue-code")
@click.argument("identifier")
@click.option(
    "--hours",
    type=click.IntRange(1, 2160),
    default=72,
    show_default=True,
    help="How long the code is valid.",
)
@_pass_admin
def issue_code(state: _Admin, identifier: str, hours: int) -> None:
    """Issue a single-use activation code for IDENTIFIER and print the letter to mail."""
    from esecure.server import admin as ops  # noqa: PLC0415

    issued = ops.issue_code(state.registry(), identifier, time.time(), hours)
    click.echo(issued.letter(state.bank_name()), nl=False)


@admin.command()
@click.argument("serial")
@click.option("--replacement", default=None, help="Serial of the key handed out instead.")
@_pass_admin
def lost(state: _Admin, serial: str, replacement: str | None) -> None:
    """Report the key SERIAL lost: block it, revoke its certificates, bind a replacement."""
    from esecure.server import admin as ops  # noqa: PLC0415

    report = ops.report_lost(state.registry(), serial, time.time(), replacement)
    click.echo(f"Key {serial} blocked; {report.revoked} certificate(s) revoked.")
    if replacement:
        click.echo(f"Replacement key {replacement} bound to the same customer.")


@admin.command()
@click.argument("identifier")
@_pass_admin
def unlock(state: _Admin, identifier: str) -> None:
    """Unlock IDENTIFIER's portal access after three wrong secret codes (audited)."""
    from esecure.server import admin as ops  # noqa: PLC0415

    ops.unlock(state.registry(), identifier, time.time())
    click.echo(f"Portal access of {identifier} unlocked.")


@admin.command("mail-code")
@click.argument("identifier")
@click.option(
    "--days",
    type=click.IntRange(1, 365),
    default=30,
    show_default=True,
    help="How long the code is valid.",
)
@_pass_admin
def mail_code(state: _Admin, identifier: str, days: int) -> None:
    """A new portal secret code for IDENTIFIER to send by mail (a lost or forgotten code):
    their personal code is forgotten, the next login is a first connection (audited)."""
    from esecure.server import admin as ops  # noqa: PLC0415
    from esecure.server.portal.codes import CodeHasher  # noqa: PLC0415
    from esecure.server.portal.pepper import load_pepper  # noqa: PLC0415

    project = state.loaded()
    hasher = CodeHasher(load_pepper(project))
    issued = ops.new_mail_code(state.registry(), hasher, identifier, time.time(), days)
    click.echo(issued.letter(project.product.bank_name, project.product.portal_name), nl=False)


@admin.command("list")
@click.argument(
    "what", type=click.Choice(["users", "keys", "certificates", "audit"]), default="keys"
)
@_pass_admin
def list_(state: _Admin, what: str) -> None:
    """List users, keys (with their binding), certificates or the audit log."""
    registry = state.registry()

    def when(stamp: float) -> str:
        return f"{dt.datetime.fromtimestamp(stamp, dt.UTC):%Y-%m-%d %H:%M:%S}"

    if what == "users":
        for user in registry.users():
            click.echo(f"{user.identifier}\t{user.state}")
    elif what == "keys":
        for key in registry.list_keys():
            state_name = "blocked" if key.blocked else ("bound" if key.identifier else "free")
            extra = f"\treplaced by {key.replaced_by}" if key.replaced_by else ""
            click.echo(f"{key.serial}\t{key.batch}\t{state_name}\t{key.identifier or '-'}{extra}")
    elif what == "certificates":
        for cert in registry.certificates():
            status = f"revoked {when(cert.revoked)}" if cert.revoked else "valid"
            click.echo(
                f"{cert.serial_number}\t{cert.identifier}\t{cert.key_serial}\t"
                f"until {when(cert.not_after)}\t{status}"
            )
    else:
        for at, endpoint, identifier, code, outcome in reversed(registry.audit_log()):
            click.echo(f"{when(at)}\t{endpoint}\t{identifier or '-'}\t{code}\t{outcome}")
