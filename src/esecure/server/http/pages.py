"""The pages the HTTP layer answers with when it refuses a request: short, readable in
English and French, never echoing what the client sent, and the same headers on each."""

from __future__ import annotations

import html
from http import HTTPStatus

from aiohttp import web

__all__ = ["SERVER_NAME", "error_response", "raw_response", "status_title"]

SERVER_NAME = "e-secure"  # the Server header: no version to fingerprint

# status -> (English, French) of what the client can do about it
_ADVICE: dict[int, tuple[str, str]] = {
    400: ("The request was malformed.", "La requête était mal formée."),
    401: ("Authentication is required.", "Une authentification est nécessaire."),
    403: ("Access is refused.", "L'accès est refusé."),
    404: ("There is nothing at this address.", "Il n'y a rien à cette adresse."),
    405: ("This method is not allowed here.", "Cette méthode n'est pas permise ici."),
    408: (
        "The request took too long to arrive; please try again.",
        "La requête a mis trop de temps à arriver ; veuillez réessayer.",
    ),
    413: ("The request body is too large.", "Le corps de la requête est trop grand."),
    414: ("The address is too long.", "L'adresse est trop longue."),
    415: (
        "This kind of request body is not accepted.",
        "Ce type de corps de requête n'est pas accepté.",
    ),
    429: ("Too many attempts; please wait.", "Trop de tentatives ; veuillez patienter."),
    431: (
        "The request headers are too large or too many.",
        "Les en-têtes de la requête sont trop grands ou trop nombreux.",
    ),
    500: (
        "The server met an internal error; please try again later.",
        "Le serveur a rencontré une erreur interne ; veuillez réessayer plus tard.",
    ),
    503: (
        "The server is busy; please try again in a few seconds.",
        "Le serveur est occupé ; veuillez réessayer dans quelques secondes.",
    ),
    504: (
        "The server took too long to answer; please try again.",
        "Le serveur a mis trop de temps à répondre ; veuillez réessayer.",
    ),
}

COMMON_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Server": SERVER_NAME,
}


def status_title(status: int) -> str:
    """``404 Not Found``."""
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def _text(status: int, detail: str) -> str:
    en, fr = _ADVICE.get(status, ("The request was refused.", "La requête a été refusée."))
    lines = [status_title(status), "", en, fr]
    if detail:
        lines += ["", detail]
    return "\n".join(lines) + "\n"


def _html(status: int, detail: str) -> str:
    en, fr = _ADVICE.get(status, ("The request was refused.", "La requête a été refusée."))
    title = html.escape(status_title(status))
    extra = f"<p><small>{html.escape(detail)}</small></p>" if detail else ""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title></head><body><h1>{title}</h1>"
        f'<p>{html.escape(en)}</p><p lang="fr">{html.escape(fr)}</p>{extra}</body></html>\n'
    )


def error_response(status: int, detail: str = "", *, accept: str = "") -> web.Response:
    """A refusal page: HTML for browsers (``Accept`` names text/html), else plain text.
    ``detail`` is the server's own words (never request data)."""
    if "text/html" in accept:
        response = web.Response(status=status, text=_html(status, detail), content_type="text/html")
        response.headers["Content-Security-Policy"] = "default-src 'none'"
    else:
        response = web.Response(status=status, text=_text(status, detail))
    response.headers.update(COMMON_HEADERS)
    return response


def raw_response(status: int, detail: str = "", headers: dict[str, str] | None = None) -> bytes:
    """A whole HTTP/1.1 answer that closes the connection, for the guard to write
    straight to a transport (no request object exists yet)."""
    body = _text(status, detail).encode()
    fields = {
        "Content-Type": "text/plain; charset=utf-8",
        "Content-Length": str(len(body)),
        "Connection": "close",
        **COMMON_HEADERS,
        **(headers or {}),
    }
    lines = [f"HTTP/1.1 {status_title(status)}", *(f"{k}: {v}" for k, v in fields.items())]
    head = "\r\n".join(lines) + "\r\n"
    return head.encode("latin-1") + b"\r\n" + body
