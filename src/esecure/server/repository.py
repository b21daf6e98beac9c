"""The update repository, served read-only: the project's ``repository/metadata/`` and
``repository/targets/`` (what `esecure publish` writes, see ``updater.publish``) as static
files under the path of ``[urls] updates``.

GET and HEAD only. A name is one or more segments of letters, digits and ``._+-``, none
starting with a dot: ``..``, hidden files, empty segments, backslashes and encoded
slashes never reach the file system. The resolved file must lie inside its directory
(a symlink pointing out is refused) and be a regular file; anything else is a 404, like a
name that does not exist: no directory listing, nothing learnt about the disk. Content
types come from a fixed table (never ``text/html``); ``no-cache``, since
``timestamp.json`` changes at each publication. No ranges, no conditional requests: TUF
clients fetch whole files.
"""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

from aiohttp import web

__all__ = ["PARTS", "install", "updates_prefix"]

PARTS = ("metadata", "targets")
_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,254}")
_TYPES = {
    ".json": "application/json",
    ".gz": "application/gzip",
    ".zst": "application/zstd",
}
_ROOT: web.AppKey[Path] = web.AppKey("repository_root", Path)
_CHUNK = 256 * 1024


def updates_prefix(path: str) -> str:
    """The URL path of ``[urls] updates`` as a route prefix: ``/updates/``."""
    return "/" + path.strip("/") + "/" if path.strip("/") else "/"


def _content_type(name: str) -> str:
    return _TYPES.get(Path(name).suffix, "application/octet-stream")


async def _serve(request: web.Request) -> web.StreamResponse:
    part, name = request.match_info["part"], request.match_info["name"]
    segments = name.split("/")
    if part not in PARTS or not all(_SEGMENT.fullmatch(s) for s in segments):
        raise web.HTTPNotFound
    base = (request.app[_ROOT] / part).resolve()
    path = base.joinpath(*segments).resolve()
    if not path.is_relative_to(base) or not path.is_file():
        raise web.HTTPNotFound
    return await _send(request, path)


async def _send(request: web.Request, path: Path) -> web.StreamResponse:
    """The file in chunks written through the connection's flow control, so that the
    HTTP layer's send timeout applies (aiohttp's FileResponse uses the event loop's
    sendfile, whose TLS fallback takes the connection over and waits for a client that
    stops reading as long as it likes)."""
    with path.open("rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        response = web.StreamResponse(
            headers={"Content-Type": _content_type(path.name), "Cache-Control": "no-cache"}
        )
        response.content_length = size
        await response.prepare(request)
        if request.method != "HEAD":
            while chunk := await asyncio.to_thread(handle.read, _CHUNK):
                await response.write(chunk)
        await response.write_eof()
    return response


def install(app: web.Application, root: Path, prefix: str) -> None:
    """Serve ``root/metadata/`` and ``root/targets/`` under ``prefix`` (``/updates/``).

    ``root`` may not exist yet (no update keys made): every name is then a 404."""
    app[_ROOT] = root
    app.router.add_get(prefix + "{part:metadata|targets}/{name:.+}", _serve)
