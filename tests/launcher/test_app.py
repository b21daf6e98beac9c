"""The launcher's command line: --version, --self-check, product.json."""

from __future__ import annotations

import json

from esecure import __version__
from esecure.launcher import app
from esecure_onkey.boot import Choice


def test_version_names_the_application_root(tmp_path, capsys):
    """--version prints the version and why this application root was chosen."""
    boot = Choice(root=tmp_path, slot=None, reason="application shipped on the CD-ROM")
    assert app.main(["--version"], boot=boot) == 0
    assert capsys.readouterr().out == (
        f"e-secure {__version__} (application shipped on the CD-ROM)\n"
    )


def test_read_product(tmp_path):
    """product.json is read from the application root; absent or broken gives {}."""
    assert app.read_product(tmp_path) == {}
    (tmp_path / "product.json").write_text("{broken")
    assert app.read_product(tmp_path) == {}
    (tmp_path / "product.json").write_text(json.dumps({"name": "e-secure"}))
    assert app.read_product(tmp_path) == {"name": "e-secure"}


def test_self_check_on_a_blank_directory_is_e1(tmp_path, capsys, monkeypatch):
    """--self-check where there is no manifest fails with E1 in the product's language."""
    monkeypatch.setenv("ESECURE_CD_ROOT", str(tmp_path))
    (tmp_path / "product.json").write_text(
        json.dumps({"default_language": "fr", "support_phone": "+33 1 00"})
    )
    boot = Choice(root=tmp_path, slot=None, reason="test")
    assert app.main(["--self-check"], boot=boot) == 1
    err = capsys.readouterr().err
    assert "error ES101" in err
    assert "MANIFEST.json is missing" in err
    assert "assistance: +33 1 00" in err
