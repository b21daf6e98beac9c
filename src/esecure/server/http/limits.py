"""The server's limits in one place, and the open-files budget they must fit in.

Every number a client could otherwise stretch without bound has a default here: how long
it may take to finish its TLS handshake, to send its headers, to send its body, to read
our answer, how long it may stay idle between requests, how many connections it may hold
open, and how large its headers and body may be. `esecure serve` can change the timeouts
and the connection cap; tests use small values.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RESERVED_FILES", "Limits", "connection_budget", "raise_open_files_limit"]

# Descriptors kept free of connections: the registry, served files being sent, logs,
# the listening sockets, the interpreter's own.
RESERVED_FILES = 64


@dataclass(frozen=True)
class Limits:
    """Timeouts (seconds), counts and sizes the HTTP layer enforces on every client."""

    tls_handshake_timeout: float = 10.0  # TCP accepted -> TLS handshake done
    header_timeout: float = 10.0  # first byte of a request -> end of its headers
    body_timeout: float = 30.0  # end of the headers -> end of the body
    idle_timeout: float = 15.0  # TLS done or last answer sent -> first byte of a request
    send_timeout: float = 30.0  # our answer waits this long for the client to read it
    close_timeout: float = 5.0  # TLS close_notify exchange when closing
    max_connections: int = 1000  # open connections served; past it, a 503 then close
    max_request_line: int = 8190  # bytes of the request line
    max_header_field: int = 8190  # bytes of one header field
    max_headers: int = 100  # header fields per request
    max_body: int = 1024 * 1024  # bytes of a request body (applications may set less)

    def __post_init__(self) -> None:
        for name in (
            "tls_handshake_timeout",
            "header_timeout",
            "body_timeout",
            "idle_timeout",
            "send_timeout",
            "close_timeout",
        ):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)!r}")
        if self.max_connections < 1:
            raise ValueError(f"max_connections must be at least 1, got {self.max_connections}")

    @property
    def refusal_slack(self) -> int:
        """Connections past the cap that still get a 503 page (further ones are dropped
        at once): enough for a clear answer, few enough to keep descriptors bounded."""
        return max(1, self.max_connections // 20)


def raise_open_files_limit() -> int | None:
    """Raise this process's soft limit of open files to its hard limit; the soft limit
    now in force (None where the platform has no such limit, e.g. Windows)."""
    try:
        import resource  # noqa: PLC0415 - POSIX only
    except ImportError:  # pragma: no cover - Windows
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = max(soft, 1 << 20) if soft != resource.RLIM_INFINITY else 1 << 20
    if soft == resource.RLIM_INFINITY or soft >= hard:
        return int(hard if soft == resource.RLIM_INFINITY else soft)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):  # e.g. a container refusing it: keep what we have
        return int(soft)
    return int(hard)


def connection_budget(wanted: int, open_files: int | None) -> int:
    """The connection cap that fits in ``open_files`` descriptors: the connections, the
    503 slack past them, and the reserve (64 plus an eighth) all stay below the limit, so
    that ``accept()`` never fails for want of a descriptor (the flood of ``Too many open
    files`` tracebacks an audit saw)."""
    if open_files is None:
        return wanted
    usable = open_files - RESERVED_FILES - open_files // 8
    fitting = max(1, usable * 20 // 21)  # room for the slack of a twentieth
    return max(1, min(wanted, fitting))
