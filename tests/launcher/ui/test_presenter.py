"""The windows' presenter over a fake window: what reaches the page, what the page's
answers and the close button do (no display; the real window: test_windows.py)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from esecure.errors import EnrolmentError, IntegrityError, NetworkError
from esecure.launcher.flow.presenter import Enrolment, UpdateOffer
from esecure.launcher.ui import presenter as p
from esecure.launcher.ui.presenter import MAX_FIELD, Api, WindowPresenter

OFFER = UpdateOffer("2.0.0", 2_000_000, (1.0, 17.0), required=False)
REQUIRED = UpdateOffer("3.0.0", 2_000_000, (1.0, 17.0), required=True)
WAIT = 10.0


class FakeSurface:
    """Records the page calls; ``shown`` is set at each call (a page to answer)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []
        self.visible: list[str] = []
        self.called = threading.Event()

    def run(self, script: str) -> None:
        name, _, rest = script.removeprefix("window.esecure.").partition("(")
        self.calls.append((name, json.loads(rest[:-1])))
        self.called.set()

    def show(self) -> None:
        self.visible.append("show")

    def hide(self) -> None:
        self.visible.append("hide")

    def last(self, name: str):
        return next(data for called, data in reversed(self.calls) if called == name)


def _presenter(saved=None, **kw):
    surface = FakeSurface()
    saver = saved or (lambda error, _report: Path("/desk") / f"{error.code}.txt")
    return WindowPresenter(
        surface, lang="en", support_phone="+33 1", save_report=saver, **kw
    ), surface


def _ask(function, *args):
    """Run an asking method in a thread (it blocks until answered); its result later."""
    out: list = []
    thread = threading.Thread(target=lambda: out.append(function(*args)), daemon=True)
    thread.start()
    return thread, out


def _answered(thread, out):
    thread.join(WAIT)
    assert not thread.is_alive()
    return out[0]


def _wait_for_page(surface, name):
    for _ in range(200):
        if any(called == name for called, _ in surface.calls):
            return
        surface.called.wait(0.05)
        surface.called.clear()
    raise AssertionError(f"page {name} never shown")


def test_the_offer_is_answered_by_the_page():
    """ "later" from the page is the answer; sizes and times are formatted."""
    presenter, surface = _presenter()
    thread, out = _ask(presenter.offer_update, OFFER)
    _wait_for_page(surface, "offer")
    assert surface.last("offer") == {
        "version": "2.0.0",
        "size": "2 MB",
        "time": "1 second to 17 seconds",
        "required": False,
    }
    Api(presenter).answer_offer("later")
    assert _answered(thread, out) == "later"


@pytest.mark.parametrize(("offer", "choice"), [(OFFER, "later"), (REQUIRED, "now")])
def test_closing_the_window_during_the_offer(offer, choice):
    """The close button answers "later" (a required release: "now") and hides the window."""
    presenter, surface = _presenter()
    thread, out = _ask(presenter.offer_update, offer)
    _wait_for_page(surface, "offer")
    presenter.closing()
    assert _answered(thread, out) == choice
    assert surface.visible == ["hide"]


def test_a_required_offer_is_never_answered_later():
    """Even a page that sends "later" cannot skip a required release."""
    presenter, surface = _presenter()
    thread, out = _ask(presenter.offer_update, REQUIRED)
    _wait_for_page(surface, "offer")
    Api(presenter).answer_offer("later")
    assert _answered(thread, out) == "now"


def test_an_answer_to_an_earlier_question_is_dropped():
    """A double click's second answer does not answer the next question."""
    presenter, surface = _presenter()
    api = Api(presenter)
    api.answer_offer("now")  # left over
    thread, out = _ask(presenter.offer_update, OFFER)
    _wait_for_page(surface, "offer")
    api.answer_offer("later")
    assert _answered(thread, out) == "later"


def test_the_form_shows_the_serial_and_the_refusal_and_returns_the_fields():
    """The refusal's code, title, message and action in the user's language."""
    presenter, surface = _presenter()
    refusal = EnrolmentError("identifier or code refused", code="ES203")
    thread, out = _ask(presenter.ask_enrolment, "KEY-1", refusal)
    _wait_for_page(surface, "enrol")
    shown = surface.last("enrol")
    assert shown["serial"] == "KEY-1"
    assert shown["refusal"]["code"] == "ES203"
    assert shown["refusal"]["title"] == "Wrong activation code"
    Api(presenter).submit_enrolment(" alice ", " CODE-1 ")
    assert _answered(thread, out) == Enrolment("alice", "CODE-1")


@pytest.mark.parametrize(
    ("identifier", "code"),
    [("", "CODE"), ("alice", ""), (None, "CODE"), ("alice", 42), ("a" * (MAX_FIELD + 1), "C")],
)
def test_bad_form_answers_are_not_taken(identifier, code):
    """Empty, non-text or overlong fields are ignored: the form stays open; closing it
    then cancels."""
    presenter, surface = _presenter()
    thread, out = _ask(presenter.ask_enrolment, "KEY-1", None)
    _wait_for_page(surface, "enrol")
    Api(presenter).submit_enrolment(identifier, code)
    thread.join(0.2)
    assert thread.is_alive()
    presenter.closing()
    assert _answered(thread, out) is None


def test_attack_the_activation_code_never_goes_back_to_the_page():
    """Refused, then asked again: no page call carries the code; the Enrolment's repr
    hides it."""
    presenter, surface = _presenter()
    api = Api(presenter)
    thread, out = _ask(presenter.ask_enrolment, "KEY-1", None)
    _wait_for_page(surface, "enrol")
    api.submit_enrolment("alice", "SECRET-CODE-77")
    given = _answered(thread, out)
    thread, out = _ask(presenter.ask_enrolment, "KEY-1", EnrolmentError("refused", code="ES203"))
    for _ in range(200):
        if len([c for c, _ in surface.calls if c == "enrol"]) == 2:
            break
        surface.called.wait(0.05)
    api.cancel_enrolment()
    assert _answered(thread, out) is None
    assert "SECRET-CODE-77" not in json.dumps(surface.calls)
    assert "SECRET-CODE-77" not in repr(given)


