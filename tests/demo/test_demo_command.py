"""`esecure demo`: its work directory, its options, and Ctrl-C in the middle of a run.

The whole run's outcomes are asserted by tests/launcher/test_end_to_end.py (the demo's key
life on the session's served image); here the command itself runs for real up to the
moment the key's launcher is running, and is interrupted as a terminal's Ctrl-C would:
every process it started must be gone.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from esecure.cli import cli
from esecure.demo.run import MARKER, prepare_work
from tests.signals import sigint_for_children

RUN_TIMEOUT = 600.0  # build, publish and the launcher's start on a loaded machine
STOP_TIMEOUT = 120.0


def test_a_foreign_non_empty_directory_is_refused(tmp_path):
    """A directory the demo did not make is never emptied: ES970, nothing removed."""
    (tmp_path / "mine.txt").write_text("keep me")
    result = CliRunner().invoke(cli, ["--lang", "en", "demo", str(tmp_path)])
    assert result.exit_code == 1
    assert "error ES970" in result.output
    assert "was not made by `esecure demo`" in result.output
    assert (tmp_path / "mine.txt").read_text() == "keep me"
    assert not (tmp_path / MARKER).exists()


def test_a_previous_demo_directory_is_emptied(tmp_path):
    """A work directory the demo made starts over (a read-only CD tree included)."""
    work = tmp_path / "work"
    prepare_work(work)
    tree = work / "cd" / "app"
    tree.mkdir(parents=True)
    (tree / "product.json").write_text("{}")
    tree.chmod(0o555)
    prepare_work(work)
    assert sorted(p.name for p in work.iterdir()) == [MARKER]


def test_interactive_needs_a_display(tmp_path, monkeypatch):
    """--interactive without DISPLAY: a usage error before anything starts."""
    for name in ("DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(cli, ["demo", "--interactive", str(tmp_path / "w")])
    assert result.exit_code == 2
    assert "--interactive needs a display" in result.output
    assert not (tmp_path / "w").exists()


def _processes_naming(text: str) -> list[str]:
    """Every live process whose command line names ``text``: pid and command."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in command:
            found.append(f"{entry.name}: {command[:200]}")
    return found


@pytest.mark.slow
def test_ctrl_c_mid_run_stops_every_process(tmp_path):
    """SIGINT to the demo's process group (a terminal's Ctrl-C) while the key's launcher
    runs: exit 130, the summary printed, and no process left that the demo started (the
    server, the build, the launcher, Firefox: each names the work directory)."""
    work = tmp_path / "work"
    env = {
        **os.environ,
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        "PYTHONUNBUFFERED": "1",
    }
    for name in ("DISPLAY", "WAYLAND_DISPLAY"):
        env.pop(name, None)
    with sigint_for_children():  # as a terminal's foreground job has it
        demo = subprocess.Popen(
            [sys.executable, "-m", "esecure", "--lang", "en", "demo", str(work)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    lines: queue.Queue[str | None] = queue.Queue()  # None: the output ended
    said: list[str] = []

    def read() -> None:
        assert demo.stdout is not None
        for raw in demo.stdout:
            lines.put(raw.decode("utf-8", "replace").rstrip())
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + RUN_TIMEOUT
    try:
        while time.monotonic() < deadline:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            if line is None:
                break
            said.append(line)
            if " key | " in line:
                break
        assert any(" key | " in line for line in said), "\n".join(said[-40:])
        assert _processes_naming(str(work)), "nothing of the demo is running"
        os.killpg(demo.pid, signal.SIGINT)
        code = demo.wait(timeout=STOP_TIMEOUT)
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait(timeout=STOP_TIMEOUT)
    while (rest := lines.get(timeout=STOP_TIMEOUT)) is not None:
        said.append(rest)
    assert demo.stdout is not None
    demo.stdout.close()
    output = "\n".join(said)
    assert code == 130, output[-3000:]
    assert "interrupted: every process the demo started is stopped" in output
    assert "Summary of the demo:" in output
    assert "FAIL " in output  # the step under way when Ctrl-C came
    assert _processes_naming(str(work)) == []
