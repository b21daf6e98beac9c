"""The terminal presenter: ``e-secure --no-gui`` runs the same flow with prompts on stdin.

For automation (tests, scripts, a server without a display) every question has an answer
given beforehand, from the command line or the environment; without one, and when stdin
is a terminal, the user is asked:

==========================  ===========================  ===========================
question                    option                       environment
==========================  ===========================  ===========================
update now or later         ``--update now|later``       ``ESECURE_UPDATE``
identifier (enrolment)      ``--identifier ID``          ``ESECURE_IDENTIFIER``
activation code             ``--activation-code CODE``   ``ESECURE_ACTIVATION_CODE``
==========================  ===========================  ===========================

Prefer the environment for the activation code: a command line is visible to other
users of the computer. Given answers are used once: a refused enrolment is asked again
on a terminal, and ends the flow (exit 1, the refusal shown) otherwise. Without an answer
and without a terminal an update is taken now (updates carry security fixes).

Progress and messages go to stdout, notices and errors to stderr. Once the site is open
the session lasts until Firefox closes, Ctrl-C, or SIGTERM (then Firefox is closed).
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from esecure.errors import EsecureError
from esecure.launcher.flow.presenter import Enrolment, Step, TrayActions, UpdateChoice, UpdateOffer

__all__ = ["MAX_SESSION", "Answers", "ConsolePresenter", "answers_from"]

MAX_SESSION = 24 * 3600.0
"""Seconds a terminal session lasts at most (every wait is bounded)."""
_POLL = 0.5
_MB = 1_000_000


@dataclass(frozen=True)
class Answers:
    """Answers given beforehand (command line, environment)."""

    update: UpdateChoice | None = None
    identifier: str | None = None
    activation_code: str | None = field(default=None, repr=False)


def answers_from(
    update: str | None,
    identifier: str | None,
    activation_code: str | None,
    environ: Mapping[str, str],
) -> Answers:
    """Command-line answers, else the environment's (ESECURE_UPDATE, ESECURE_IDENTIFIER,
    ESECURE_ACTIVATION_CODE); ValueError names a bad --update value."""
    choice = update or environ.get("ESECURE_UPDATE") or None
    if choice not in (None, "now", "later"):
        raise ValueError(f"--update / ESECURE_UPDATE: expected now or later, found {choice!r}")
    return Answers(
        "now" if choice == "now" else "later" if choice == "later" else None,
        identifier or environ.get("ESECURE_IDENTIFIER") or None,
        activation_code or environ.get("ESECURE_ACTIVATION_CODE") or None,
    )


class ConsolePresenter:
    """:class:`~esecure.launcher.flow.presenter.Presenter` in a terminal."""

    def __init__(
        self,
        *,
        lang: str = "en",
        support_phone: str | None = None,
        answers: Answers | None = None,
        stdin: TextIO | None = None,
        out: TextIO | None = None,
        err: TextIO | None = None,
        interactive: bool | None = None,
        secret: Callable[[str], str] | None = None,
    ) -> None:
        self.lang = lang
        self.phone = support_phone
        self._answers = answers or Answers()
        self._in = stdin or sys.stdin
        self._out = out or sys.stdout
        self._err = err or sys.stderr
        self._interactive = self._in.isatty() if interactive is None else interactive
        self._secret = secret or (lambda prompt: getpass.getpass(prompt, stream=self._err))
        self._given_used = False
        self._last: tuple[Step, int, str] | None = None

    def _say(self, text: str, *, err: bool = False) -> None:
        stream = self._err if err else self._out
        stream.write(text + "\n")
        stream.flush()

    def _ask(self, prompt: str) -> str | None:
        """One line from stdin (None at end of input)."""
        self._out.write(prompt)
        self._out.flush()
        line = self._in.readline()
        return line.rstrip("\r\n") if line else None

    def progress(self, step: Step, fraction: float, text: str) -> None:
        """``[ 45%] text``, once per step and twentieth (download progress is chatty)."""
        key = (step, int(fraction * 20), text if step != "updates" else "")
        if key == self._last:
            return
        self._last = key
        self._say(f"[{round(fraction * 100):3d}%] {text}")

    def message(self, text: str) -> None:
        """The text, on stdout."""
        self._say(text)

    def notice(self, error: EsecureError) -> None:
        """The problem, in full, on stderr: the key goes on."""
        note = "remarque" if self.lang == "fr" else "note"
        self._say(f"{note}: {error.render(self.lang, self.phone)}", err=True)

    def offer_update(self, offer: UpdateOffer) -> UpdateChoice:
        """The given answer, else the user's (Enter: now), else now."""
        fr = self.lang == "fr"
        fast, slow = offer.seconds
        self._say(
            (
                f"Mise à jour disponible : version {offer.version}, "
                f"{offer.download_size / _MB:.1f} Mo, environ {fast:.0f} à {slow:.0f} s."
            )
            if fr
            else (
                f"Update available: version {offer.version}, "
                f"{offer.download_size / _MB:.1f} MB, about {fast:.0f} to {slow:.0f} s."
            )
        )
        if offer.required:
            return "now"
        if self._answers.update is not None:
            return self._answers.update
        if not self._interactive:
            return "now"
        line = self._ask("Mettre à jour maintenant ? [O/n] " if fr else "Update now? [Y/n] ")
        return "later" if line is not None and line.strip().lower() in ("n", "no", "non") else "now"

    def ask_enrolment(self, serial: str, refusal: EsecureError | None) -> Enrolment | None:
        """The given identifier and code (once), else the user's; None: cancelled."""
        if refusal is not None:
            self._say(refusal.render(self.lang, self.phone), err=True)
        given = self._answers
        if given.identifier and given.activation_code and not self._given_used:
            self._given_used = True
            return Enrolment(given.identifier, given.activation_code)
        if not self._interactive:
            return None
        fr = self.lang == "fr"
        self._say(f"Numéro de série de la clé : {serial}" if fr else f"Key serial number: {serial}")
        identifier = self._ask("Identifiant : " if fr else "Identifier: ")
        if not identifier:
            return None
        code = self._secret("Code d'activation : " if fr else "Activation code: ").strip()
        return Enrolment(identifier.strip(), code) if code else None

    def show_error(self, error: EsecureError, report: Path | None) -> None:
        """The error in full on stderr, and where its report is."""
        self._say(error.render(self.lang, self.phone), err=True)
        if report is not None:
            label = "rapport d'assistance" if self.lang == "fr" else "support report"
            self._say(f"  {label}: {report}", err=True)

    def show_tray(self, actions: TrayActions) -> None:
        """Stay until Firefox closes (or Ctrl-C / SIGTERM), then end the session."""
        try:
            for _ in range(int(MAX_SESSION / _POLL)):
                if actions.wait(_POLL):
                    return
                if not actions.firefox_running():
                    break
        finally:
            actions.remove_key()
