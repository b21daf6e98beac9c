"""What diagnostics check and what they answer: rows, limits, the key being checked."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from esecure.errors import CATALOGUE, Text

if TYPE_CHECKING:
    from esecure_onkey.boot import Choice

__all__ = [
    "STATUSES",
    "Diagnosis",
    "Endpoint",
    "Limits",
    "Row",
    "Status",
    "Subject",
    "advice_of",
    "endpoints",
]

Status = Literal["ok", "warn", "fail", "skip"]
STATUSES: tuple[Status, ...] = ("ok", "warn", "fail", "skip")


@dataclass(frozen=True)
class Row:
    """One check's answer: what was checked, how it went, what happened, what to do.

    ``check`` is a stable identifier (``tls:enrolment``) for scripts and support; ``title``
    what the user reads; ``detail`` the facts (hosts, issuers, numbers; not translated);
    ``advice`` what to do when the status is not ok; ``code`` the catalogue entry the
    condition answers (docs/errors.md), when there is one.
    """

    check: str
    title: Text
    status: Status
    detail: str
    advice: Text | None = None
    code: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The row for the report's diagnostics.json."""
        return {
            "check": self.check,
            "title": {"en": self.title.en, "fr": self.title.fr},
            "status": self.status,
            "detail": self.detail,
            "advice": None if self.advice is None else {"en": self.advice.en, "fr": self.advice.fr},
            "code": self.code,
        }


def advice_of(code: str, extra: Text | None = None) -> Text:
    """The catalogue action of ``code``, after ``extra`` when given."""
    action = CATALOGUE[code].action
    if extra is None:
        return action
    return Text(en=f"{extra.en} {action.en}", fr=f"{extra.fr} {action.fr}")


@dataclass(frozen=True)
class Limits:
    """Every bound of a diagnostics run, with its default in one place."""

    dns_timeout: float = 5.0
    connect_timeout: float = 5.0
    tls_timeout: float = 8.0  # handshake plus one HEAD request
    # all network checks together: a lookup, a connection (at most 3 addresses) and
    # three handshakes of one server fit in it
    network_deadline: float = 60.0
    image_deadline: float = 300.0  # the full hash: ~400 MB at 30 MB/s with room to spare
    skew_warn_seconds: float = 120.0  # TLS and EST tolerate little; TUF expiry less
    skew_fail_seconds: float = 3600.0
    free_warn_bytes: int = 16 * 1024 * 1024  # the budget's allowance for logs
    free_fail_bytes: int = 1024 * 1024


@dataclass(frozen=True)
class Endpoint:
    """A server the key talks to: its role (portal, enrolment, updates) and URL parts."""

    role: str
    url: str
    host: str
    port: int
    path: str


def endpoints(product: Mapping[str, Any]) -> list[Endpoint]:
    """The portal, EST and update endpoints of ``product.json`` (https only; others are
    skipped: the builder refuses them, a damaged file is the self-check's business)."""
    from urllib.parse import urlsplit  # noqa: PLC0415

    urls = product.get("urls")
    out: list[Endpoint] = []
    if not isinstance(urls, Mapping):
        return out
    for role, key in (("portal", "site"), ("enrolment", "enrolment"), ("updates", "updates")):
        url = urls.get(key)
        if not isinstance(url, str):
            continue
        try:
            parts = urlsplit(url)
            port = parts.port or 443
        except ValueError:
            continue
        if parts.scheme != "https" or not parts.hostname:
            continue
        out.append(Endpoint(role, url, parts.hostname, port, parts.path or "/"))
    return out


@dataclass(frozen=True)
class Subject:
    """The key under diagnosis: its CD-ROM, the running release's directories, its data
    area (None: none usable), its product.json, and the bootstrap's choice when run on
    the key (the running release is checked in full too)."""

    cd: Path
    platform: str
    app: Path
    trust: Path
    firefox: Path | None
    data_dir: Path | None
    product: Mapping[str, Any]
    choice: Choice | None = field(default=None, repr=False)
    reason: str = ""  # which release runs and why, as the bootstrap said

    @property
    def ca_file(self) -> Path:
        """The CA the key pins for enrolment (the running trust component's)."""
        return self.trust / "ca.pem"

    @classmethod
    def from_choice(cls, choice: Choice, product: Mapping[str, Any]) -> Subject:
        """The subject of the launcher started by the bootstrap with ``choice``."""
        firefox: Path | None
        try:
            firefox = choice.component("firefox")
        except KeyError:
            firefox = None
        return cls(
            cd=choice.cd,
            platform=choice.platform,
            app=choice.component("app"),
            trust=choice.component("trust"),
            firefox=firefox,
            data_dir=choice.data_dir,
            product=product,
            choice=choice,
            reason=choice.reason,
        )


@dataclass(frozen=True)
class Diagnosis:
    """A whole run: its rows in a fixed order, versions, the key's identity, and when."""

    rows: tuple[Row, ...]
    versions: Mapping[str, str]
    identity: Mapping[str, Any]
    started: dt.datetime
    seconds: float

    @property
    def failed(self) -> bool:
        """Whether any check failed."""
        return any(r.status == "fail" for r in self.rows)
