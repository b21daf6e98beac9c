"""The application the bootstrap starts: the launcher's command line.

Kept light at import time: `e-secure --version` must answer in well under 250 ms, so
everything heavy (cryptography, tufup, the UI) is imported by the step that needs it.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from esecure import __version__
from esecure_onkey.boot import Choice, cd_choice, cd_root
from esecure_onkey.discovery import DataArea, find_data_area
from esecure_onkey.layout import PRODUCT_FILE

if TYPE_CHECKING:
    from collections.abc import Mapping

    from esecure.errors import EsecureError
    from esecure.launcher.flow.steps import FlowOptions
    from esecure.launcher.logs import LogSetup

__all__ = ["FIREFOX_ARGS_ENV", "data_area", "firefox_args_from", "main", "read_product"]

log = logging.getLogger(__name__)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="e-secure",
        description="The e-secure key's launcher.",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument(
        "--no-gui",
        action="store_true",
        help="run the start-up flow in this terminal (automation, tests, no display)",
    )
    parser.add_argument(
        "--update",
        choices=("now", "later"),
        help="answer to an update offer without asking (else ESECURE_UPDATE)",
    )
    parser.add_argument(
        "--identifier",
        help="the identifier for a first enrolment, without asking (else ESECURE_IDENTIFIER)",
    )
    parser.add_argument(
        "--activation-code",
        help="the activation code for a first enrolment (prefer ESECURE_ACTIVATION_CODE: a "
        "command line is visible to other users)",
    )
    parser.add_argument(
        "--verbose", action="store_true", help="log the flow's details on stderr (tracebacks too)"
    )
    parser.add_argument(
        "--self-check",
        action="store_true",
        help="check the key against its signed manifest, and the release running from the "
        "data area against its signed lists (and the computer's browser policies), then "
        "exit: 0 when sound",
    )
    parser.add_argument(
        "--doctor",
        action="store_true",
        help="run the diagnostics (network, TLS, clock, space, full key check), print them "
        "and save a support report; exit 0 when nothing failed",
    )
    return parser


def read_product(app: Path) -> dict[str, Any]:
    """``product.json`` of the running ``app`` component (its directory); empty when absent
    or unreadable (the self-check names a damaged one)."""
    try:
        doc = json.loads((app / PRODUCT_FILE).read_bytes())
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def data_area(boot: Choice | None) -> DataArea:
    """The data area as the bootstrap found it at this start (its Choice: never found
    twice); run without a bootstrap (development, tests), the bootstrap's own discovery."""
    if boot is not None:
        return DataArea(boot.data_dir, boot.data_kind, boot.data_reason)
    return find_data_area(cd_root())


def _out(text: str, *, err: bool = False) -> None:
    print(text, file=sys.stderr if err else sys.stdout)


def _self_check(product: dict[str, Any], choice: Choice) -> int:
    from esecure.errors import EsecureError, UsageError  # noqa: PLC0415
    from esecure.launcher.selfcheck import (  # noqa: PLC0415
        check_running_release,
        host_policy_weakenings,
        self_check,
    )

    lang = str(product.get("default_language", "en"))
    phone = product.get("support_phone")
    try:
        result = self_check(choice.cd, platform=choice.platform)
        if choice.from_store:  # an update runs from the data area: check what runs, too
            running = check_running_release(choice)
            _out(f"self-check: {running.render()}")
        found = host_policy_weakenings(choice.component("firefox"), choice.platform)
        if found:
            listing = "; ".join(w.render() for w in found)
            error = UsageError(f"host Firefox policies: {listing}", code="ES105")
            refuse = product.get("firefox", {}).get("host_policies") == "refuse"
            _out(error.render(lang, phone), err=True)
            if refuse:
                return 1
    except EsecureError as exc:
        _out(exc.render(lang, phone if isinstance(phone, str) else None), err=True)
        return 1
    _out(
        f"self-check: ok ({result.files} files present, {result.hashed} hashed, "
        f"{result.seconds * 1000:.0f} ms)"
    )
    return 0


