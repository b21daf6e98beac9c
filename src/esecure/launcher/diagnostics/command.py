"""``e-secure --doctor`` and ``esecure doctor``: run the checks, print the table, save the
support report and say where it is. Exit 0 when nothing failed, 1 otherwise."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from esecure.errors import StorageError
from esecure.launcher.diagnostics.model import Limits, Subject
from esecure.launcher.diagnostics.report import render_table, write_report
from esecure.launcher.diagnostics.runner import run_diagnostics
from esecure.launcher.logs import Redactor, setup_logging

if TYPE_CHECKING:
    from esecure_onkey.boot import Choice

__all__ = ["doctor", "launcher_doctor"]

log = logging.getLogger(__name__)

_SAVED = {"en": "Support report: {path}", "fr": "Rapport pour l'assistance : {path}"}


def _print(text: str) -> None:
    """To the terminal, if there is one (a windowed Windows start has none), in what its
    encoding can show (a Windows console may lack the accents or the dash)."""
    out = sys.stdout
    if out is None:
        return
    line = text if text.endswith("\n") else text + "\n"
    try:
        out.write(line)
    except UnicodeEncodeError:
        encoding = out.encoding or "ascii"
        out.write(line.encode(encoding, "replace").decode(encoding))
    out.flush()


def doctor(
    subject: Subject,
    *,
    lang: str = "en",
    report: bool = True,
    out_dir: Path | None = None,
    redactor: Redactor | None = None,
    limits: Limits = Limits(),  # noqa: B008 - frozen, shared default
    offline: bool = False,
    say: Callable[[str], None] = _print,
) -> int:
    """Run every check on ``subject`` (``offline``: no network check), print the table in
    ``lang``, write the report (unless ``report`` is False) and print its path."""
    log.info("diagnostics: %s", subject.reason or subject.cd)
    diagnosis = run_diagnostics(subject, limits=limits, offline=offline)
    for row in diagnosis.rows:
        log.info("diagnostics: %s %s: %s", row.check, row.status, row.detail)
    say(render_table(diagnosis, lang))
    if report:
        try:
            path = write_report(
                diagnosis, data_dir=subject.data_dir, lang=lang, redactor=redactor, out_dir=out_dir
            )
        except StorageError as exc:
            say(exc.render(lang))
            return 1
        log.info("diagnostics: report %s", path)
        say(_SAVED["fr" if lang == "fr" else "en"].format(path=path))
    return 1 if diagnosis.failed else 0


def launcher_doctor(choice: Choice, product: Mapping[str, Any]) -> int:
    """``e-secure --doctor``: diagnostics of the running key, logged into its data area."""
    lang = str(product.get("default_language", "en"))
    setup = setup_logging(choice.data_dir)
    try:
        return doctor(Subject.from_choice(choice, product), lang=lang, redactor=setup.redactor)
    finally:
        setup.close()
