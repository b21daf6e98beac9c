"""The launcher's log: a few rotated files in the data area, and never a secret in them.

Where: ``<data area>/logs/e-secure.log`` and its rotated copies ``.1``, ``.2`` — at most
``max_bytes`` each (1 MB by default, so 3 MB in all: the data partition's budget gives
logs 16 MiB). Rotation renames files (one atomic rename each); a record longer than a
tenth of a file is cut. A data area that is full or read-only loses log lines, never the
key: the handler counts what it could not write instead of printing tracebacks.

Redaction (STYLE.md habit 6, seed guide's support reports): :class:`Redactor` rewrites
every record before any handler writes it — the message with its arguments, the
traceback and the stack — and the support report runs it again over the files. It removes:

* PEM private keys (any ``-----BEGIN … PRIVATE KEY-----`` block, even cut short);
* ``Authorization`` / ``Proxy-Authorization`` values and bare ``Basic``/``Bearer`` tokens;
* ``Cookie`` / ``Set-Cookie`` values;
* the value after a secret-looking name (``code``, ``activation_code``, ``password``,
  ``passphrase``, ``secret``, ``token``, ``pin``…) in ``name=value``, ``name: value`` and
  JSON or dict form, which covers query strings (``?code=…``) and PKCS#12 passwords;
* activation codes by their shape (``ABCD-EFGH-JKLM-NPQR``, see ``esecure admin``);
* credentials in URLs (``https://user:pass@proxy``) and pk12util's ``-W``/``-K`` arguments;
* long base64 runs (a PKCS#12 or key blob);
* every exact value registered with :meth:`Redactor.add` (the flow registers the
  activation code it was given and the key's PKCS#12 password).

Over-redaction is accepted (a harmless ``code=1`` is hidden too); catalogue codes
(``ES201``) are kept since support needs them.
"""

from __future__ import annotations

import logging
import logging.handlers
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "LOG_DIR",
    "LOG_FILE",
    "LogLimits",
    "LogSetup",
    "Redactor",
    "log_files",
    "redact",
    "setup_logging",
]

LOG_DIR = "logs"  # in the data area (esecure_onkey.layout names it in its docstring only)
LOG_FILE = "e-secure.log"
MASK = "[redacted]"

_HIDDEN_AFTER = (
    r"activation[ _-]?codes?|secret[ _-]?codes?|codes?|pass(?:word|wd|phrase)?|pwd|pins?|"
    r"secrets?|(?:access[ _-]?|refresh[ _-]?|csrf[ _-]?|id[ _-]?)?tokens?|api[ _-]?keys?|"
    r"session[ _-]?(?:id|key)|sid|p12[ _-]?pass(?:word)?|pkcs12[ _-]?pass(?:word)?"
)
_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    # a PEM private key, whole or cut short by the record's end
    (
        re.compile(
            r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)",
            re.DOTALL,
        ),
        "[redacted private key]",
    ),
    # headers: the rest of the line (cookies hold ';' and '=', authorizations a space)
    (
        re.compile(r"(?im)((?:proxy-)?authorization|(?:set-)?cookie)(['\"]?\s*[:=]\s*)[^\r\n]*"),
        rf"\1\2{MASK}",
    ),
    (
        re.compile(
            r"\b(Basic|Bearer|Digest|Negotiate|NTLM)\s+(?=\S*[0-9+/=])[A-Za-z0-9+/=._~-]{8,}"
        ),
        rf"\1 {MASK}",
    ),
    # credentials in a URL
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s:@]+:[^/\s@]*@"), rf"\1{MASK}@"),
    # pk12util / certutil password arguments
    (re.compile(r"(?<!\S)(-[WK])\s+\S+"), rf"\1 {MASK}"),
    # after a secret's name (catalogue codes kept): a quoted value whole, spaces and all;
    # name=value up to the next separator (query strings); name: value to the line's end
    (
        re.compile(
            rf"(?i)(?<![A-Za-z0-9])((?:{_HIDDEN_AFTER})['\"]?\s*[:=]\s*+)(['\"])"
            r"(?!ES\d{3}\b)(?:(?!\2)[^\r\n])*\2"
        ),
        rf"\1\2{MASK}\2",
    ),
    (
        re.compile(
            rf"(?i)(?<![A-Za-z0-9])((?:{_HIDDEN_AFTER})['\"]?\s*=\s*+)"
            r"(?!ES\d{3}\b)(?!\[redacted)[^\s'\",;&}\]]+"
        ),
        rf"\1{MASK}",
    ),
    (
        re.compile(
            rf"(?i)(?<![A-Za-z0-9])((?:{_HIDDEN_AFTER})['\"]?\s*:\s*+)"
            r"(?!ES\d{3}\b)(?!\[redacted)(?![\"'])[^\r\n]+"
        ),
        rf"\1{MASK}",
    ),
    # an activation code by its shape, in any case
    (re.compile(r"(?i)(?<![A-Za-z0-9])[A-Z2-9]{4}(?:-[A-Z2-9]{4}){3}(?![A-Za-z0-9])"), MASK),
    # a long base64 run: a key or PKCS#12 blob
    (re.compile(r"[A-Za-z0-9+/]{120,}={0,2}"), "[redacted blob]"),
)
MAX_RECORD = 100_000  # characters of one record, after formatting


