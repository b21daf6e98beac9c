"""A throwaway PostgreSQL cluster for the registry tests: initdb into a temporary
directory, postgres on 127.0.0.1 (a free port) and a unix socket in that directory,
stopped and removed at the end of the session.

PostgreSQL refuses to run as root (CI does): then initdb and postgres run as ``nobody``
(through subprocess's ``user=``/``group=``, no su/runuser), on a directory chowned to it.
Everything is bounded: each command has a timeout, the start-up wait too; if the cluster
cannot start, the fixture fails with postgres's own log, never skips.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

__all__ = ["PG_BIN", "PostgresCluster"]


def _pg_bin() -> Path:
    """ESECURE_PG_BIN, else the newest Debian server install (/usr/lib/postgresql/N/bin:
    the `postgresql` package pulls whichever major version the release ships)."""
    if "ESECURE_PG_BIN" in os.environ:
        return Path(os.environ["ESECURE_PG_BIN"])
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    return found[-1].parent if found else Path("/usr/lib/postgresql/15/bin")


def _temp_root() -> Path:
    """A fresh directory that the unprivileged user can reach (every parent o+x)."""
    base = Path(tempfile.gettempdir())
    if os.geteuid() == 0 and not all(
        p.stat().st_mode & stat.S_IXOTH for p in [base, *base.parents]
    ):
        base = Path("/tmp")  # noqa: S108 - world-traversable; the directory itself is 0700
    return Path(tempfile.mkdtemp(prefix="esecure-pg-", dir=base))


PG_BIN = _pg_bin()
START_TIMEOUT = 30.0
_USER = "esecure"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PostgresCluster:
    """A private PostgreSQL cluster; :meth:`new_database` gives each test its own database."""

    def __init__(self) -> None:
        self.root = _temp_root()
        self.port = _free_port()
        self._process: subprocess.Popen[bytes] | None = None
        self._names = itertools.count(1)
        self._as: dict[str, Any] = {}
        if os.geteuid() == 0:  # postgres will not run as root
            nobody = pwd.getpwnam("nobody")
            os.chown(self.root, nobody.pw_uid, nobody.pw_gid)
            self._as = {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}
        self._env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8", "HOME": str(self.root)}

    @property
    def log(self) -> Path:
        """postgres's log (stdout and stderr)."""
        return self.root / "postgres.log"

    def url(self, database: str = "postgres") -> str:
        """A URL for ``database`` over TCP on 127.0.0.1."""
        return f"postgresql://{_USER}@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str) -> None:
        try:
            done = subprocess.run(
                args,
                capture_output=True,
                text=True,
                timeout=120,
                cwd=self.root,
                env=self._env,
                check=False,
                **self._as,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise RuntimeError(f"PostgreSQL test cluster: {args[0]} failed: {exc}") from exc
        if done.returncode != 0:
            raise RuntimeError(
                f"PostgreSQL test cluster: {' '.join(args)} exited {done.returncode}:\n"
                f"{done.stdout}\n{done.stderr}"
            )

    def start(self) -> PostgresCluster:
        """initdb, start postgres, wait (bounded) until it accepts connections."""
        if not (PG_BIN / "postgres").exists():
            raise RuntimeError(
                f"PostgreSQL server binaries not found in {PG_BIN}: run "
                "build_scripts/install-system-deps.sh (package postgresql) or set ESECURE_PG_BIN"
            )
        data = self.root / "data"
        self._run(
            str(PG_BIN / "initdb"),
            "-D",
            str(data),
            "-U",
            _USER,
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
            "--no-instructions",
        )
        with self.log.open("wb") as log:
            self._process = subprocess.Popen(
                [
                    str(PG_BIN / "postgres"),
                    "-D",
                    str(data),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(self.port),
                    "-k",
                    str(self.root),
                    "-c",
                    "fsync=off",
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                    "-c",
                    "max_connections=60",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.root,
                env=self._env,
                **self._as,
            )
        deadline = time.monotonic() + START_TIMEOUT
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            try:
                psycopg.connect(self.url(), connect_timeout=2).close()
            except psycopg.OperationalError as exc:
                last = exc
                time.sleep(0.1)
            else:
                return self
        self.stop()
        raise RuntimeError(
            f"PostgreSQL test cluster did not accept connections within {START_TIMEOUT:.0f} s "
            f"(last error: {last}); its log:\n{self.log.read_text(errors='replace')[-3000:]}"
        )

    def new_database(self) -> str:
        """Create a fresh empty database; its URL."""
        name = f"t{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True, connect_timeout=10) as conn:
            conn.execute(f"CREATE DATABASE {name} STRATEGY FILE_COPY")
        return self.url(name)

    def stop(self) -> None:
        """Stop postgres and remove the cluster. Immediate shutdown (SIGQUIT): the cluster
        is thrown away, so the shutdown checkpoint a fast shutdown writes is wasted time."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGQUIT)
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=30)
        shutil.rmtree(self.root, ignore_errors=True)
