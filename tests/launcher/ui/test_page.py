"""The page, its branding and its words (pure: no display)."""

from __future__ import annotations

import json
import re

import pytest

from esecure.launcher.ui import page
from esecure.launcher.ui.page import (
    DEFAULT_PRIMARY,
    MAX_LOGO,
    branding_from,
    build_page,
    colour,
    logo_data_uri,
    on_colour,
    script_json,
)
from esecure.launcher.ui.texts import TEXTS, format_seconds, format_size, page_texts, say

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32


def _config(html: str) -> dict:
    found = re.search(r'<script type="application/json" id="config">(.*?)</script>', html, re.S)
    assert found is not None
    return json.loads(found.group(1))


@pytest.mark.parametrize(
    ("size", "lang", "shown"),
    [
        (0, "en", "0 bytes"),
        (999, "fr", "999 octets"),
        (1_500, "en", "1.5 kB"),
        (12_345_678, "en", "12 MB"),
        (2_500_000, "fr", "2,5 Mo"),
        (3_000_000_000, "en", "3 GB"),
    ],
)
def test_sizes_read_like_a_person_writes_them(size, lang, shown):
    """Decimal units, one decimal under 10, a decimal comma in French."""
    assert format_size(size, lang) == shown


@pytest.mark.parametrize(
    ("estimate", "lang", "shown"),
    [
        ((4.0, 95.0), "en", "4 seconds to 2 minutes"),
        ((20.0, 400.0), "fr", "20 secondes à 7 minutes"),
        ((61.0, 70.0), "en", "about 1 minute"),
        ((0.2, 0.4), "fr", "environ 1 seconde"),
        ((95.0, 4.0), "en", "4 seconds to 2 minutes"),
    ],
)
def test_time_estimates_are_a_range_or_about(estimate, lang, shown):
    """Both ends rounded alike: "about"; otherwise a range, fastest first."""
    assert format_seconds(estimate, lang) == shown


def test_every_text_is_in_french_and_english_with_the_same_fields():
    """No text lacks a language; both languages fill the same {fields}."""
    for key, text in TEXTS.items():
        assert text.en and text.fr, key
        fields = set(re.findall(r"\{(\w+)\}", text.en))
        assert fields == set(re.findall(r"\{(\w+)\}", text.fr)), key


def test_the_page_texts_name_the_portal():
    """The page's words come in the user's language with the portal's name filled in."""
    texts = page_texts("fr", "Sogecash Net")
    assert texts["session.open"] == "Ouvrir Sogecash Net"
    assert texts["offer.now"] == "Mettre à jour maintenant"
    assert say("removed.unsafe", "en", reason="busy").startswith("The key could not be ejected")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("#b3002d", "#b3002d"), ("#abc", "#abc"), ("red", DEFAULT_PRIMARY), (None, DEFAULT_PRIMARY)],
)
def test_only_hex_colours_are_taken(value, expected):
    """A colour is #rgb or #rrggbb, else the default."""
    assert colour(value, DEFAULT_PRIMARY) == expected


def test_attack_a_colour_cannot_inject_css():
    """product.json's colour `red; } body { display: none` never reaches the CSS."""
    brand = branding_from({"colours": {"primary": "red; } body { display: none"}}, None, None)
    html = build_page(brand, "en", "Starting…")
    assert "display: none" not in html
    assert f"--primary: {DEFAULT_PRIMARY};" in html


@pytest.mark.parametrize(("background", "text"), [("#1f4e79", "#ffffff"), ("#f4f0e8", "#000000")])
def test_button_text_reads_on_the_brand_colour(background, text):
    """White on dark brand colours, black on light ones."""
    assert on_colour(background) == text


def test_the_logo_is_a_small_png_or_nothing(tmp_path):
    """A PNG becomes a data: URI; too big, not a PNG or missing: none (the bank's name)."""
    logo = tmp_path / "logo.png"
    logo.write_bytes(PNG)
    assert logo_data_uri(logo).startswith("data:image/png;base64,iVBORw0KGgo")
    logo.write_bytes(PNG + b"\0" * MAX_LOGO)
    assert logo_data_uri(logo) is None
    logo.write_bytes(b"<svg onload=alert(1)>")
    assert logo_data_uri(logo) is None
    assert logo_data_uri(tmp_path / "missing.png") is None
    assert logo_data_uri(None) is None


def test_branding_names_and_phone_come_from_product_json(tmp_path):
    """Title, bank and portal from product.json; the logo from branding/; defaults else."""
    (tmp_path / "logo.png").write_bytes(PNG)
    product = {"launcher_name": "e-secure", "bank_name": "Demo Bank", "portal_name": "Demo Net"}
    brand = branding_from(product, "+33 1", tmp_path)
    assert (brand.title, brand.bank, brand.portal, brand.phone) == (
        "e-secure",
        "Demo Bank",
        "Demo Net",
        "+33 1",
    )
    assert brand.logo is not None
    bare = branding_from({}, None, None)
    assert (bare.title, bare.bank, bare.logo, bare.primary) == (
        "e-secure",
        "e-secure",
        None,
        DEFAULT_PRIMARY,
    )


def test_attack_a_name_cannot_close_the_config_script():
    """A bank name holding </script><script>… stays data: escaped inside the JSON, never
    markup (and the page script puts it on screen with textContent)."""
    evil = '</script><script>alert("x")</script><!--'
    brand = branding_from({"bank_name": evil, "portal_name": evil}, evil, None)
    html = build_page(brand, "en", evil)
    assert evil not in html
    assert html.count("</script>") == 2  # the config and the page's script, nothing more
    config = _config(html)
    assert config["bank"] == evil and config["first"] == evil and config["phone"] == evil
    assert "<" not in script_json(evil) and "&" not in script_json("a & b")


def test_the_page_is_whole_and_forbids_the_network():
    """Placeholders filled, the language set, a CSP without any network source, and no
    outside text assigned as HTML by the page's script."""
    html = build_page(branding_from({}, None, None), "fr", "Démarrage…")
    assert "<!--STYLE-->" not in html and "<!--SCRIPT-->" not in html and "__" not in html
    assert '<html lang="fr">' in html
    assert "default-src 'none'" in html and "connect-src" not in html
    script = page._asset("page.js")
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script
    assert _config(html)["texts"]["error.close"] == "Fermer"
