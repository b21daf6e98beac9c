"""The tray with a real Firefox, in one process: ``python tray_driver.py OUTDIR``.

A headless firefox-esr runs on a live profile and leaves session traces (a local site sets
a cookie and local storage, is cached, Firefox writes its session store); the flow's real
Session holds it; the ui's tray runs each menu entry ("open the site", "diagnostics",
"remove the key"); removing the key runs the tray's end of session (wipe, release, eject
through a recording ejector). Writes OUTDIR/result.json. Started by test_tray.py under
xvfb-run + dbus-run-session.
"""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from tests.launcher.ui.guidriver import (
    Driver,
    add_root_to_path,
    drive,
    setup_logging,
    write_result,
)

add_root_to_path()

from esecure.launcher.flow import machine as m  # noqa: E402
from esecure.launcher.flow.runner import run_flow  # noqa: E402
from esecure.launcher.flow.session import Session  # noqa: E402
from esecure.launcher.host.eject import EjectResult  # noqa: E402
from esecure.launcher.tray.removal import KEPT, trace_names  # noqa: E402
from esecure.launcher.ui.gui import run  # noqa: E402
from tests.launcher.ui.scripted import Steps, context  # noqa: E402

FIREFOX = Path("/usr/lib/firefox-esr/firefox-esr")
USER_JS = """\
user_pref("browser.sessionstore.interval", 500);
user_pref("browser.shell.checkDefaultBrowser", false);
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("toolkit.telemetry.reportingpolicy.firstRun", false);
user_pref("browser.aboutwelcome.enabled", false);
"""
PAGE = b"""<!DOCTYPE html><html><head><title>site</title></head><body>
<form><input name="q" value="x"></form>
<script>localStorage.setItem("seen", "yes"); document.title = "ready";</script>
</body></html>"""
# Written before Firefox starts: traces a real session also leaves (saved logins, a
# certificate exception, form history, a crash report) that a headless visit cannot make.
MADE_BY_HAND = {
    "logins.json": '{"logins": []}',
    "cert_override.txt": "# exception\n",
    "formhistory.sqlite": "",
    "crashes/events/one": "crash",
}
TEMPLATE_FILE = "content-prefs.sqlite"  # a trace name the template ships: it must stay
WANTED = ("cookies.sqlite", "sessionstore-backups", "cache2", "storage")


