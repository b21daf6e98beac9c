"""The reference bank portal: steps 7 to 12 of the guide, in French and English.

:func:`install` adds the portal's routes (under ``/``) and its middleware — which acts on
those routes only — to the aiohttp application that already serves EST (it reads the
client certificate the same way, :func:`esecure.server.est._peer_certificate`, trusted
proxy included). The rules are pure modules (:mod:`.keypad`, :mod:`.codes`,
:mod:`.sessions`, :mod:`.auth`, :mod:`.contact`); :mod:`.web` holds the thin routes.

Journey (URL, method → what it does; ``id`` of the elements to drive; every page's
``<body data-page="…">`` names it):

==========================  =================================================================
``/``  GET                  redirect: ``/login``, or the page of the session's stage
``/login``  GET, POST       ``login``: ``form#login-form``, ``input#identifier``,
                            ``button#login-submit``; ``?expired=1`` / ``?ended=1`` notices
``/code``  GET, POST        ``code``: the keypad (below); a wrong code → ``refused``,
                            the third → ``locked``
``/session-choice`` GET,    ``session-choice`` (another session is live, E6):
POST                        ``button#end-other-session``, ``button#cancel-login``
``/first-login`` GET, POST  ``first-login``: the keypad, ``form#code-form[data-step]`` is
                            ``mail`` (mail code again), ``new``, ``confirm``
``/contact``  GET, POST     ``contact``: ``input#email``, ``input#phone``,
                            ``button#contact-submit``
``/registered``  GET        ``registered``: "your certificate is registered",
                            ``a#to-area``
``/area``  GET              ``area``: ``a#your-accounts`` → the service menu
``/services``  GET          ``services``: ``details#group-accounts``, ``#group-transfers``,
                            ``#group-statements``, ``#group-help``, each with a
                            ``summary#group-…-toggle`` showing + / -; service links
                            ``a#service-balances``, ``#service-operations``,
                            ``#service-transfer-new``, ``#service-transfer-list``,
                            ``#service-statements``, ``#service-guide``
``/accounts``  GET          ``accounts``: ``table#accounts``, ``a#account-NUMBER``
``/accounts/NUMBER``  GET   ``operations``: ``table#operations``
``/transfers``  GET, POST   ``transfers``: ``select#transfer-from``, ``#transfer-to``,
                            ``input#transfer-amount``, ``#transfer-label``,
                            ``button#transfer-submit``; ``p#transfer-done`` after
``/statements``  GET        ``statements``: ``a.statement`` (``#statement-MONTH-N``)
``/statements/NUMBER/       the statement, ``application/pdf``, inline (Firefox's viewer)
YYYY-MM.pdf``  GET
``/guide``  GET             ``guide``: the online guide (no session needed)
``/logout``  POST           ``logged-out``: ``button#logout`` in every page's header;
                            ``a#login-again``
``/static/portal/…``        ``portal.css``, ``brand.css``, ``keypad.js``, ``logo``
==========================  =================================================================

On every page: ``a#guide-link``, the language switch ``a#lang-en`` / ``a#lang-fr`` (any
page accepts ``?lang=en|fr``), ``button#logout`` once logged in, ``p#error-code`` on error
pages (``ES410``, ``ES411``, ``ES412``, ``ES413``, ``ES402``).

The keypad: ``form#code-form`` holds ``input#positions`` (hidden, comma-separated key
positions so far), ``input#layout`` (hidden, the layout id) and ``input[name=csrf]``; the
keys are ``button.key[data-position=P]`` with ids ``key-P`` (P from 0 to 15; six positions
are blank ``span.blank``), then ``button#code-correct``, ``#code-clear``,
``#code-submit``; ``output#code-entered`` counts the digits typed; ``#slow-notice``
appears after a bounded wait. With JavaScript a key click appends its position to
``#positions``; without, each key submits the form (``key=P``) and the server echoes the
positions back. Either way only positions travel; the server maps them to digits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from esecure.server.portal.settings import PortalSettings

if TYPE_CHECKING:
    from aiohttp import web

    from esecure.config import Project
    from esecure.server.registry import Registry

__all__ = ["PortalSettings", "install"]


def install(
    app: web.Application,
    *,
    project: Project,
    registry: Registry,
    settings: PortalSettings | None = None,
    clock: Callable[[], float] | None = None,
) -> None:
    """Add the portal to ``app`` (which must carry EST's issuer, see :mod:`.web`)."""
    from esecure.server.portal import web as portal_web  # noqa: PLC0415 - admin stays light

    portal_web.install(
        app, project=project, registry=registry, settings=settings or PortalSettings(), clock=clock
    )
