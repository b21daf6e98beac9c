"""Windows without WebView2: the decision, and the flow's questions in message boxes
(a fake MessageBoxW: no Windows here)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from esecure.errors import EnrolmentError, IntegrityError, UpdateError
from esecure.launcher.flow.presenter import UpdateOffer
from esecure.launcher.ui.native import (
    IDYES,
    MB_ICONERROR,
    MB_YESNO,
    WEBVIEW2_KEYS,
    NativePresenter,
    webview2_version,
)

IDNO = 7
NONE = "0.0.0.0"  # noqa: S104 - Microsoft's "not installed" version, not an address
OFFER = UpdateOffer("2.0.0", 2_000_000, (1.0, 17.0), required=False)


def _registry(values):
    return lambda hive, key: values.get((hive, key))


@pytest.mark.parametrize(
    ("values", "version"),
    [
        ({}, None),
        ({WEBVIEW2_KEYS[0]: NONE}, None),
        ({WEBVIEW2_KEYS[0]: "  "}, None),
        ({WEBVIEW2_KEYS[0]: "131.0.2903.70"}, "131.0.2903.70"),
        ({WEBVIEW2_KEYS[1]: "120.0.1"}, "120.0.1"),
        ({WEBVIEW2_KEYS[0]: NONE, WEBVIEW2_KEYS[2]: "125.0"}, "125.0"),
    ],
    ids=["absent", "zero", "blank", "machine", "machine-64", "per-user"],
)
def test_webview2_is_found_where_microsoft_documents_it(values, version):
    """pv under EdgeUpdate's client key, per machine or per user; 0.0.0.0 is none."""
    assert webview2_version(_registry(values)) == version


class Box:
    """A fake MessageBoxW answering from a script."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.shown: list[tuple[str, int]] = []

    def __call__(self, text, title, flags):
        assert title == "e-secure"
        self.shown.append((text, flags))
        return self.answers.pop(0) if self.answers else 1


def _presenter(box, **kw):
    return NativePresenter(box, title="e-secure", lang="en", support_phone="+33 1", **kw)


def test_the_first_box_says_how_to_get_webview2_once():
    """Before the first question: WebView2 is missing, how IT installs it; only once."""
    box = Box(1, IDYES, 1, IDNO)
    presenter = _presenter(box)
    assert presenter.offer_update(OFFER) == "now"
    assert presenter.offer_update(OFFER) == "later"
    texts = [text for text, _ in box.shown]
    assert texts[0].startswith("The key's windows need Microsoft Edge WebView2")
    assert "developer.microsoft.com/microsoft-edge/webview2" in texts[0]
    assert sum("WebView2 Runtime" in t for t in texts) == 1
    assert box.shown[1][1] == MB_YESNO
    assert "version 2.0.0, 2 MB, 1 second to 17 seconds" in texts[1]


def test_a_required_update_is_announced_and_taken():
    """No yes/no for a required release: an OK box, then "now"."""
    box = Box()
    required = UpdateOffer("3.0.0", 2_000_000, (1.0, 17.0), required=True)
    assert _presenter(box).offer_update(required) == "now"
    assert box.shown[-1][0].startswith("A required update will be installed")
    assert box.shown[-1][1] & MB_YESNO == 0


def test_the_form_refusal_is_shown_and_the_form_needs_webview2():
    """The refusal in an error box; the form cannot be a message box: cancelled, said."""
    box = Box()
    refusal = EnrolmentError("identifier or code refused", code="ES203")
    assert _presenter(box).ask_enrolment("KEY-1", refusal) is None
    assert box.shown[1][0].startswith("error ES203")
    assert box.shown[1][1] & MB_ICONERROR
    assert "serial number KEY-1" in box.shown[2][0]


def test_errors_and_notices_are_boxes_with_the_report():
    """An error box holds the whole error, the support phone and the report's path."""
    box = Box()
    presenter = _presenter(box)
    presenter.notice(UpdateError("offline", code="ES520"))
    presenter.show_error(IntegrityError("bad size", code="ES101"), Path("/data/r.json"))
    error_text = box.shown[-1][0]
    assert "error ES101" in error_text and "support: +33 1" in error_text
    assert error_text.endswith("Support report: /data/r.json")
    assert box.shown[1][0].startswith("error ES520")


def test_progress_is_only_logged(caplog):
    """A box per step would stop the flow: progress goes to the log."""
    box = Box()
    with caplog.at_level("INFO"):
        _presenter(box).progress("updates", 0.15, "Looking for updates…")
    assert box.shown == []
    assert "Looking for updates" in caplog.text


def test_the_session_keeps_the_tray_until_removed():
    """The tray starts and stops with the session."""
    events = []

    class Tray:
        def stop(self):
            events.append("stop")

    class Actions:
        ended = threading.Event()

        def wait(self, timeout=None):
            return self.ended.wait(timeout)

    actions = Actions()
    presenter = _presenter(Box(), start_tray=lambda _a: events.append("start") or Tray())
    threading.Timer(0.2, actions.ended.set).start()
    presenter.show_tray(actions)
    assert events == ["start", "stop"]
