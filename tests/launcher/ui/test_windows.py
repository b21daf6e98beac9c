"""The real windows under Xvfb (pywebview, GTK/WebKit2GTK), one process per scenario.

Each scenario runs ``esecure.launcher.ui.gui.run`` with the flow's real runner over
scripted adapters (windows_driver.py) and drives it like a user: clicks through the
page's own ``element.click()`` and real ones (xdotool), real typing, a screenshot of every
window once WebKit has painted it, in the test's output directory (``tmp_path``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image

from tests.launcher.ui.guidriver import run_under_display
from tests.launcher.ui.scripted import PRODUCT, RIGHT, WRONG

DRIVER = Path(__file__).with_name("windows_driver.py")
needs_display = pytest.mark.skipif(
    not (shutil.which("xvfb-run") and shutil.which("dbus-run-session") and shutil.which("xdotool")),
    reason="xvfb, dbus and xdotool are installed by install-system-deps",
)
pytestmark = [pytest.mark.slow, needs_display]


def _scenario(name: str, factory) -> tuple[dict, Path]:
    out = factory.mktemp(name)
    result = run_under_display(DRIVER, [name], out)
    assert "driver_error" not in result, result["driver_error"]
    assert result["process_exit"] == 0, (out / "stderr.txt").read_text()[-3000:]
    return result, out


@pytest.fixture(scope="module")
def journey(tmp_path_factory):
    """Progress, offer (later), the form refused then accepted, the session, the tray."""
    return _scenario("journey", tmp_path_factory)


@pytest.fixture(scope="module")
def error(tmp_path_factory):
    """In French: a required offer, then ES101 with its report saved."""
    return _scenario("error", tmp_path_factory)


@pytest.fixture(scope="module")
def cancel(tmp_path_factory):
    """The form cancelled: the last message stays until closed."""
    return _scenario("cancel", tmp_path_factory)


def _painted(path: Path, colour: str = PRODUCT["colours"]["primary"]) -> bool:
    """The screenshot shows the window: the brand's colour and many others."""
    primary = tuple(bytes.fromhex(colour.lstrip("#")))
    with Image.open(path) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20) or []
    return len(colours) > 20 and any(colour == primary for _count, colour in colours)


@pytest.mark.parametrize(
    ("scenario", "windows"),
    [
        ("journey", ["progress", "offer", "enrol", "enrol-refused", "session"]),
        ("error", ["offer-required", "error"]),
        ("cancel", ["final"]),
    ],
)
def test_each_window_renders_a_screenshot(scenario, windows, request):
    """Every window was painted by WebKit and saved as a screenshot in the output dir."""
    result, out = request.getfixturevalue(scenario)
    assert sorted(result["driver"]["screenshots"]) == sorted(f"{w}.png" for w in windows)
    for window in windows:
        assert _painted(out / f"{window}.png"), window


def test_the_progress_window_shows_the_first_step_at_once(journey):
    """The first window shows the flow's first text (the flow waits on its first step)."""
    result, _ = journey
    assert result["driver"]["first_text"] == "Checking the key…"


def test_the_offer_shows_size_time_and_a_real_click_on_later_skips_the_update(journey):
    """A real pointer click on "Later": nothing downloaded, the flow goes on."""
    result, _ = journey
    assert result["driver"]["offer"] == [
        "Version 2.1.0",
        "Download: 12 MB",
        "Estimated time: 4 seconds to 2 minutes",
    ]
    assert result["driver"]["later_hidden"] is False
    assert "apply_update" not in result["calls"]
    assert "check_certificate" in result["calls"]


def test_a_required_offer_has_no_later(error):
    """A required release: no "later" button; "update now" answers now."""
    result, _ = error
    assert result["driver"]["later_hidden"] is True
    assert result["driver"]["offer_kind"].startswith("Cette mise à jour est obligatoire")
    assert result["answers"] == ["now"]


def test_the_enrolment_form_submits_and_shows_the_refusal_inline(journey):
    """Submitted, refused (ES203 shown on the form), typed again for real, accepted."""
    result, _ = journey
    notes = result["driver"]
    assert notes["serial"] == "KEY-0042"
    assert notes["refusal_hidden_first"] is True
    assert notes["refusal"] == "Error ES203 — Wrong activation code"
    assert notes["typed_length"] == len(RIGHT)  # real key presses reached the field
    assert result["enrolments"] == ["alice", "alice"]
    assert result["calls"].count("enrol") == 2
    assert result["exit"] == 0


def test_attack_the_activation_code_is_never_left_in_the_page_or_the_log(journey):
    """After each submit, neither code is anywhere in the DOM (markup or field values),
    and the process's whole DEBUG log (pywebview's included) holds neither."""
    result, out = journey
    assert result["driver"]["wrong_code_in_dom"] is False
    assert result["driver"]["right_code_in_dom"] is False
    log = (out / "log.txt").read_text()
    assert "enrol" in log  # the log did record the flow
    assert WRONG not in log and RIGHT not in log


def test_the_session_window_and_the_tray_run_their_actions(journey):
    """The tray's entries (named in the user's language) and the window's button reach
    the session: open the site, diagnostics, remove the key."""
    result, _ = journey
    assert result["driver"]["tray_items"] == ["Open Demo Net", "Diagnostics", "Remove the key"]
    assert result["session"] == ["open_site", "diagnostics", "remove_key"]
    assert result["driver"]["session_text"].startswith("Demo Net is open in the key's browser")


def test_the_error_window_shows_code_cause_action_support_and_saves_the_report(error):
    """ES101 in French with its support phone; "save the report" writes it on the desktop;
    a real click on "close" ends the flow with the error's exit code."""
    result, out = error
    shown = result["driver"]["error"]
    assert shown["error-code"] == "Erreur ES101"
    assert shown["error-title"] == "La clé est endommagée"
    assert shown["error-detail"] == "app/x.pyc: size 12, expected 14"
    assert shown["error-support"] == "Assistance : +33 1 23 45 67 89"
    saved = list((out / "home" / "Desktop").glob("e-secure-report-ES101-*.txt"))
    assert len(saved) == 1
    assert result["driver"]["saved"] == f"Rapport enregistré : {saved[0]}"
    assert "error ES101" in saved[0].read_text()
    assert result["exit"] == 1


def test_a_cancelled_enrolment_leaves_its_message_until_closed(cancel):
    """The flow's last message stays on screen (not a window that flashes and vanishes)."""
    result, _ = cancel
    assert result["driver"]["final"].startswith("Enrolment cancelled")
    assert result["exit"] == 1


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """The real `e-secure` on a small signed key without a certificate."""
    return _scenario("app", tmp_path_factory)


def test_e_secure_opens_these_windows_and_its_flow_asks_for_enrolment(app):
    """`e-secure` with no argument runs its flow in these windows (GuiEntry): the key's
    own adapters reach the enrolment form, which shows the key's serial; cancelled: 1."""
    result, out = app
    assert result["driver"]["serial"] == "KEY-0001"
    assert result["driver"]["title"] == "e-secure"
    assert _painted(out / "app-enrol.png", colour="#1f4e79")  # no colours: the default
    assert result["exit"] == 1