class Redactor(logging.Filter):
    """Removes secrets from text and from every log record that passes through it."""

    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._exact: list[str] = []
        for value in secrets:
            self.add(value)

    def add(self, value: str | bytes) -> None:
        """Redact this exact value from now on (an activation code, a password)."""
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        if len(text) >= 4:  # shorter values would blank out ordinary words
            with self._lock:
                self._exact = sorted({*self._exact, text}, key=len, reverse=True)

    def text(self, value: str) -> str:
        """``value`` with every secret replaced by a mask."""
        with self._lock:
            exact = list(self._exact)
        for secret in exact:
            value = value.replace(secret, MASK)
        for pattern, mask in _RULES:
            value = pattern.sub(mask, value)
        return value

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite ``record`` in place: message with its arguments, traceback, stack."""
        try:
            message = record.getMessage()
        except (TypeError, ValueError) as exc:  # a bad format string must not leak args
            message = f"{record.msg!s} (unformattable arguments: {type(exc).__name__})"
        record.msg, record.args = self.text(message[:MAX_RECORD]), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.exc_info = None  # the formatter must use the redacted text below
        if record.exc_text:
            record.exc_text = self.text(record.exc_text[:MAX_RECORD])
        if record.stack_info:
            record.stack_info = self.text(record.stack_info[:MAX_RECORD])
        return True


def redact(text: str) -> str:
    """``text`` without the secrets the patterns recognise (no registered values)."""
    return Redactor().text(text)


@dataclass(frozen=True)
class LogLimits:
    """How much log a key keeps: ``backups`` + 1 files of at most ``max_bytes`` each."""

    max_bytes: int = 1_000_000
    backups: int = 2
    level: int = logging.INFO


class _KeyLogHandler(logging.handlers.RotatingFileHandler):
    """A rotating file handler that never prints a traceback: a full or read-only data
    area costs log lines, not the key."""

    def __init__(self, path: Path, limits: LogLimits) -> None:
        super().__init__(
            path,
            maxBytes=limits.max_bytes,
            backupCount=limits.backups,
            encoding="utf-8",
            delay=True,
        )
        self.dropped = 0
        self.previous_level = logging.WARNING  # the root logger's, given back on removal

    def detach(self) -> None:
        """Leave the root logger as it was before this handler was added."""
        root = logging.getLogger()
        if self in root.handlers:
            root.removeHandler(self)
            root.setLevel(self.previous_level)
        self.close()

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        """Count the lost record (no output: stderr may be nobody's)."""
        del record
        self.dropped += 1


@dataclass
class LogSetup:
    """What :func:`setup_logging` installed: the file (None without a data area), the
    redactor (register exact secrets with ``redactor.add``) and the handler."""

    path: Path | None
    redactor: Redactor
    handler: _KeyLogHandler | None = field(default=None, repr=False)

    def close(self) -> None:
        """Detach and close the handler, the root logger's level given back (tests, the
        end of the launcher)."""
        if self.handler is not None:
            self.handler.detach()
            self.handler = None


def log_files(data_dir: Path) -> list[Path]:
    """The log files of a data area, newest first (what the support report takes)."""
    base = data_dir / LOG_DIR / LOG_FILE
    candidates = [base, *(base.with_name(f"{LOG_FILE}.{i}") for i in range(1, 10))]
    return [p for p in candidates if p.is_file()]


def setup_logging(
    data_dir: Path | None,
    *,
    limits: LogLimits = LogLimits(),
    secrets: tuple[str, ...] = (),
) -> LogSetup:
    """Log to ``<data_dir>/logs/e-secure.log`` (rotated, redacted), replacing any handler a
    previous call installed. Without a data area, or when logs/ cannot be made, nothing is
    written (and the returned path is None)."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _KeyLogHandler)]:
        old.detach()
    redactor = Redactor(secrets)
    if data_dir is None:
        return LogSetup(None, redactor)
    path = data_dir / LOG_DIR / LOG_FILE
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        return LogSetup(None, redactor)
    handler = _KeyLogHandler(path, limits)
    handler.setLevel(limits.level)
    handler.addFilter(redactor)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S%z")
    )
    handler.previous_level = root.level
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > limits.level:
        root.setLevel(limits.level)
    return LogSetup(path, redactor, handler)
