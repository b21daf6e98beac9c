"""The windows' one page: HTML, CSS and script from the package's ``assets/``, branded from
``product.json`` (pure, but for reading the assets and the logo).

Everything the page shows that comes from outside the package — names, the support
phone, error texts, the key's serial, the logo — enters as data: one JSON document in a
``<script type="application/json">`` element (``<``, ``>`` and ``&`` escaped, so no text
can close it), which the script puts on the page with ``textContent``, never as HTML.
Colours are accepted only as ``#rgb`` / ``#rrggbb``; the logo only as a PNG of at most
:data:`MAX_LOGO` bytes. A Content-Security-Policy forbids any network access.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from esecure.launcher.ui.texts import page_texts

__all__ = [
    "DEFAULT_PRIMARY",
    "DEFAULT_SECONDARY",
    "MAX_LOGO",
    "Branding",
    "branding_from",
    "build_page",
    "colour",
    "logo_data_uri",
    "on_colour",
    "script_json",
]

DEFAULT_PRIMARY = "#1f4e79"
DEFAULT_SECONDARY = "#e8eef5"
MAX_LOGO = 256 * 1024
_COLOUR = re.compile(r"^#(?:[0-9a-fA-F]{3}){1,2}$")
_PNG = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Branding:
    """What the windows show of the product (all plain text but the checked colours)."""

    title: str  # the windows' title: the launcher's name
    bank: str
    portal: str
    phone: str | None
    primary: str
    secondary: str
    logo: str | None  # a data: URI of the logo PNG, or None (the bank's name instead)


def colour(value: object, default: str) -> str:
    """``value`` when it is a ``#rgb`` / ``#rrggbb`` colour, else ``default`` (a colour from
    a damaged product.json must not become CSS)."""
    return value if isinstance(value, str) and _COLOUR.match(value) else default


def on_colour(background: str) -> str:
    """Black or white, whichever reads better on ``background`` (WCAG relative luminance)."""
    digits = background.lstrip("#")
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    channels = [int(digits[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    # contrast with white (1.05 / (L + 0.05)) against contrast with black ((L + 0.05) / 0.05)
    return "#ffffff" if 1.05 / (luminance + 0.05) >= (luminance + 0.05) / 0.05 else "#000000"


def logo_data_uri(path: Path | None) -> str | None:
    """The logo as a ``data:image/png`` URI; None when absent, too big or not a PNG."""
    if path is None:
        return None
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_LOGO + 1)
    except OSError:
        return None
    if len(data) > MAX_LOGO or not data.startswith(_PNG):
        return None
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _text(product: Mapping[str, Any], *keys: str, default: str) -> str:
    for key in keys:
        value = product.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return default


def branding_from(
    product: Mapping[str, Any], phone: str | None, branding_dir: Path | None
) -> Branding:
    """The windows' branding from ``product.json`` and the release's ``branding/`` folder."""
    colours = product.get("colours")
    colours = colours if isinstance(colours, Mapping) else {}
    return Branding(
        title=_text(product, "launcher_name", "name", default="e-secure"),
        bank=_text(product, "bank_name", "name", default="e-secure"),
        portal=_text(product, "portal_name", "name", default="e-secure"),
        phone=phone,
        primary=colour(colours.get("primary"), DEFAULT_PRIMARY),
        secondary=colour(colours.get("secondary"), DEFAULT_SECONDARY),
        logo=logo_data_uri(branding_dir / "logo.png" if branding_dir is not None else None),
    )


def script_json(value: object) -> str:
    """JSON that is safe inside a ``<script>`` element: no ``<``, ``>`` or ``&`` (escaped as
    ``\\u003c`` …), so no string can end the element or open a comment."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _asset(name: str) -> str:
    return resources.files("esecure.launcher.ui").joinpath("assets", name).read_text("utf-8")


def build_page(brand: Branding, lang: str, first_text: str) -> str:
    """The whole page, CSS and script inlined, showing ``first_text`` on the progress page
    as soon as it is parsed (before any call from Python)."""
    config = {
        "lang": lang,
        "texts": page_texts(lang, brand.portal),
        "title": brand.title,
        "bank": brand.bank,
        "portal": brand.portal,
        "phone": brand.phone,
        "logo": brand.logo,
        "first": first_text,
    }
    css = (
        _asset("page.css")
        .replace("__PRIMARY__", brand.primary)
        .replace("__SECONDARY__", brand.secondary)
        .replace("__ON_PRIMARY__", on_colour(brand.primary))
    )
    script = (
        f'<script type="application/json" id="config">{script_json(config)}</script>\n'
        f"<script>{_asset('page.js')}</script>"
    )
    return (
        _asset("page.html")
        .replace("__LANG__", "fr" if lang == "fr" else "en")
        .replace("<!--STYLE-->", f"<style>{css}</style>")
        .replace("<!--SCRIPT-->", script)
    )
