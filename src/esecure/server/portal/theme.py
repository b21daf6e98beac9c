"""The project's colours as a style sheet that keeps WCAG 2.1 AA contrast (1.4.3).

A release engineer picks the brand colours; the portal must stay readable whatever they
are. Text on a coloured bar or button is black or white, whichever contrasts more; a colour
used for text or links is darkened until it reaches 4.5:1 on the pages' lightest
backgrounds (white, and the light grey of the footer and the menu bar).
"""

from __future__ import annotations

__all__ = ["LIGHT_BACKGROUNDS", "brand_css", "contrast", "readable_on_light", "text_colour_on"]

_AA = 4.5
LIGHT_BACKGROUNDS = ("#ffffff", "#f2f2f2")  # portal.css: pages; footer and menu bar


def _channels(colour: str) -> tuple[float, float, float]:
    value = colour.lstrip("#")
    r, g, b = (int(value[i : i + 2], 16) / 255 for i in (0, 2, 4))
    return r, g, b


def _luminance(colour: str) -> float:
    """Relative luminance (WCAG 2.1, definition "relative luminance")."""

    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in _channels(colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    """The contrast ratio of two ``#RRGGBB`` colours (1 to 21)."""
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def text_colour_on(background: str) -> str:
    """Black or white, whichever reads better on ``background``."""
    return (
        "#000000"
        if contrast(background, "#000000") >= contrast(background, "#ffffff")
        else ("#ffffff")
    )


def readable_on_light(colour: str) -> str:
    """``colour``, darkened in steps until it reaches 4.5:1 on every light background."""
    r, g, b = _channels(colour)
    for _ in range(100):
        candidate = "#" + "".join(f"{round(c * 255):02x}" for c in (r, g, b))
        if all(contrast(candidate, bg) >= _AA for bg in LIGHT_BACKGROUNDS):
            return candidate
        r, g, b = r * 0.95, g * 0.95, b * 0.95
    return "#000000"


def brand_css(primary: str, secondary: str) -> str:
    """The style sheet of the brand colours (custom properties read by portal.css)."""
    return (
        ":root {\n"
        f"  --brand: {primary};\n"
        f"  --on-brand: {text_colour_on(primary)};\n"
        f"  --brand-2: {secondary};\n"
        f"  --on-brand-2: {text_colour_on(secondary)};\n"
        f"  --link: {readable_on_light(primary)};\n"
        "}\n"
    )
