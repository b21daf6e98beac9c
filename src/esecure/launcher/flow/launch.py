"""Putting the flow together for ``e-secure``: the key's steps, a presenter, the runner.

``run_console`` is ``e-secure --no-gui``; ``run_gui`` hands the same flow to the windows
(``esecure.launcher.ui.run(flow, context)``, see
:class:`~esecure.launcher.flow.presenter.GuiEntry`), and falls back to the terminal, saying
so, when that module cannot be imported.
"""

from __future__ import annotations

import importlib
import logging
import signal
import sys
from collections.abc import Callable, Mapping
from typing import Any

from esecure.launcher.flow.console import Answers, ConsolePresenter
from esecure.launcher.flow.machine import State
from esecure.launcher.flow.presenter import Presenter, PresenterContext
from esecure.launcher.flow.runner import run_flow
from esecure.launcher.flow.steps import FlowOptions, KeySteps, restarts_from_env
from esecure.launcher.flow.texts import text
from esecure.launcher.host import host_for
from esecure_onkey.boot import Choice

__all__ = ["GUI_MODULE", "context_for", "flow_for", "run_console", "run_gui"]

log = logging.getLogger(__name__)

GUI_MODULE = "esecure.launcher.ui"


def context_for(choice: Choice, product: Mapping[str, Any]) -> PresenterContext:
    """What a presenter needs: product.json, the language, the support phone, branding."""
    lang = str(product.get("default_language", "en"))
    phone = product.get("support_phone")
    branding = choice.component("app").parent / "branding"
    return PresenterContext(
        product,
        lang if lang in ("en", "fr") else "en",
        phone if isinstance(phone, str) else None,
        branding if branding.is_dir() else None,
    )


def flow_for(
    choice: Choice,
    product: Mapping[str, Any],
    *,
    boot: Choice | None,
    options: FlowOptions | None = None,
) -> Callable[[Presenter], int]:
    """The whole start-up flow on this key, waiting for its presenter."""
    context = context_for(choice, product)
    portal = str(product.get("portal_name") or product.get("name") or "e-secure")

    def flow(presenter: Presenter) -> int:
        steps = KeySteps(
            choice,
            product,
            host_for(choice.platform),
            boot=boot,
            notify=presenter.notice,
            progress=presenter.progress,
            options=options,
        )
        state = State(restarts=restarts_from_env())
        return run_flow(steps, presenter, lang=context.lang, values={"portal": portal}, state=state)

    return flow


def _stop_on_sigterm() -> None:
    """SIGTERM ends a terminal session like Ctrl-C: Firefox is closed, the lock released."""

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def run_console(
    choice: Choice,
    product: Mapping[str, Any],
    *,
    boot: Choice | None,
    answers: Answers,
    options: FlowOptions | None = None,
) -> int:
    """``e-secure --no-gui``: the flow in this terminal; the exit code (130: interrupted)."""
    context = context_for(choice, product)
    presenter = ConsolePresenter(
        lang=context.lang, support_phone=context.support_phone, answers=answers
    )
    _stop_on_sigterm()
    try:
        return flow_for(choice, product, boot=boot, options=options)(presenter)
    except KeyboardInterrupt:
        return 130


def run_gui(
    choice: Choice,
    product: Mapping[str, Any],
    *,
    boot: Choice | None,
    answers: Answers,
    options: FlowOptions | None = None,
) -> int:
    """``e-secure``: the flow in the windows; in the terminal when they are not available."""
    try:
        gui = importlib.import_module(GUI_MODULE)
        entry = gui.run
    except (ImportError, AttributeError) as exc:
        said = text("no-windows", context_for(choice, product).lang, reason=str(exc))
        print(said, file=sys.stderr)  # noqa: T201 - said where the user started us
        return run_console(choice, product, boot=boot, answers=answers, options=options)
    code: int = entry(
        flow_for(choice, product, boot=boot, options=options), context_for(choice, product)
    )
    return code
