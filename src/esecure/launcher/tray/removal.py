"""Removing the key: wipe the session's traces from the live profile, release what the
session holds on the key, eject it, and say whether it is safe to unplug.

:func:`end_of_session` makes the steps the session runs once Firefox is closed
(:attr:`esecure.launcher.flow.session.Session.end_hooks`), in this order:

1. **wipe** (:func:`wipe_session_traces`): the names in :data:`TRACES` — cache, cookies,
   session store, form history, history, site storage, saved logins, certificate
   exceptions — are deleted from the live profile. What makes the key work stays: the
   NSS databases (``cert9.db``, ``key4.db``: the client certificate and its key),
   ``pkcs11.txt``, the preferences (``prefs.js``, ``user.js``), and any file the
   template installed (its stamp lists them). Names are deleted, never followed: a
   link is removed as a link. Flash memory and FAT keep no promise about overwritten
   blocks, so files are deleted, not overwritten.
2. **release** (the caller's: the single-instance lock, open logs — anything the session
   keeps open on the key would make the eject fail as "busy");
3. **eject** (:mod:`esecure.launcher.host.eject`) and **say** the outcome: safe to unplug,
   not safe (and why, with what to do), or nothing to eject.
"""

from __future__ import annotations

import logging
import shutil
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from esecure.launcher.flow.profile import STAMP_NAME, decode_stamp
from esecure.launcher.host.eject import Ejector, EjectResult
from esecure.launcher.ui.texts import say

__all__ = [
    "KEPT",
    "TRACES",
    "WipeResult",
    "end_of_session",
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


def end_of_session(
    *,
    profile: Path,
    release: Callable[[], None],
    ejector: Ejector,
    key_paths: Sequence[Path],
    tell: Callable[[str], None],
    lang: str,
) -> list[Callable[[], None]]:
    """The steps that end a session once Firefox is closed, for ``Session.end_hooks``:
    wipe the profile, then ``release`` what the session holds on the key, eject the
    volumes holding ``key_paths`` (the CD-ROM's root, the data area) and ``tell`` the
    user whether it is safe to unplug."""

    def wipe_traces() -> None:
        wipe_session_traces(profile)

    def release_and_eject() -> None:
        try:
            release()
        except Exception:  # still eject: the OS says "busy" if something stays open
            log.exception("releasing the session before the eject failed")
        result = ejector.eject(key_paths)
        log.info("eject: %s (%s)", result.status, result.detail)
        tell(removal_text(result, lang))

    return [wipe_traces, release_and_eject]
