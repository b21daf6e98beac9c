"""Removing the key: wipe the session's traces from the live profile, release what the
session holds on the key, eject it, and say whether it is safe to unplug.

:class:`Removal` does it in the order the key needs:

1. **wipe** (:meth:`Removal.wipe`, an end hook of the flow's
   :class:`~esecure.launcher.flow.session.Session`, run once Firefox is closed;
   :func:`wipe_session_traces`): the names in :data:`TRACES` — cache, cookies, session
   store, form history, history, site storage, saved logins, certificate exceptions,
   crash reports — are deleted from the live profile. What makes the key work stays: the
   NSS databases (``cert9.db``, ``key4.db``: the client certificate and its key),
   ``pkcs11.txt``, the preferences (``prefs.js``, ``user.js``), and any file the
   template installed (its stamp lists them). Names are deleted, never followed: a link
   is removed as a link. Flash memory and FAT keep no promise about overwritten blocks,
   so files are deleted, not overwritten.
2. **release**: the flow ends the session, which releases the single-instance lock and
   the second-start endpoint (``Steps.close``); then :func:`release_logs` closes log
   files kept open on the key — an open file makes the eject fail as "busy".
3. **eject** (:meth:`Removal.eject`, :mod:`esecure.launcher.host.eject`) and **say** the
   outcome: safe to unplug, not safe (why, and what to do), or nothing to eject.
"""

from __future__ import annotations

import logging
import shutil
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from esecure.launcher.flow.profile import STAMP_NAME, decode_stamp
from esecure.launcher.flow.session import Session
from esecure.launcher.host.eject import Ejector, EjectResult
from esecure.launcher.ui.texts import say

__all__ = [
    "KEPT",
    "TRACES",
    "Removal",
    "WipeResult",
    "release_logs",
    "removal_for",
    "removal_text",
    "template_files",
    "trace_names",
    "wipe_session_traces",
]

log = logging.getLogger(__name__)

_SQLITE = ("", "-wal", "-shm", "-journal")


def _db(name: str) -> tuple[str, ...]:
    return tuple(name + suffix for suffix in _SQLITE)


TRACES: dict[str, tuple[str, ...]] = {
    "cache": ("cache2", "startupCache", "thumbnails", "OfflineCache", "jumpListCache"),
    "cookies": _db("cookies.sqlite"),
    "session store": (
        "sessionstore.jsonlz4",
        "sessionstore.js",
        "sessionstore.bak",
        "sessionstore-backups",
        "sessionCheckpoints.json",
    ),
    "form history": (*_db("formhistory.sqlite"), "autofill-profiles.json"),
    "history": (*_db("places.sqlite"), *_db("favicons.sqlite"), "places.sqlite-corrupt"),
    "site storage": (
        "storage",
        *_db("webappsstore.sqlite"),
        *_db("content-prefs.sqlite"),
        *_db("permissions.sqlite"),
        *_db("protections.sqlite"),
        "SiteSecurityServiceState.bin",
        "SiteSecurityServiceState.txt",
        "AlternateServices.bin",
        "AlternateServices.txt",
    ),
    "saved logins and exceptions": ("logins.json", "logins-backup.json", "cert_override.txt"),
    "reports": ("crashes", "minidumps", "datareporting", "saved-telemetry-pings"),
}
"""What one session leaves in a profile, by kind (names relative to the profile)."""

KEPT = ("cert9.db", "key4.db", "pkcs11.txt", "prefs.js", "user.js")
"""What the wipe never deletes: the certificate, its key, the preferences."""

_MAX_STAMP = 1024 * 1024


def trace_names(template: frozenset[str] = frozenset()) -> tuple[str, ...]:
    """The names the wipe deletes: :data:`TRACES` but :data:`KEPT` and the template's
    own files (pure)."""
    names = (name for kind in TRACES.values() for name in kind)
    return tuple(n for n in names if n not in KEPT and n not in template)


def template_files(profile: Path) -> frozenset[str]:
    """The top-level names the template installed, from its stamp (empty when unreadable:
    the trace list holds no name a template ships today)."""
    try:
        with (profile / STAMP_NAME).open("rb") as stream:
            stamp = decode_stamp(stream.read(_MAX_STAMP))
    except OSError:
        return frozenset()
    if stamp is None:
        return frozenset()
    return frozenset(name.split("/", 1)[0] for name in stamp.files)


