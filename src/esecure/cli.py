"""The `esecure` command line. Only ``main()`` turns errors into messages and exit codes.

Exit codes: 0 success, 1 the operation failed, 2 usage or configuration error.
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from esecure import __version__
from esecure.errors import CATALOGUE, EsecureError

__all__ = ["cli", "main"]

log = logging.getLogger("esecure")


class _State:
    def __init__(self, *, verbose: bool, lang: str) -> None:
        self.verbose = verbose
        self.lang = lang


def _default_lang() -> str:
    import locale  # noqa: PLC0415 - only needed to pick the message language

    name = (locale.getlocale()[0] or "").lower()
    return "fr" if name.startswith("fr") else "en"


class _Group(click.Group):
    """The root group: turns product errors into a message and an exit code, once."""

    def invoke(self, ctx: click.Context) -> Any:  # noqa: ANN401 - click.Group.invoke returns Any
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
            raise
        except EsecureError as exc:
            state = ctx.find_object(_State)
            if state is not None and state.verbose:
                click.echo(traceback.format_exc(), err=True, nl=False)
            click.echo(exc.render(state.lang if state else "en"), err=True)
            ctx.exit(exc.exit_code)
        except Exception as exc:  # noqa: BLE001 - last resort: no traceback unless --verbose
            state = ctx.find_object(_State)
            if state is not None and state.verbose:
                click.echo(traceback.format_exc(), err=True, nl=False)
            entry = CATALOGUE["ES906"]
            click.echo(
                f"error {entry.code}: {entry.message.en}\n  {type(exc).__name__}: {exc}\n"
                f"  action: {entry.action.en}",
                err=True,
            )
            ctx.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="esecure", message="%(prog)s %(version)s")
@click.option("-v", "--verbose", is_flag=True, help="Show debug logs and tracebacks.")
@click.option(
    "--lang",
    type=click.Choice(["en", "fr"]),
    default=None,
    help="Language of messages (default: from the locale, else English).",
)
@click.pass_context
def cli(ctx: click.Context, verbose: bool, lang: str | None) -> None:
    """Build, sign, personalise and update e-secure keys.

    Start with `esecure init DIR` (a key project), then `esecure check DIR`.
    """
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    ctx.obj = _State(verbose=verbose, lang=lang or _default_lang())


def _echo_step(message: str) -> None:
    click.echo(f"  {message}", err=True)


@cli.command()
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--demo", is_flag=True, help="Demo project: 1-of-1 TUF root, keys NOT encrypted.")
@click.option("--force", is_flag=True, help="Write into a non-empty directory (keys are kept).")
@click.option(
    "--ca-cert",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Import the bank's CA certificate instead of making a CA.",
)
@click.option(
    "--ca-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The imported CA's private key, to let the reference server issue with it.",
)
@click.option(
    "--id",
    "product_id",
    default="demo-bank",
    show_default=True,
    help="Project identifier (keyring entry name).",
)
@click.option("--bank", "bank_name", default="Demo Bank", show_default=True, help="Bank name.")
def init(
    directory: Path,
    demo: bool,
    force: bool,
    ca_cert: Path | None,
    ca_key: Path | None,
    product_id: str,
    bank_name: str,
) -> None:
    """Create a key project in DIRECTORY: esecure.toml, assets and trust material."""
    from esecure.scaffold import InitOptions, init_project  # noqa: PLC0415 - lazy: fast --help

    options = InitOptions(
        demo=demo,
        force=force,
        ca_cert=ca_cert,
        ca_key=ca_key,
        product_id=product_id,
        bank_name=bank_name,
    )
    click.echo(f"Creating key project {directory}", err=True)
    written = init_project(
        directory, options, passphrase=_passphrase_source(product_id), report=_echo_step
    )
    click.echo(f"Wrote {len(written)} files.")
    if demo:
        click.echo("Demo project: private keys are NOT encrypted. Never ship it.")
    click.echo(f"Next: esecure check {directory}")


def _passphrase_source(product_id: str) -> Callable[[], bytes]:
    def ask() -> bytes:
        from esecure.trust import get_passphrase  # noqa: PLC0415

        prompt = None
        if sys.stdin.isatty():

            def prompt(text: str) -> str:
                value: str = click.prompt(text, hide_input=True, confirmation_prompt=True)
                return value

        phrase = get_passphrase(product_id, prompt=prompt)
        click.echo(f"  passphrase: from {phrase.source}", err=True)
        return phrase.value

    return ask


@cli.command()
@click.argument("directory", type=click.Path(path_type=Path), default=".")
def check(directory: Path) -> None:
    """Validate the key project in DIRECTORY (default: the current directory)."""
    _check_project(directory)


def _check_project(directory: Path) -> None:
    from esecure.bundle import sizing  # noqa: PLC0415
    from esecure.trust import load_checked_project  # noqa: PLC0415

    project = load_checked_project(directory)
    # the data partition against what can be sized without a build (ES957: exit 2)
    lower = sizing.source_budget(project)
    size = sizing.data_size(project, lower, exact=False)
    for warning in project.warnings:
        click.echo(f"warning: {warning}")
    given = project.image.data_size_mib is not None
    click.echo(
        f"data partition: {f'{size} MiB ([image] data_size_mib)' if given else 'from the plan'}"
        f" for {', '.join(project.image.platforms)}; at least {lower.minimum_mib} MiB before "
        "lib/ is counted (`esecure build` prints the whole budget)"
    )
    click.echo(
        f"ok: {project.config_path} — {project.product.name} {project.product.version} "
        f"for {project.product.bank_name}"
    )


@cli.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "markdown"]),
    default="text",
    show_default=True,
    help="markdown is docs/errors.md.",
)
@click.argument("code", required=False)
@click.pass_obj
def errors(state: _State, fmt: str, code: str | None) -> None:
    """Print the error catalogue, or one entry by CODE (e.g. ES101)."""
    from esecure import _catalogue_doc  # noqa: PLC0415

    if code is not None:
        key = code.upper()
        if key not in CATALOGUE:
            raise click.BadParameter(
                f"{code!r} is not a catalogue code; run `esecure errors` for the list",
                param_hint="CODE",
            )
        click.echo(_catalogue_doc.render_entry(CATALOGUE[key], state.lang))
        return
    if fmt == "markdown":
        click.echo(_catalogue_doc.render_markdown(), nl=False)
    else:
        click.echo(_catalogue_doc.render_text(state.lang), nl=False)


DEMO_DIRECTORY = Path("build/demo")


@cli.command()
@click.argument("directory", type=click.Path(path_type=Path), required=False)
@click.option(
    "--interactive",
    is_flag=True,
    help="Leave the launcher's windows and the portal to you (needs a display).",
)
def demo(directory: Path | None, interactive: bool) -> None:
    """Show the whole life of a key on 127.0.0.1, in DIRECTORY (default: ./build/demo,
    emptied first when a previous demo made it).

    A demo key project (its CA, update keys, demo customer), `esecure serve` (EST, portal,
    update repository; SQLite), the key image built and personalised, 1.0.0 then 1.1.0
    published; the key "inserted" (its CD-ROM read-only, its data partition's files as
    the data area): the launcher updates to 1.1.0, starts again, enrols, starts Firefox
    (headless without a display), and the portal's first connection is driven to the
    client area (--interactive: by you). Each step is checked on both sides, timed and
    summarised with its artefacts and screenshots (DIRECTORY/screenshots). Every process
    it started is stopped at the end, on a failure and on Ctrl-C.
    """
    import signal  # noqa: PLC0415

    from esecure.demo.run import Options, run_demo  # noqa: PLC0415

    work = (directory or DEMO_DIRECTORY).absolute()
    options = Options.from_environment(interactive=interactive)
    if interactive and options.display is None:
        raise click.UsageError("--interactive needs a display (DISPLAY or WAYLAND_DISPLAY)")
    click.echo(f"e-secure demo in {work} (screenshots: {work / 'screenshots'})")
    click.echo(
        (
            "the launcher's windows and Firefox on your display"
            if interactive
            else "Firefox on your display, driven by the demo (the launcher in this terminal; "
            "--interactive: its windows, and the portal to you)"
        )
        if options.display
        else "no display: Firefox runs headless (screenshots show what it shows)"
    )

    def interrupted(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupted)
    try:
        progress, life = run_demo(work, options, click.echo)
    except KeyboardInterrupt:
        click.echo("interrupted: every process the demo started is stopped", err=True)
        click.get_current_context().exit(130)
    finally:
        signal.signal(signal.SIGTERM, previous)
    total = sum(step.seconds for step in progress.steps)
    reached = "the portal was yours" if interactive else "reached the portal's client area"
    click.echo(
        f"ok: the key {life.key.serial} updated to {life.version.split('(')[-1].rstrip(')')}, "
        f"enrolled and {reached} in {total:.0f} s; screenshots in {work / 'screenshots'}"
    )


@cli.command()
@click.argument("image", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--data",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A key's data area to check with it (free space, logs, identity).",
)
@click.option(
    "--report",
    "report_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write the support report (zip) into this directory.",
)
@click.option("--offline", is_flag=True, help="Skip the network checks (DNS, TCP, TLS, clock).")
@click.pass_obj
def doctor(
    state: _State, image: Path, data: Path | None, report_dir: Path | None, offline: bool
) -> None:
    """Run the key's diagnostics on IMAGE (a cdrom.iso, or a mounted or extracted CD-ROM):
    every file hashed against the signed manifest, and DNS, TCP, TLS and clock against the
    servers its product.json names. Exit 1 when a check fails."""
    import tempfile  # noqa: PLC0415
    from dataclasses import replace  # noqa: PLC0415

    from esecure.bundle.verify import extract_image  # noqa: PLC0415
    from esecure.launcher.app import read_product  # noqa: PLC0415
    from esecure.launcher.diagnostics import Subject  # noqa: PLC0415
    from esecure.launcher.diagnostics import doctor as run_doctor  # noqa: PLC0415
    from esecure_onkey.boot import cd_choice  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="esecure-doctor-") as scratch:
        cd = image
        if not image.is_dir():
            cd = Path(scratch) / "cd"
            count = extract_image(image, cd)
            click.echo(f"  extracted {count} files of {image}", err=True)
        choice = cd_choice(cd)
        subject = replace(
            Subject.from_choice(choice, read_product(choice.component("app"))), data_dir=data
        )
        code = run_doctor(
            subject,
            lang=state.lang,
            report=report_dir is not None,
            out_dir=report_dir,
            offline=offline,
            say=click.echo,
        )
    click.get_current_context().exit(code)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `esecure` console script."""
    cli.main(args=argv, prog_name="esecure")


from esecure.bundle import _commands as _bundle  # noqa: E402 - registered after cli exists

cli.add_command(_bundle.build)
cli.add_command(_bundle.verify)
cli.add_command(_bundle.personalize)
cli.add_command(_bundle.firefox_hash)

from esecure.server._commands import admin, serve  # noqa: E402 - registered after cli exists

cli.add_command(serve)
cli.add_command(admin)

from esecure.updater._commands import keys, publish, repo  # noqa: E402 - registered after cli exists

cli.add_command(keys)
cli.add_command(publish)
cli.add_command(repo)
