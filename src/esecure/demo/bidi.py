"""A small WebDriver BiDi client for Debian's Firefox ESR (the demo's and the tests').

Firefox is started on a given profile with ``--remote-debugging-port=0``; the WebSocket
address it prints on stderr is read (bounded wait) and a BiDi session is opened on it. The
:class:`Browser` then drives one tab with real input: clicks are pointer actions at an
element's centre, typing is key actions, so the page sees what a user's mouse and keyboard
would send. Every wait is bounded; a failure names what was awaited and shows the end of
Firefox's stderr.

    with Browser.start(profile, home=tmp_path / "home") as browser:
        browser.navigate("https://127.0.0.1:8443/")
        browser.type("#identifier", "alice")
        with browser.expect_load():
            browser.click("#login")
        browser.screenshot(shots / "01-login.png")
        assert browser.text("h1") == "..."

The profile must be a writable directory (see :mod:`tests.firefox_profiles` for one that
holds a certificate enrolled by the project's EST service).
"""

from __future__ import annotations

import base64
import collections
import contextlib
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

__all__ = [
    "FIREFOX",
    "KEYS",
    "BidiError",
    "Browser",
    "firefox_available",
]

FIREFOX = shutil.which("firefox-esr") or "/usr/bin/firefox-esr"
START_TIMEOUT = 60.0  # Firefox to print its BiDi address
COMMAND_TIMEOUT = 30.0  # one BiDi command's answer
LOAD_TIMEOUT = 30.0  # a navigation to finish loading
STOP_TIMEOUT = 15.0  # each step of the shutdown
SCREENSHOT_RETRY = 5.0  # a screenshot taken while the parent catches up with a navigation
# A document that has finished loading: complete, or a network / certificate error page
# (those stay "interactive" for good).
_SETTLED = (
    "document.readyState === 'complete' || (document.readyState === 'interactive'"
    " && /^about:(neterror|certerror)/.test(document.documentURI))"
)
_LISTENING = re.compile(r"WebDriver BiDi listening on (ws://\S+)")

# WebDriver key codes of the keys a test presses by name.
KEYS = {
    "Enter": "\ue007",
    "Tab": "\ue004",
    "Escape": "\ue00c",
    "Backspace": "\ue003",
    "Space": " ",
    "ArrowDown": "\ue015",
    "ArrowUp": "\ue013",
    "ArrowLeft": "\ue012",
    "ArrowRight": "\ue014",
    "Shift": "\ue008",
}


def firefox_available() -> bool:
    """Whether Debian's firefox-esr is installed (``make system-deps`` installs it)."""
    return Path(FIREFOX).exists()


class BidiError(AssertionError):
    """A BiDi command failed or a bounded wait ran out (an AssertionError: a test failure)."""


def _number(value: dict[str, Any]) -> float | int:
    number = value["value"]
    if isinstance(number, str):  # "NaN", "Infinity", "-Infinity", "-0"
        return float(number.replace("Infinity", "inf"))
    return float(number) if isinstance(number, float) else int(number)


_REMOTE: dict[str, Callable[[dict[str, Any]], Any]] = {
    "undefined": lambda _: None,
    "null": lambda _: None,
    "string": lambda v: v["value"],
    "boolean": lambda v: v["value"],
    "number": _number,
    "array": lambda v: [_remote_value(item) for item in v.get("value", [])],
    "object": lambda v: {key: _remote_value(item) for key, item in v.get("value", [])},
}


def _remote_value(value: dict[str, Any]) -> Any:  # noqa: ANN401 - a page's JSON value
    """The Python form of a BiDi RemoteValue (nodes and other objects stay as their dict)."""
    convert = _REMOTE.get(str(value.get("type")))
    return value if convert is None else convert(value)


def _local_value(value: object) -> dict[str, Any]:
    """A BiDi LocalValue for ``value`` (an element reference passes through)."""
    if isinstance(value, dict) and "sharedId" in value:
        return {"sharedId": value["sharedId"]}
    if value is None:
        return {"type": "null"}
    if isinstance(value, bool):
        return {"type": "boolean", "value": value}
    if isinstance(value, int | float):
        return {"type": "number", "value": value}
    if isinstance(value, str):
        return {"type": "string", "value": value}
    if isinstance(value, list | tuple):
        return {"type": "array", "value": [_local_value(v) for v in value]}
    raise TypeError(f"cannot pass {type(value).__name__} to the page")