@dataclass(frozen=True)
class WipeResult:
    """What the wipe deleted and what it could not (name, reason)."""

    removed: tuple[str, ...]
    failed: tuple[tuple[str, str], ...]


def _delete(path: Path) -> bool:
    """Delete ``path`` without following a link; False when there was nothing."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return False
    if stat.S_ISDIR(info.st_mode):
        shutil.rmtree(path)  # rmtree removes links inside as links
    else:
        path.unlink()
    return True


def wipe_session_traces(profile: Path) -> WipeResult:
    """Delete the session's traces from ``profile`` (Firefox must not run on it)."""
    removed: list[str] = []
    failed: list[tuple[str, str]] = []
    for name in trace_names(template_files(profile)):
        try:
            if _delete(profile / name):
                removed.append(name)
        except OSError as exc:
            failed.append((name, exc.strerror or str(exc)))
    if failed:
        log.warning("session traces not wiped: %s", ", ".join(n for n, _ in failed))
    log.info("session traces wiped: %s", ", ".join(removed) or "none")
    return WipeResult(tuple(removed), tuple(failed))


def removal_text(result: EjectResult, lang: str) -> str:
    """What the user reads once the key is ejected (or not)."""
    if result.status == "ejected":
        return say("removed.safe", lang)
    if result.status == "not-removable":
        return say("removed.fixed", lang)
    return say("removed.unsafe", lang, reason=result.detail)


def release_logs(paths: Sequence[Path]) -> list[str]:
    """Close the log files kept open under ``paths`` (the key): an open file makes the
    eject fail as "busy". The names closed."""
    roots = [Path(p).resolve() for p in paths]
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    closed = []
    for logger in loggers:
        if not isinstance(logger, logging.Logger):
            continue  # a placeholder
        for handler in list(logger.handlers):
            if not isinstance(handler, logging.FileHandler):
                continue
            where = Path(handler.baseFilename).resolve()
            if any(where == root or root in where.parents for root in roots):
                logger.removeHandler(handler)
                handler.close()
                closed.append(str(where))
    return closed


class Removal:
    """Removing the key, in two parts: :meth:`wipe` is an end hook of the session (run
    once Firefox is closed); :meth:`eject` runs after the flow has released the lock and
    the second-start endpoint (the process's last act on the key)."""

    def __init__(self, profile: Path, key_paths: Sequence[Path], ejector: Ejector) -> None:
        self.profile = profile
        self.key_paths = tuple(key_paths)
        self._ejector = ejector
        self.wiped: WipeResult | None = None
        self.result: EjectResult | None = None

    @property
    def requested(self) -> bool:
        """Whether the user removed the key (the wipe ran)."""
        return self.wiped is not None

    def wipe(self) -> None:
        """The end hook: wipe the session's traces."""
        self.wiped = wipe_session_traces(self.profile)

    def eject(self, tell: Callable[[str], None], lang: str) -> EjectResult | None:
        """When the key was removed: close its logs, eject it, ``tell`` the user whether
        it is safe to unplug. None when the session ended otherwise."""
        if not self.requested:
            return None
        closed = release_logs(self.key_paths)
        if closed:
            log.info("log files on the key closed before the eject: %s", ", ".join(closed))
        self.result = self._ejector.eject(self.key_paths)
        log.info("eject: %s (%s)", self.result.status, self.result.detail)
        tell(removal_text(self.result, lang))
        return self.result


def removal_for(actions: object, ejector: Ejector, cd: Path | None) -> Removal | None:
    """The removal of the flow's session ``actions`` (its wipe added to its end hooks),
    ejecting the CD-ROM at ``cd`` and the data area; None for a session without a
    profile (a test's, the terminal's)."""
    if not isinstance(actions, Session) or actions.profile is None:
        return None
    paths = [p for p in (cd, actions.data_dir) if p is not None]
    removal = Removal(actions.profile, paths, ejector)
    actions.end_hooks.append(removal.wipe)
    return removal
