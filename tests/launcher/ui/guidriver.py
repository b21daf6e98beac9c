"""Driving the real windows from inside their process (run under xvfb-run + dbus-run-session).

A driver script calls ``esecure.launcher.ui.gui.run(flow, context, observe=...)``; the
observer starts a thread that uses :class:`Driver` to wait for pages, click (through the
page's own ``element.click()`` or for real with xdotool), type for real, read the page and
take screenshots of the X display (GDK, on the GUI's main loop). Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import faulthandler
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
WAIT = 20.0  # seconds any one wait may take
POLL = 0.05
SETTLE = 0.3  # seconds between screenshots while WebKit paints a page just shown


class DriverError(AssertionError):
    """What the driver waited for did not happen."""


class Driver:
    """The test's hands on one running window."""

    def __init__(self, gui, out: Path) -> None:
        self.gui = gui
        self.window = gui.window
        self.out = out
        self.notes: dict[str, object] = {}
        self._shown: bytes | None = None  # the pixels of the last screenshot

    # --- reading the page
    def js(self, script: str):
        return self.window.evaluate_js(script)

    def page(self) -> str:
        return self.js("document.body.dataset.page") or ""

    def wait_for(self, what: str, check: Callable[[], bool], wait: float = WAIT) -> None:
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if check():
                return
            time.sleep(POLL)
        raise DriverError(f"timed out waiting for {what} (page {self.page()!r})")

    def wait_page(self, name: str) -> None:
        self.wait_for(f"page {name}", lambda: self.page() == name)

    def text(self, element: str) -> str:
        return self.js(f"document.getElementById({json.dumps(element)}).textContent") or ""

    def hidden(self, element: str) -> bool:
        return bool(self.js(f"document.getElementById({json.dumps(element)}).hidden"))

    def dom(self) -> str:
        """The whole document and every input's current value."""
        return self.js(
            "document.documentElement.outerHTML + '\\n' + "
            "Array.from(document.querySelectorAll('input')).map(i => i.value).join('\\n')"
        )

    # --- acting
    def click(self, element: str) -> None:
        """A click through the page's own element.click()."""
        self.js(f"document.getElementById({json.dumps(element)}).click()")

    def set_value(self, element: str, value: str) -> None:
        self.js(f"document.getElementById({json.dumps(element)}).value = {json.dumps(value)}")

    def _window_id(self) -> str:
        title = self.gui.brand.title
        found = subprocess.run(
            ["xdotool", "search", "--onlyvisible", "--name", f"^{title}$"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        ids = found.stdout.split()
        if not ids:
            raise DriverError(f"no visible X window named {title!r}")
        return ids[-1]

    def real_click(self, element: str) -> None:
        """A real pointer click (xdotool) at the middle of the element."""
        rect = json.loads(
            self.js(
                f"(() => {{ const e = document.getElementById({json.dumps(element)}); "
                "e.scrollIntoView({block: 'center'}); "
                "return JSON.stringify(e.getBoundingClientRect()); })()"
            )
        )
        x = round(rect["left"] + rect["width"] / 2)
        y = round(rect["top"] + rect["height"] / 2)
        window = self._window_id()
        subprocess.run(
            ["xdotool", "mousemove", "--window", window, str(x), str(y), "click", "1"],
            check=True,
            timeout=10,
        )

    def real_type(self, text: str) -> None:
        """Real key presses (xdotool) into the focused element."""
        subprocess.run(["xdotool", "type", "--delay", "20", text], check=True, timeout=30)

    def _grab(self):
        """The X display's pixels (a GdkPixbuf), taken on the GUI's loop."""
        from gi.repository import Gdk, GLib  # noqa: PLC0415 - only in the driver's process

        done = threading.Event()
        got: list = []

        def grab() -> bool:
            try:
                root = Gdk.get_default_root_window()
                got.append(
                    Gdk.pixbuf_get_from_window(root, 0, 0, root.get_width(), root.get_height())
                )
            except Exception as exc:  # noqa: BLE001 - reported to the test
                got.append(exc)
            finally:
                done.set()
            return False

        GLib.idle_add(grab)
        if not done.wait(WAIT) or isinstance(got[0], Exception):
            raise DriverError(f"no screenshot: {got}")
        return got[0]

    def screenshot(self, name: str) -> Path:
        """The X display as a PNG in the output directory, once WebKit has painted the
        page: the header's brand colour is on screen (retried, bounded)."""
        colour = bytes.fromhex(self.gui.brand.primary.lstrip("#"))
        deadline = time.monotonic() + WAIT
        before: bytes | None = None
        while True:
            time.sleep(SETTLE)
            pixbuf = self._grab()
            pixels = pixbuf.get_pixels()
            # painted: the brand's colour is on screen, the picture changed since the last
            # screenshot (a new page) and stays the same for one more grab (done painting)
            painted = colour in pixels and pixels != self._shown and pixels == before
            if painted or time.monotonic() > deadline:
                break
            before = pixels
        self._shown = pixels
        path = self.out / f"{name}.png"
        pixbuf.savev(str(path), "png", [], [])
        self.notes.setdefault("screenshots", {})[path.name] = painted
        return path


def setup_logging(out: Path) -> None:
    """Everything logged (DEBUG, pywebview's too) into out/log.txt; SIGUSR2 dumps every
    thread's stack into out/stacks.txt (a hung driver is killed with it first)."""
    stacks = (out / "stacks.txt").open("w")
    faulthandler.register(signal.SIGUSR2, file=stacks, all_threads=True)
    handler = logging.FileHandler(out / "log.txt", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logging.basicConfig(level=logging.DEBUG, handlers=[handler])


def drive(script: Callable[[Driver], None], out: Path, result: dict) -> Callable:
    """The ``observe`` callback: runs ``script`` in a thread; its failure goes in result."""

    def observe(gui) -> None:
        driver = Driver(gui, out)
        result["driver"] = driver.notes

        def body() -> None:
            try:
                script(driver)
            except BaseException:  # noqa: BLE001 - reported to the test, which fails
                result["driver_error"] = traceback.format_exc()
                # unblock the flow: the window's close answers whatever is asked
                gui.presenter.stop()

        threading.Thread(target=body, name="test-driver", daemon=True).start()

    return observe


def write_result(out: Path, result: dict) -> None:
    (out / "result.json").write_text(json.dumps(result, indent=1, default=str))


def add_root_to_path() -> None:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ.setdefault("NO_AT_BRIDGE", "1")


def run_under_display(script: Path, args: list[str], out: Path, timeout: float = 120.0):
    """Run a driver script under a fresh Xvfb and D-Bus session; its result.json."""
    out.mkdir(parents=True, exist_ok=True)
    home = out / "home"
    (home / "Desktop").mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "HOME": str(home),
        "NO_AT_BRIDGE": "1",
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_RUNTIME_DIR": str(out / "run"),
    }
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    (out / "run").mkdir(mode=0o700, exist_ok=True)
    command = [
        "xvfb-run",
        "-a",
        "-s",
        "-screen 0 1024x768x24",
        "dbus-run-session",
        "--",
        sys.executable,
        str(script),
        *args,
        str(out),
    ]
    with subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _dump_and_kill(process.pid)
            stdout, stderr = process.communicate(timeout=30)
            stderr += f"\n(the driver did not finish within {timeout} s: killed)"
    (out / "stdout.txt").write_text(stdout)
    (out / "stderr.txt").write_text(stderr)
    result_file = out / "result.json"
    if not result_file.exists():
        raise AssertionError(
            f"the driver wrote no result (exit {process.returncode}): {stderr[-3000:]}"
        )
    result = json.loads(result_file.read_text())
    result["process_exit"] = process.returncode
    return result


def _dump_and_kill(session: int) -> None:
    """Every process of the driver's session: Python ones dump their stacks, all die."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (
                    os.getsid(int(entry.name)) == session
                    and b"python" in (entry / "cmdline").read_bytes()
                ):
                    os.kill(int(entry.name), signal.SIGUSR2)
            except OSError:
                continue
    time.sleep(1)
    with contextlib.suppress(OSError):
        os.killpg(session, signal.SIGKILL)