def spawn(
    argv: list[str],
    env: dict[str, str],
    on_line: Callable[[str], None],
    *,
    merge: bool,
    on_end: Callable[[], None] | None = None,
) -> tuple[subprocess.Popen[bytes], threading.Thread]:
    """Start ``argv`` in its own process group (its whole tree can be signalled), each
    line of its stderr (its stdout too if ``merge``, else stdout discarded) handed to
    ``on_line`` by a thread, ``on_end`` called when the output ends."""
    process = subprocess.Popen(
        argv,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE if merge else subprocess.DEVNULL,
        stderr=subprocess.STDOUT if merge else subprocess.PIPE,
        start_new_session=True,
    )
    stream = process.stdout if merge else process.stderr

    def drain() -> None:
        for raw in stream or ():
            on_line(raw.decode("utf-8", "replace").rstrip())
        if on_end is not None:
            on_end()

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    return process, reader


def headless_env(home: Path) -> dict[str, str]:
    """The environment of a headless Firefox with its own HOME (made) and TMPDIR."""
    home.mkdir(parents=True, exist_ok=True)
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "TMPDIR": str(home),
        "MOZ_HEADLESS": "1",
        "MOZ_CRASHREPORTER_DISABLE": "1",
        "LANG": os.environ.get("LANG", "C.UTF-8"),
    }


class _Firefox:
    """The Firefox process: started in its own process group, stderr drained by a thread."""

    def __init__(
        self, profile: Path, home: Path, extra_args: list[str], executable: str = FIREFOX
    ) -> None:
        env = headless_env(home)
        command = [
            executable,
            "--headless",
            "--no-remote",
            "--remote-debugging-port=0",
            "--profile",
            str(profile),
            *extra_args,
        ]
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=60)
        self._address: str | None = None
        self._found = threading.Event()
        self.process, self._reader = spawn(
            command, env, self._line, merge=False, on_end=self._found.set
        )  # the output closed: Firefox is gone

    def _line(self, line: str) -> None:
        self.stderr_tail.append(line)
        match = _LISTENING.search(line)
        if match and self._address is None:
            self._address = match.group(1)
            self._found.set()

    def address(self, timeout: float) -> str:
        """The ``ws://host:port`` Firefox printed, waiting at most ``timeout`` seconds."""
        self._found.wait(timeout)
        if self._address is None:
            state = "exited" if self.process.poll() is not None else "still starting"
            raise BidiError(
                f"Firefox printed no 'WebDriver BiDi listening' line within {timeout:.0f} s "
                f"({state}); its stderr ended with:\n" + self.tail()
            )
        return self._address

    def tail(self) -> str:
        """The last lines Firefox wrote on stderr."""
        return "\n".join(self.stderr_tail)

    def stop(self, *, graceful: bool = True, timeout: float = STOP_TIMEOUT) -> None:
        """Wait for a clean exit (if ``graceful``: Firefox was asked to close), then
        SIGTERM, then SIGKILL the whole process group; each step bounded."""
        steps = (
            (None, signal.SIGTERM, signal.SIGKILL) if graceful else (signal.SIGTERM, signal.SIGKILL)
        )
        for sig in steps:
            if sig is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, sig)
            try:
                self.process.wait(timeout)
                break
            except subprocess.TimeoutExpired:
                continue
        if sig is not signal.SIGKILL:  # the content processes may outlive the parent
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        self._reader.join(timeout)
        if self.process.stderr is not None:
            self.process.stderr.close()


class _Attached:
    """A Firefox this module did not start: its output is the starter's, its process too."""

    def __init__(self, tail: Callable[[], str]) -> None:
        self.tail = tail

    def stop(self, *, graceful: bool = True, timeout: float = STOP_TIMEOUT) -> None:  # noqa: ARG002 - _Firefox's signature
        return None


