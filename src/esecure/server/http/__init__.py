"""The HTTP layer of `esecure serve`: limits, the connection guard, the hardening
middleware, refusal pages, TLS policy and log hygiene (docs/architecture.md, "The
reference server")."""

from esecure.server.http.guard import Audit, BodyTimeoutError, Guard
from esecure.server.http.limits import Limits, connection_budget, raise_open_files_limit
from esecure.server.http.logs import Hygiene, LogBudget
from esecure.server.http.middleware import (
    AUDIT,
    CLIENT_FAULTS,
    LIMITS,
    common_headers,
    harden,
    mark_audited,
)
from esecure.server.http.tls import harden_tls

__all__ = [
    "AUDIT",
    "CLIENT_FAULTS",
    "LIMITS",
    "Audit",
    "BodyTimeoutError",
    "Guard",
    "Hygiene",
    "Limits",
    "LogBudget",
    "common_headers",
    "connection_budget",
    "harden",
    "harden_tls",
    "mark_audited",
    "raise_open_files_limit",
]