def test_the_error_page_waits_until_closed_and_saves_the_report():
    """Code, texts, detail, the support phone (the entry says call support), the report;
    "save" calls the saver and says where."""
    seen = []
    presenter, surface = _presenter(saved=lambda e, r: seen.append((e.code, r)) or Path("/d/x"))
    error = IntegrityError("app/x.pyc: size 12, expected 14", code="ES101")
    thread, out = _ask(presenter.show_error, error, Path("/data/reports/r.json"))
    _wait_for_page(surface, "error")
    shown = surface.last("error")
    assert (shown["code"], shown["detail"], shown["phone"]) == (
        "ES101",
        "app/x.pyc: size 12, expected 14",
        "+33 1",
    )
    assert shown["report"] == "/data/reports/r.json"
    api = Api(presenter)
    assert api.save_report() == "Report saved: /d/x"
    assert seen == [("ES101", Path("/data/reports/r.json"))]
    thread.join(0.2)
    assert thread.is_alive()  # still shown
    api.close_error()
    _answered(thread, out)


def test_a_report_that_cannot_be_saved_says_why():
    """The saver's OSError becomes a sentence under the button, not a crash."""

    def refuse(_error, _report):
        raise OSError(28, "No space left on device")

    presenter, surface = _presenter(saved=refuse)
    thread, out = _ask(presenter.show_error, NetworkError("no route", code="ES301"), None)
    _wait_for_page(surface, "error")
    said = Api(presenter).save_report()
    assert said == "The report could not be saved: No space left on device"
    presenter.closing()
    _answered(thread, out)


class Actions:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.ended = threading.Event()

    def open_site(self):
        self.calls.append("open")

    def diagnostics(self):
        self.calls.append("diagnostics")

    def remove_key(self):
        self.calls.append("remove")
        self.ended.set()

    def firefox_running(self):
        return True

    def wait(self, timeout=None):
        return self.ended.wait(timeout)


def test_the_session_page_runs_actions_and_ends_with_the_removal():
    """The session page shows the last progress text; its buttons (and the tray) run the
    actions off the caller's thread; removing the key ends show_tray and stops the tray."""
    stopped = []

    class Tray:
        def stop(self):
            stopped.append(True)

    presenter, surface = _presenter()
    presenter.set_tray_starter(lambda _actions: Tray())
    presenter.progress("running", 1.0, "The site is open.")
    actions = Actions()
    thread, out = _ask(presenter.show_tray, actions)
    _wait_for_page(surface, "session")
    assert surface.last("session") == {"text": "The site is open.", "tray": True}
    api = Api(presenter)
    api.session_action("open")
    api.session_action("nonsense")
    api.session_action("remove")
    _answered(thread, out)
    assert actions.calls[-1] == "remove" and "open" in actions.calls
    assert stopped == [True]
    assert ("busy", "Closing the browser and removing the key…") in surface.calls


def test_a_broken_tray_leaves_the_window_buttons():
    """A tray that cannot start: the session page says there is no tray (no "hide")."""

    def broken(_actions):
        raise RuntimeError("no status icon")

    presenter, surface = _presenter()
    presenter.set_tray_starter(broken)
    actions = Actions()
    thread, out = _ask(presenter.show_tray, actions)
    _wait_for_page(surface, "session")
    assert surface.last("session")["tray"] is False
    actions.remove_key()
    _answered(thread, out)


def test_a_notice_comes_forward_when_the_window_is_hidden():
    """A notice while hidden (the tray's time): shown in the page, the window shown."""
    presenter, surface = _presenter()
    presenter.hide()
    presenter.notice(IntegrityError("a file changed", code="ES101"))
    assert surface.last("notice")["code"] == "ES101"
    assert surface.visible == ["hide", "show"]


def test_the_last_message_stays_until_closed(monkeypatch):
    """After the flow, its last message is shown on the final page until closed (bounded:
    the hold ends by itself)."""
    presenter, surface = _presenter()
    presenter.message("You can now unplug the key safely.")
    monkeypatch.setattr(p, "FINAL_HOLD", 0.2)
    presenter.finish()  # returns by itself after the hold
    assert surface.last("final") == "You can now unplug the key safely."
    other, surface2 = _presenter()
    other.progress("lock", 0.1, "Starting…")
    other.finish()  # no message pending: nothing shown
    assert all(name != "final" for name, _ in surface2.calls)


def test_when_the_window_is_gone_every_question_ends():
    """The GUI stopped: a waiting question gets its close answer, later ones at once."""
    presenter, surface = _presenter()
    thread, out = _ask(presenter.ask_enrolment, "KEY-1", None)
    _wait_for_page(surface, "enrol")
    presenter.stop()
    assert _answered(thread, out) is None
    assert presenter.offer_update(OFFER) == "later"


def test_settle_waits_for_the_pages_calls_to_finish():
    """The window is destroyed only once each call's thread has handed its answer back."""
    presenter, _ = _presenter()
    api = Api(presenter)
    release = threading.Event()

    def bridge():  # pywebview's thread: our method, then the answer back to the page
        api.close_error()
        release.wait(WAIT)

    thread = threading.Thread(target=bridge, daemon=True)
    thread.start()
    threading.Timer(0.2, release.set).start()
    api.settle(timeout=WAIT)
    assert not thread.is_alive()