class Browser:
    """A BiDi session on one Firefox; commands act on :attr:`context` (the current tab)."""

    def __init__(
        self,
        firefox: _Firefox | _Attached,
        socket: ClientConnection,
        connection: contextlib.ExitStack,
    ) -> None:
        self._firefox = firefox
        self._socket = socket
        self._connection = connection
        self._ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []
        self.context = ""

    # --- life cycle ----------------------------------------------------------------------

    @classmethod
    def start(
        cls,
        profile: Path,
        *,
        home: Path,
        width: int = 1280,
        height: int = 900,
        extra_args: list[str] | None = None,
        timeout: float = START_TIMEOUT,
        executable: str | Path = FIREFOX,
    ) -> Browser:
        """Start headless Firefox (``executable``: Debian's, or an image's) on ``profile``
        (HOME and TMPDIR in ``home``), open a BiDi session, and select its first tab at
        ``width`` x ``height`` CSS pixels. Pass ``--remote-allow-system-access`` in
        ``extra_args`` to use :meth:`chrome_context`."""
        firefox = _Firefox(Path(profile), Path(home), extra_args or [], str(executable))
        try:
            address = firefox.address(timeout)
        except BaseException:
            firefox.stop(graceful=False)
            raise
        return cls._open(firefox, address, width, height, timeout)

    @classmethod
    def attach(
        cls,
        address: str,
        *,
        tail: Callable[[], str] = str,
        width: int = 1280,
        height: int = 900,
        timeout: float = START_TIMEOUT,
    ) -> Browser:
        """Open a BiDi session on a Firefox another program started with
        ``--remote-debugging-port`` (``address``: ``ws://127.0.0.1:PORT``); :meth:`close`
        asks it to close (``browser.close``) and never signals its process, which is the
        other program's. ``tail()``: what to show when something fails (that program's
        output)."""
        return cls._open(_Attached(tail), address, width, height, timeout)

    @classmethod
    def _open(
        cls, firefox: _Firefox | _Attached, address: str, width: int, height: int, timeout: float
    ) -> Browser:
        try:
            connection = contextlib.ExitStack()
            socket = connection.enter_context(
                connect(
                    f"{address}/session",
                    proxy=None,
                    open_timeout=timeout,
                    close_timeout=STOP_TIMEOUT,
                    max_size=None,
                    compression=None,
                )
            )
        except BaseException:
            firefox.stop(graceful=False)
            raise
        browser = cls(firefox, socket, connection)
        try:
            browser.command("session.new", {"capabilities": {"alwaysMatch": {}}})
            browser.command(
                "session.subscribe",
                {"events": ["browsingContext.load", "browsingContext.contextCreated"]},
            )
            browser.context = browser.contexts()[0]["context"]
            browser.command(
                "browsingContext.setViewport",
                {"context": browser.context, "viewport": {"width": width, "height": height}},
            )
        except BaseException:
            browser.close()
            raise
        return browser

    def close(self) -> None:
        """End the session and Firefox: ``browser.close``, then the process (bounded)."""
        asked = False
        try:
            with contextlib.suppress(BidiError, ConnectionClosed, OSError, TimeoutError):
                self.command("browser.close", {}, timeout=STOP_TIMEOUT)
                asked = True
            with contextlib.suppress(ConnectionClosed, OSError, TimeoutError):
                self._connection.close()
        finally:
            self._firefox.stop(graceful=asked)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def stderr_tail(self) -> str:
        """The last lines Firefox wrote on stderr (for a failure's message)."""
        return self._firefox.tail()

    # --- the protocol --------------------------------------------------------------------

    def _receive(self, deadline: float) -> dict[str, Any]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        message: dict[str, Any] = json.loads(self._socket.recv(timeout=remaining))
        if message.get("type") == "event":
            self.events.append(message)
        return message

    def command(
        self, method: str, params: dict[str, Any], *, timeout: float = COMMAND_TIMEOUT
    ) -> dict[str, Any]:
        """Send one command and return its result; events met meanwhile go to
        :attr:`events`. A BiDi error or no answer within ``timeout`` raises BidiError."""
        ident = next(self._ids)
        self._socket.send(json.dumps({"id": ident, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            try:
                message = self._receive(deadline)
            except TimeoutError:
                raise BidiError(f"{method}: no answer within {timeout:.0f} s") from None
            except ConnectionClosed:
                raise BidiError(
                    f"{method}: Firefox closed the connection; stderr:\n{self.stderr_tail}"
                ) from None
            if message.get("id") != ident:
                continue
            if message.get("type") == "error":
                raise BidiError(
                    f"{method}: {message.get('error')}: {message.get('message', '')}".strip()
                )
            result: dict[str, Any] = message.get("result", {})
            return result

    def wait_event(
        self,
        method: str,
        matches: Callable[[dict[str, Any]], bool],
        *,
        since: int = 0,
        timeout: float = LOAD_TIMEOUT,
    ) -> dict[str, Any]:
        """The first event ``method`` (from :attr:`events`\\ [since:] on) whose params
        ``matches``, waiting at most ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        seen = since
        while True:
            for event in self.events[seen:]:
                if event.get("method") == method and matches(event.get("params", {})):
                    return event
            seen = len(self.events)
            try:
                self._receive(deadline)
            except TimeoutError:
                raise BidiError(f"no {method} event within {timeout:.0f} s") from None

    # --- tabs ----------------------------------------------------------------------------

    def contexts(self) -> list[dict[str, Any]]:
        """The top-level browsing contexts (tabs): ``context``, ``url``, ``children``."""
        tree: list[dict[str, Any]] = self.command("browsingContext.getTree", {"maxDepth": 0})[
            "contexts"
        ]
        return tree

    def chrome_context(self) -> str:
        """The first browser window's chrome context (``browser.xhtml``): there
        :meth:`evaluate` runs privileged code (``Services``, ``ChromeUtils``), as
        ``about:`` pages do. Firefox must have been started with
        ``--remote-allow-system-access``."""
        tree = self.command("browsingContext.getTree", {"maxDepth": 0, "moz:scope": "chrome"})
        windows = [c for c in tree["contexts"] if c.get("url", "").endswith("/browser.xhtml")]
        if not windows:
            raise BidiError(f"no chrome browser window in {tree['contexts']}")
        return str(windows[0]["context"])

    def use(self, context: str) -> None:
        """Make ``context`` the tab later commands act on."""
        self.context = context

    @contextlib.contextmanager
    def expect_new_tab(self, *, timeout: float = LOAD_TIMEOUT) -> Iterator[dict[str, str]]:
        """Within the block something opens a tab: afterwards it is the current tab, loaded
        (the yielded dict gets its ``context``)."""
        mark = len(self.events)
        before = {c["context"] for c in self.contexts()}
        opened: dict[str, str] = {}
        yield opened
        event = self.wait_event(
            "browsingContext.contextCreated",
            lambda p: p.get("context") not in before and p.get("parent") is None,
            since=mark,
            timeout=timeout,
        )
        context = event["params"]["context"]
        self.use(context)
        self.wait_event("browsingContext.load", lambda p: p.get("context") == context, since=mark)
        self.wait_ready(timeout=timeout)
        opened["context"] = context

    # --- navigation ----------------------------------------------------------------------

    def navigate(self, url: str, *, timeout: float = LOAD_TIMEOUT) -> str:
        """Load ``url`` in the current tab and wait until it is complete; the URL reached.

        A page Firefox cannot load (e.g. a refused TLS handshake) ends on its error page,
        whose address is :meth:`document_uri`'s ``about:neterror?...``.
        """
        try:
            result = self.command(
                "browsingContext.navigate",
                {"context": self.context, "url": url, "wait": "complete"},
                timeout=timeout,
            )
        except BidiError as failed:
            # Firefox reports a page it could not load as a failed navigation, and shows
            # its error page: that page is where the navigation ended (error pages stay
            # "interactive": their readyState never reaches "complete").
            try:
                self.wait_ready(timeout=min(timeout, 10))
                reached = self.document_uri()
            except BidiError:
                raise failed from None
            if not reached.startswith(("about:neterror", "about:certerror")):
                raise
            return self.url
        return str(result.get("url", url))

    def back(self, *, timeout: float = LOAD_TIMEOUT) -> None:
        """The browser's Back button: the previous page of the tab's history, shown (from
        the network, or from the back-forward cache, which fires no load event)."""
        with self.expect_load(timeout=timeout, load_event=False):
            self.command("browsingContext.traverseHistory", {"context": self.context, "delta": -1})

    @contextlib.contextmanager
    def expect_load(
        self, *, timeout: float = LOAD_TIMEOUT, load_event: bool = True
    ) -> Iterator[None]:
        """The block (a click, a key press) makes the current tab show another document:
        wait until it is there and settled.

        The document before the block is marked with a script property; the wait ends
        when the document in the tab lacks that mark and is complete (or is an error page,
        which never gets past "interactive"), then, unless ``load_event`` is False or it
        is an error page (neither fires one), when Firefox has reported its load: only
        then does the parent process (screenshots) know the new document too."""
        mark = f"m{next(self._ids)}"
        seen = len(self.events)
        context = self.context
        self.evaluate(f"window.__bidiMark = {mark!r}")
        yield
        self.wait_until(f"window.__bidiMark !== {mark!r} && ({_SETTLED})", timeout=timeout)
        if load_event and self.evaluate("document.readyState") == "complete":
            self.wait_event(
                "browsingContext.load",
                lambda p: p.get("context") == context,
                since=seen,
                timeout=timeout,
            )

    def wait_ready(self, *, timeout: float = LOAD_TIMEOUT) -> None:
        """Wait until the current document is settled: ``complete``, or an error page."""
        self.wait_until(_SETTLED, timeout=timeout)

    def wait_until(
        self, expression: str, *, timeout: float = LOAD_TIMEOUT, interval: float = 0.1
    ) -> Any:  # noqa: ANN401
        """Evaluate ``expression`` until it is truthy (at most ``timeout`` s); its value.
        Errors while a document is replaced count as "not yet"."""
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            try:
                last = self.evaluate(expression)
            except BidiError as exc:
                last = exc
            else:
                if last:
                    return last
            time.sleep(interval)
        raise BidiError(f"{expression!r} still not true after {timeout:.0f} s (last: {last!r})")

    # --- scripts -------------------------------------------------------------------------

    def _result(self, answer: dict[str, Any], what: str) -> Any:  # noqa: ANN401
        if answer.get("type") == "exception":
            details = answer.get("exceptionDetails", {})
            raise BidiError(f"{what}: the page threw {details.get('text', details)}")
        return _remote_value(answer["result"])

    def evaluate(self, expression: str, *, context: str | None = None) -> Any:  # noqa: ANN401
        """The value of a JavaScript expression in the current tab (promises awaited)."""
        answer = self.command(
            "script.evaluate",
            {
                "expression": expression,
                "target": {"context": context or self.context},
                "awaitPromise": True,
                "resultOwnership": "none",
            },
        )
        return self._result(answer, expression)

    def call(self, function: str, *args: object) -> Any:  # noqa: ANN401
        """Call a JavaScript function declaration with ``args`` (element references from
        :meth:`find` allowed) in the current tab; its value."""
        answer = self.command(
            "script.callFunction",
            {
                "functionDeclaration": function,
                "arguments": [_local_value(a) for a in args],
                "target": {"context": self.context},
                "awaitPromise": True,
                "resultOwnership": "none",
            },
        )
        return self._result(answer, function)

    # --- elements ------------------------------------------------------------------------

    def find_all(self, css: str) -> list[dict[str, Any]]:
        """Element references (``sharedId``) for every node matching ``css``."""
        nodes: list[dict[str, Any]] = self.command(
            "browsingContext.locateNodes",
            {"context": self.context, "locator": {"type": "css", "value": css}},
        )["nodes"]
        return nodes

    def find(self, css: str) -> dict[str, Any]:
        """The one element matching ``css`` (a BidiError if none or several)."""
        nodes = self.find_all(css)
        if len(nodes) != 1:
            raise BidiError(f"{css!r} matches {len(nodes)} elements on {self.url}")
        return nodes[0]

    def exists(self, css: str) -> bool:
        """Whether some element matches ``css``."""
        return bool(self.find_all(css))

    def text(self, css: str = "body") -> str:
        """The visible text of the one element matching ``css``."""
        return str(self.call("e => e.innerText", self.find(css)))

    def attribute(self, css: str, name: str) -> str | None:
        """An attribute of the one element matching ``css``."""
        value = self.call("(e, n) => e.getAttribute(n)", self.find(css), name)
        return None if value is None else str(value)

    def visible(self, css: str) -> bool:
        """Whether the one element matching ``css`` is rendered: it has a box and no
        ancestor hides it (``display``, ``visibility``, a closed ``<details>``)."""
        return bool(
            self.call(
                "e => e.checkVisibility({visibilityProperty: true, contentVisibilityAuto: true})",
                self.find(css),
            )
        )

    # --- input ---------------------------------------------------------------------------

    def _perform(self, actions: list[dict[str, Any]]) -> None:
        self.command("input.performActions", {"context": self.context, "actions": actions})

    def click(self, target: str | dict[str, Any]) -> None:
        """A real left click at the centre of an element (CSS selector or reference),
        scrolled into view first."""
        element = self.find(target) if isinstance(target, str) else target
        self.call("e => e.scrollIntoView({block: 'center', inline: 'center'})", element)
        origin = {"type": "element", "element": {"sharedId": element["sharedId"]}}
        self._perform(
            [
                {
                    "type": "pointer",
                    "id": "mouse",
                    "parameters": {"pointerType": "mouse"},
                    "actions": [
                        {"type": "pointerMove", "x": 0, "y": 0, "origin": origin},
                        {"type": "pointerDown", "button": 0},
                        {"type": "pointerUp", "button": 0},
                    ],
                }
            ]
        )

    def keys(self, text: str) -> None:
        """Key presses for each character of ``text`` (``KEYS`` values for special keys),
        sent to whatever has the focus."""
        actions: list[dict[str, Any]] = []
        for char in text:
            actions += [{"type": "keyDown", "value": char}, {"type": "keyUp", "value": char}]
        self._perform([{"type": "key", "id": "keyboard", "actions": actions}])

    def press(self, key: str) -> None:
        """Press one named key (see ``KEYS``), e.g. ``press("Enter")``."""
        self.keys(KEYS[key])

    def type(self, css: str, text: str, *, clear: bool = True) -> None:
        """Click into a field and type ``text`` with the keyboard (emptied first)."""
        element = self.find(css)
        if clear:
            self.call("e => { e.value = ''; }", element)
        self.click(element)
        self.keys(text)

    # --- what the page shows -------------------------------------------------------------

    @property
    def url(self) -> str:
        """The current tab's URL (``location.href``)."""
        return str(self.evaluate("location.href"))

    @property
    def title(self) -> str:
        """The current document's title."""
        return str(self.evaluate("document.title"))

    def document_uri(self) -> str:
        """The document's own address: ``about:neterror?e=...`` on a network error page,
        where ``location.href`` still shows the URL that was asked for."""
        return str(self.evaluate("document.documentURI"))

    def pdf_viewer(self, *, timeout: float = LOAD_TIMEOUT) -> tuple[int, str]:
        """(page count, text of the first rendered page) of the PDF shown in the current tab
        by Firefox's built-in viewer (pdf.js), once its text layer is drawn."""
        self.wait_until("window.PDFViewerApplication?.pdfDocument?.numPages > 0", timeout=timeout)
        text = self.wait_until(
            "document.querySelector('.page .textLayer')?.textContent", timeout=timeout
        )
        pages = self.evaluate("PDFViewerApplication.pdfDocument.numPages")
        return int(pages), str(text)

    def screenshot(self, path: Path, *, full_page: bool = True) -> Path:
        """The current tab as a PNG file at ``path`` (the whole document by default).

        Until Firefox has reported a new document's load, the parent process may still
        hold the previous one: captureScreenshot then fails on a null ``documentElement``
        or a 0 x 0 size (one time in three when taken as soon as the content side was
        ready). :meth:`expect_load` waits for that report; after :meth:`back` (no load
        event from the back-forward cache) such failures are retried for up to
        ``SCREENSHOT_RETRY`` s."""
        params = {"context": self.context, "origin": "document" if full_page else "viewport"}
        deadline = time.monotonic() + SCREENSHOT_RETRY
        while True:
            try:
                answer = self.command("browsingContext.captureScreenshot", params)
                break
            except BidiError as exc:
                transient = "documentElement is null" in str(exc) or "width: 0" in str(exc)
                if not transient or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(answer["data"]))
        return path
