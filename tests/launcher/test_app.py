"""The launcher's command line: --version, --self-check, product.json."""

from __future__ import annotations

import json

from esecure import __version__
from esecure.launcher import app
from esecure_onkey.boot import Choice
from esecure_onkey.components import component_names, encode_release, mount
from esecure_onkey.layout import CD_RELEASE, platform_name


def test_version_names_the_bootstraps_choice(tmp_path, capsys):
    """--version prints the version and why the bootstrap chose this release."""
    dirs = {name: tmp_path / mount(name) for name in component_names("linux")}
    boot = Choice(tmp_path, "cd", "1.0.0", dirs, "application shipped on the CD-ROM", "linux")
    assert app.main(["--version"], boot=boot) == 0
    assert capsys.readouterr().out == (
        f"e-secure {__version__} (application shipped on the CD-ROM)\n"
    )


def test_version_without_a_bootstrap_is_the_cds_release(tmp_path, capsys, monkeypatch):
    """Run without a bootstrap, the launcher runs the CD-ROM's release at ESECURE_CD_ROOT."""
    ids = dict.fromkeys(component_names(platform_name()), "0" * 64)
    (tmp_path / CD_RELEASE).write_bytes(encode_release("demo-bank", "1.0.0", ids))
    monkeypatch.setenv("ESECURE_CD_ROOT", str(tmp_path))
    assert app.main(["--version"]) == 0
    assert capsys.readouterr().out == (
        f"e-secure {__version__} (application shipped on the CD-ROM)\n"
    )


def test_read_product(tmp_path):
    """product.json is read from the app component's directory; absent or broken gives {}."""
    assert app.read_product(tmp_path) == {}
    (tmp_path / "product.json").write_text("{broken")
    assert app.read_product(tmp_path) == {}
    (tmp_path / "product.json").write_text(json.dumps({"name": "e-secure"}))
    assert app.read_product(tmp_path) == {"name": "e-secure"}


def test_self_check_on_a_blank_directory_is_e1(tmp_path, capsys, monkeypatch):
    """--self-check where there is no manifest fails with E1 in the language of the
    app component's product.json."""
    monkeypatch.setenv("ESECURE_CD_ROOT", str(tmp_path))
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "product.json").write_text(
        json.dumps({"default_language": "fr", "support_phone": "+33 1 00"})
    )
    assert app.main(["--self-check"]) == 1
    err = capsys.readouterr().err
    assert "error ES101" in err
    assert "MANIFEST.json is missing" in err
    assert "assistance: +33 1 00" in err
