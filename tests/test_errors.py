"""The error catalogue: complete for the guide's table, bilingual, in sync with docs/errors.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from esecure import _catalogue_doc
from esecure.errors import (
    CATALOGUE,
    ConfigError,
    EsecureError,
    IntegrityError,
    OperationError,
    Problem,
    UsageError,
)

SEED_ROWS = [f"E{i}" for i in range(1, 13)]
DOCS = Path(__file__).resolve().parents[1] / "docs" / "errors.md"


@pytest.mark.parametrize("row", SEED_ROWS)
def test_every_seed_row_has_a_bilingual_entry(row):
    """Each row E1-E12 of the guide has an entry with distinct French and English texts."""
    entries = [e for e in CATALOGUE.values() if e.seed_row == row]
    assert len(entries) >= 1
    for e in entries:
        for text in (e.title, e.message, e.cause, e.action):
            assert text.en.strip()
            assert text.fr.strip()
            assert text.en != text.fr
        assert e.detection, f"{e.code} must say how the product observes it"


@pytest.mark.parametrize("row", ["E11", "E12"])
def test_rows_removed_by_design_say_so(row):
    """PDF rows are removed by the built-in viewer, and the entry says how."""
    (e,) = (e for e in CATALOGUE.values() if e.seed_row == row)
    assert e.detection.startswith("Removed by design")
    assert "Supprimé par conception" in e.cause.fr


def test_codes_are_stable_and_well_formed():
    """Codes are ES + three digits, names are unique slugs."""
    assert all(re.fullmatch(r"ES\d{3}", code) for code in CATALOGUE)
    names = [e.name for e in CATALOGUE.values()]
    assert len(names) == len(set(names))
    assert all(re.fullmatch(r"[a-z0-9-]+", n) for n in names)


def test_every_error_class_default_code_is_in_the_catalogue():
    """Each class of the hierarchy points at a real entry."""
    classes = [EsecureError]
    seen = []
    while classes:
        cls = classes.pop()
        seen.append(cls)
        classes.extend(cls.__subclasses__())
    for cls in seen:
        assert cls.default_code in CATALOGUE, cls


def test_exit_codes_by_branch():
    """Usage and configuration errors exit 2; failed operations exit 1."""
    assert UsageError("x").exit_code == 2
    assert ConfigError(Problem("f", "a", "b", "c")).exit_code == 2
    assert OperationError("x").exit_code == 1
    assert IntegrityError("x").exit_code == 1


def test_render_adds_the_support_number_when_support_is_needed():
    """Errors that say 'call support' carry the configured phone number."""
    text = IntegrityError("trust/ca.pem differs", code="ES101").render("fr", "+33 1 00")
    assert text.splitlines() == [
        "error ES101: Un problème est survenu lors de l'installation ; ce périphérique risque "
        "de ne pas fonctionner correctement.",
        "  trust/ca.pem differs",
        "  cause: Un fichier de la clé ne correspond pas à la liste signée de son contenu : la "
        "clé est endommagée ou a été modifiée.",
        "  que faire: N'utilisez plus cette clé. Appelez l'assistance pour obtenir une clé de "
        "remplacement.",
        "  assistance: +33 1 00",
    ]


def test_unknown_code_is_refused():
    """Raising with a code the catalogue lacks is a programming error, caught at once."""
    with pytest.raises(KeyError):
        EsecureError("x", code="ES000")


def test_docs_errors_md_matches_the_catalogue():
    """docs/errors.md is exactly what `esecure errors --format markdown` prints."""
    assert DOCS.read_text(encoding="utf-8") == _catalogue_doc.render_markdown(), (
        "regenerate: esecure errors --format markdown > docs/errors.md"
    )