def main(argv: list[str] | None = None, boot: Choice | None = None) -> int:
    """Run the launcher; ``boot`` is the bootstrap's choice of release (without a
    bootstrap — development, tests — the CD-ROM's release at ``cd_root()``)."""
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    choice = boot if boot is not None else cd_choice(cd_root())
    if args.version:
        _out(f"e-secure {__version__} ({choice.reason})")
        return 0
    product = read_product(choice.component("app"))
    if args.self_check:
        return _self_check(product, choice)
    if args.doctor:
        from esecure.launcher.diagnostics import launcher_doctor  # noqa: PLC0415 - heavy

        return launcher_doctor(choice, product)
    return _flow(args, product, choice if boot is not None else _without_bootstrap(), boot)


def _without_bootstrap() -> Choice:
    """Run without a bootstrap (development, tests): the release the bootstrap would pick
    for the data area (its Firefox and profile template; the code is this one), without
    counting a start."""
    from esecure_onkey.boot import choose  # noqa: PLC0415

    cd = cd_root()
    area = data_area(None)
    choice = choose(cd, area.path, count_start=False)
    return replace(choice, data_dir=area.path, data_kind=area.kind, data_reason=area.reason)


FIREFOX_ARGS_ENV = "ESECURE_FIREFOX_ARGS"
"""Extra Firefox arguments for automation (e.g. ``--headless --remote-debugging-port=9222``
in the end-to-end test), split like a POSIX shell line; read only from the launcher's own
environment, never from the key: a key cannot open a debugging port in a user's Firefox."""


def firefox_args_from(environ: Mapping[str, str]) -> tuple[str, ...]:
    """The extra Firefox arguments ``ESECURE_FIREFOX_ARGS`` asks for (none when unset);
    ValueError names an unbalanced quote."""
    import shlex  # noqa: PLC0415

    value = environ.get(FIREFOX_ARGS_ENV, "")
    try:
        return tuple(shlex.split(value))
    except ValueError as exc:
        raise ValueError(f"{FIREFOX_ARGS_ENV}: {exc} in {value!r}") from None


def _options(
    choice: Choice, product: dict[str, Any], setup: LogSetup, environ: Mapping[str, str]
) -> FlowOptions:
    """The flow's options for a real start: the extra Firefox arguments, and the
    diagnostics' support report and table (the tray's "diagnostics")."""
    from esecure.launcher.diagnostics import Subject, doctor, run_diagnostics, write_report  # noqa: PLC0415
    from esecure.launcher.flow.steps import FlowOptions  # noqa: PLC0415

    lang = str(product.get("default_language", "en"))

    def report(error: EsecureError) -> Path | None:
        log.error("the flow failed: %s %s", error.code, error.detail)
        diagnosis = run_diagnostics(Subject.from_choice(choice, product))
        try:
            return write_report(
                diagnosis, data_dir=choice.data_dir, lang=lang, redactor=setup.redactor
            )
        except EsecureError:
            log.exception("could not save the support report")
            return None

    def diagnostics() -> None:
        doctor(Subject.from_choice(choice, product), lang=lang, redactor=setup.redactor)

    return FlowOptions(
        firefox_args=firefox_args_from(environ),
        report=report,
        diagnostics=diagnostics,
        secret=setup.redactor.add,
    )


def _flow(
    args: argparse.Namespace, product: dict[str, Any], choice: Choice, boot: Choice | None
) -> int:
    """The start-up flow: in the windows, or in this terminal (``--no-gui``); logged into
    the data area (redacted: the activation code is registered as a secret)."""
    import os  # noqa: PLC0415

    from esecure.launcher.flow.console import answers_from  # noqa: PLC0415
    from esecure.launcher.flow.launch import run_console, run_gui  # noqa: PLC0415
    from esecure.launcher.logs import setup_logging  # noqa: PLC0415

    if args.verbose:
        logging.basicConfig(level=logging.DEBUG, format="%(name)s: %(message)s")
    else:  # no traceback on the user's screen: the log file is the support report's
        logging.getLogger("esecure").addHandler(logging.NullHandler())
    try:
        answers = answers_from(args.update, args.identifier, args.activation_code, os.environ)
        firefox_args_from(os.environ)
    except ValueError as exc:
        _out(f"e-secure: {exc}", err=True)
        return 2
    secrets = (answers.activation_code,) if answers.activation_code else ()
    setup = setup_logging(choice.data_dir, secrets=secrets)
    try:
        options = _options(choice, product, setup, os.environ)
        run = run_console if args.no_gui else run_gui
        return run(choice, product, boot=boot, answers=answers, options=options)
    finally:
        setup.close()