class Site(http.server.BaseHTTPRequestHandler):
    """A page that sets a cookie, is cached and writes local storage."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Set-Cookie", "session=abc123; Max-Age=86400; Path=/")
        self.send_header("Cache-Control", "max-age=86400")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, *_args) -> None:
        pass


class ReleasingSteps(Steps):
    """The scripted adapters; closing them (the flow's end: the lock released) is noted."""

    def __init__(self, order: list[str], **script) -> None:
        super().__init__(**script)
        self.order = order

    def close(self) -> None:
        self.order.append("release")
        super().close()


class RecordingEjector:
    """An ejector that records what it was asked to eject."""

    def __init__(self, order: list[str]) -> None:
        self.calls: list[list[str]] = []
        self.order = order

    def eject(self, paths):
        self.order.append("eject")
        self.calls.append([str(p) for p in paths])
        return EjectResult("ejected", "/dev/sdz1")


def processes(keep) -> dict[int, str]:
    """Live processes (zombies left out) for which ``keep(pid, cmdline)``: pid -> cmdline."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            state = (entry / "stat").read_text().rpartition(")")[2].split()[0]
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            if state != "Z" and keep(int(entry.name), cmdline):
                found[int(entry.name)] = cmdline
        except OSError:
            continue
    return found


def in_session(sid: int) -> dict[int, str]:
    """The processes of session ``sid`` (Firefox was started in its own)."""
    return processes(lambda pid, _cmd: os.getsid(pid) == sid)


def make_profile(profile: Path) -> None:
    """A live profile: the template's user.js and one template file (its stamp lists
    them), and the traces a headless visit cannot make."""
    profile.mkdir(parents=True)
    (profile / "user.js").write_text(USER_JS)
    (profile / TEMPLATE_FILE).write_text("from the template")
    stamp = {"format": 1, "files": {"user.js": "0", TEMPLATE_FILE: "0"}, "prefs": []}
    (profile / ".e-secure-template.json").write_text(json.dumps(stamp))
    for name, text in MADE_BY_HAND.items():
        (profile / name).parent.mkdir(parents=True, exist_ok=True)
        (profile / name).write_text(text)


def firefox_starter(profile: Path, url: str, home: Path, starts: list[int]):
    """Starts headless firefox-esr on ``profile`` at ``url`` in a session of its own."""
    home.mkdir()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "MOZ_HEADLESS": "1",
        "MOZ_CRASHREPORTER_DISABLE": "1",
        "TMPDIR": str(home),
    }

    def start() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [str(FIREFOX), "--headless", "--no-remote", "--profile", str(profile), url],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        starts.append(proc.pid)
        return proc

    return start


def profile_state(profile: Path, when: str) -> dict[str, object]:
    """Which session traces, kept files and template file the profile holds."""
    return {
        f"traces_{when}": sorted(n for n in trace_names() if (profile / n).exists()),
        f"kept_{when}": sorted(n for n in KEPT if (profile / n).exists()),
        f"template_file_{when}": (profile / TEMPLATE_FILE).exists(),
    }


def main() -> None:
    out = Path(sys.argv[1])
    setup_logging(out)
    result: dict = {}
    key = out / "key"
    cd, data = key / "cd", key / "data"
    profile = data / "profile"
    cd.mkdir(parents=True)
    make_profile(profile)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Site)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    starts: list[int] = []
    start = firefox_starter(profile, url, out / "ffhome", starts)
    firefox = start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not all((profile / n).exists() for n in WANTED):
        time.sleep(0.2)
    result.update(profile_state(profile, "before"))

    order: list[str] = []
    ejector = RecordingEjector(order)
    diagnostics: list[str] = []
    session = Session(
        start,
        firefox,
        diagnostics=lambda: diagnostics.append("run"),
        profile=profile,
        data_dir=data,
    )
    steps = ReleasingSteps(order, start_browser=m.BrowserStarted(firefox.pid))
    steps.gate.set()
    steps.session = session
    os.environ["ESECURE_CD_ROOT"] = str(cd)  # the CD-ROM's root, as the bootstrap says

    def flow(presenter) -> int:
        return run_flow(steps, presenter, lang="en", values={"portal": "Demo Net"})

    def script(d: Driver) -> None:
        d.wait_page("session")
        d.wait_for("the tray icon", lambda: d.gui.tray is not None)
        icon = d.gui.tray.icon
        result["processes_before"] = in_session(firefox.pid)
        icon.menu.items[0](icon)  # open the site: Firefox runs, nothing new starts
        icon.menu.items[1](icon)  # diagnostics
        d.wait_for("the diagnostics", lambda: diagnostics == ["run"])
        result["firefox_running_after_open"] = session.firefox_running()
        icon.menu.items[2](icon)  # remove the key
        d.wait_page("final")
        result["final"] = d.text("final-text")
        d.screenshot("removed")
        d.click("final-close")

    result["exit"] = run(flow, context("en"), ejector=ejector, observe=drive(script, out, result))
    server.shutdown()
    left = set(result.get("processes_before", {})) & set(in_session(firefox.pid))
    result.update(
        starts=len(starts),
        diagnostics=diagnostics,
        firefox_exit=firefox.poll(),
        processes_left=sorted(left),
        using_profile=sorted(processes(lambda _pid, cmd: str(profile) in cmd)),
    )
    result.update(profile_state(profile, "after"))
    result.update(eject_calls=ejector.calls, order=order)
    write_result(out, result)


if __name__ == "__main__":
    try:
        main()
    except BaseException:
        write_result(Path(sys.argv[1]), {"driver_error": traceback.format_exc()})
        raise
