"""What diagnostics show and save: an aligned table in French or English, and a support
report (a zip) the user can send.

The report holds ``summary.txt`` (the table, versions, identity), ``diagnostics.json``
(the rows), ``versions.json``, ``identity.json`` (product.json's public fields and the
key's serial) and ``logs/`` (the launcher's log files). It never holds anything of
``pki/`` (key, certificate secret), the Firefox profile (cookies, sessions) or the update
store: members are chosen, not collected, and every member is redacted again by
:class:`esecure.launcher.logs.Redactor` before it is zipped. The zip is written whole to
a temporary name, synced and renamed; a key keeps its newest :data:`KEEP_REPORTS`.
"""

from __future__ import annotations

import io
import json
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from esecure._fs import atomic_write
from esecure.errors import StorageError
from esecure.launcher.diagnostics.model import Diagnosis, Row, Status
from esecure.launcher.logs import Redactor, log_files

__all__ = ["KEEP_REPORTS", "REPORTS_DIR", "render_table", "report_dir", "write_report"]

REPORTS_DIR = "reports"  # in the data area
KEEP_REPORTS = 5
MAX_LOG_BYTES = 2_000_000  # read of each log file (the launcher keeps 1 MB files)

_STATUS: dict[str, dict[Status, str]] = {
    "en": {"ok": "ok", "warn": "WARNING", "fail": "FAILED", "skip": "skipped"},
    "fr": {"ok": "ok", "warn": "ATTENTION", "fail": "ÉCHEC", "skip": "sans objet"},
}
_WORDS = {
    "en": {
        "heading": "e-secure diagnostics",
        "status": "status",
        "check": "check",
        "detail": "detail",
        "todo": "what to do",
        "totals": "{ok} ok, {warn} warning(s), {fail} failure(s)",
    },
    "fr": {
        "heading": "Diagnostic e-secure",
        "status": "état",
        "check": "vérification",
        "detail": "détail",
        "todo": "que faire",
        "totals": "{ok} ok, {warn} avertissement(s), {fail} échec(s)",
    },
}


def _lang(lang: str) -> str:
    return "fr" if lang == "fr" else "en"


def render_table(diagnosis: Diagnosis, lang: str = "en") -> str:
    """The rows as an aligned text table in ``lang``; each row that is not ok is followed
    by what to do and its catalogue code."""
    lang = _lang(lang)
    words, names = _WORDS[lang], _STATUS[lang]
    header = (words["status"], words["check"], words["detail"])
    cells = [(names[r.status], r.title.get(lang), r.detail) for r in diagnosis.rows]
    width0 = max(len(c[0]) for c in [header, *cells])
    width1 = max(len(c[1]) for c in [header, *cells])
    when = diagnosis.started.strftime("%Y-%m-%d %H:%M:%S UTC")
    lines = [f"{words['heading']} — {when} ({diagnosis.seconds:.1f} s)", ""]
    lines.append(f"{header[0]:<{width0}}  {header[1]:<{width1}}  {header[2]}")
    lines.append(f"{'-' * width0}  {'-' * width1}  {'-' * len(header[2])}")
    for row, (status, title, detail) in zip(diagnosis.rows, cells, strict=True):
        lines.append(f"{status:<{width0}}  {title:<{width1}}  {detail}")
        if row.advice is not None and row.status in ("warn", "fail"):
            code = f" [{row.code}]" if row.code else ""
            lines.append(f"{'':<{width0}}  -> {words['todo']}: {row.advice.get(lang)}{code}")
    counts = {s: sum(1 for r in diagnosis.rows if r.status == s) for s in ("ok", "warn", "fail")}
    lines.extend(["", words["totals"].format(**counts)])
    return "\n".join(lines) + "\n"


def _summary(diagnosis: Diagnosis, lang: str) -> str:
    parts = [render_table(diagnosis, lang)]
    if _lang(lang) != "en":  # support reads English too
        parts.append(render_table(diagnosis, "en"))
    parts.append("versions:\n" + "".join(f"  {k}: {v}\n" for k, v in diagnosis.versions.items()))
    parts.append(
        "identity:\n"
        + "".join(
            f"  {k}: {json.dumps(v, ensure_ascii=False)}\n" for k, v in diagnosis.identity.items()
        )
    )
    return "\n".join(parts)


def _clean(value: Any, redactor: Redactor) -> Any:  # noqa: ANN401 - any JSON value
    """``value`` with every string in it redacted (the JSON stays JSON)."""
    if isinstance(value, str):
        return redactor.text(value)
    if isinstance(value, Mapping):
        return {str(k): _clean(v, redactor) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v, redactor) for v in value]
    return value


def _json(value: Any, redactor: Redactor) -> str:  # noqa: ANN401 - any JSON value
    return json.dumps(_clean(value, redactor), indent=2, ensure_ascii=False) + "\n"


def _rows_doc(rows: tuple[Row, ...], diagnosis: Diagnosis) -> dict[str, Any]:
    return {
        "format": 1,
        "started": diagnosis.started.isoformat(),
        "seconds": round(diagnosis.seconds, 3),
        "failed": diagnosis.failed,
        "rows": [r.as_json() for r in rows],
    }


def _read_log(path: Path) -> str:
    try:
        with path.open("rb") as handle:
            return handle.read(MAX_LOG_BYTES).decode("utf-8", "replace")
    except OSError as exc:
        return f"(cannot be read: {exc.strerror or exc})\n"


def report_dir(data_dir: Path | None) -> Path:
    """Where reports go: the data area's reports/, else this computer's temporary folder."""
    if data_dir is not None:
        return data_dir / REPORTS_DIR
    return Path(tempfile.gettempdir()) / "e-secure-reports"


def _prune(directory: Path, keep: int) -> None:
    """Remove all but the newest ``keep`` reports (names sort by time)."""
    reports = sorted(directory.glob("e-secure-report-*.zip"))
    for old in reports[: max(0, len(reports) - keep)]:
        try:
            old.unlink()
        except OSError:
            continue


def write_report(
    diagnosis: Diagnosis,
    *,
    data_dir: Path | None,
    lang: str = "en",
    redactor: Redactor | None = None,
    out_dir: Path | None = None,
) -> Path:
    """Write the support report and return its path: into ``out_dir``, else the data
    area's reports/; when that cannot be written, this computer's temporary folder.
    Raise StorageError (naming the file) only when no place can be written."""
    clean = redactor or Redactor()
    members: dict[str, str] = {
        "summary.txt": clean.text(_summary(diagnosis, lang)),
        "diagnostics.json": _json(_rows_doc(diagnosis.rows, diagnosis), clean),
        "versions.json": _json(diagnosis.versions, clean),
        "identity.json": _json(diagnosis.identity, clean),
    }
    if data_dir is not None:
        for path in log_files(data_dir):
            members[f"logs/{path.name}"] = clean.text(_read_log(path))
    stamp = diagnosis.started.strftime("%Y%m%dT%H%M%SZ")
    buffer = io.BytesIO()
    when = diagnosis.started.timetuple()[:6]
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in members.items():
            info = zipfile.ZipInfo(name, date_time=when)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, text.encode("utf-8"))
    data = buffer.getvalue()
    places = [out_dir] if out_dir is not None else [report_dir(data_dir), report_dir(None)]
    last = StorageError(f"no place to write the support report ({places})")
    for directory in places:
        path = directory / f"e-secure-report-{stamp}.zip"
        try:
            atomic_write(path, data)
        except StorageError as exc:
            last = exc
            continue
        _prune(directory, KEEP_REPORTS)
        return path
    raise last
