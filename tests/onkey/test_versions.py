"""The one version grammar: what it accepts, how it orders, and who refuses the rest."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from packaging.version import Version as Pep440

from esecure.cli import cli
from esecure.scaffold import InitOptions, init_project
from esecure_onkey.versions import MAX_LENGTH, parse_version, version_key

ACCEPTED = ["0", "1", "1.0", "1.2.0", "10.20.30", "1.2.3.4.5.6", "1.2.0a1", "1.2.0b2", "2.0rc10"]
REFUSED = [
    "1.2.0.post1",
    "1.2.0.dev3",
    "1.2.0+local",
    "v1.2.0",
    "1.2.0-beta",
    "01.2",
    "1.02",
    "1.2.3.4.5.6.7",
    "1.2.0rc",
    "1.2.0c1",
    "1.2.0RC1",
    " 1.2.0",
    "1.2.0\n",
    "",
    "1..2",
    "1234567890.0",
    "\uff11.\uff12",  # fullwidth digits: \d would accept them, the grammar does not
]


@pytest.mark.parametrize("text", ACCEPTED)
def test_accepted_forms_parse_and_keep_their_text(text):
    """Every form of the grammar parses; the text is kept as written."""
    assert str(parse_version(text)) == text
    assert version_key(text) is not None


@pytest.mark.parametrize("text", REFUSED)
def test_refused_forms_name_the_value_and_the_grammar(text):
    """Anything else is refused with the value quoted and the grammar said."""
    assert version_key(text) is None
    with pytest.raises(ValueError, match=r"is not a version: use numbers separated by dots"):
        parse_version(text)


def test_non_strings_and_long_texts_are_refused():
    """Decoded JSON may hold anything: only strings of at most 64 characters."""
    for value in (1, 1.0, None, ["1"], True, "1." * 40 + "1"):
        assert version_key(value) is None
    assert len("1." * 40 + "1") > MAX_LENGTH


def test_order_is_pep_440s():
    """Trailing zeros do not count; pre-releases come before their release."""
    v = parse_version
    assert v("1.2") == v("1.2.0") == v("1.2.0.0")
    assert v("1.2.0a1") < v("1.2.0a2") < v("1.2.0b1") < v("1.2.0rc1") < v("1.2.0") < v("1.2.1")
    assert v("1.10") > v("1.9")
    assert v("2.0rc1").is_prerelease
    assert not v("2.0").is_prerelease


_release = st.lists(st.integers(0, 10**9 - 1), min_size=1, max_size=6)
_pre = st.one_of(st.none(), st.tuples(st.sampled_from(["a", "b", "rc"]), st.integers(0, 999)))


def _text(release: list[int], pre: tuple[str, int] | None) -> str:
    return ".".join(map(str, release)) + (f"{pre[0]}{pre[1]}" if pre else "")


@given(_release, _pre, _release, _pre)
def test_the_grammar_is_a_subset_of_pep_440_and_orders_the_same(r1, p1, r2, p2):
    """Any two versions of the grammar compare as packaging's PEP 440 compares them."""
    a, b = _text(r1, p1), _text(r2, p2)
    assert (parse_version(a) < parse_version(b)) == (Pep440(a) < Pep440(b))
    assert (parse_version(a) == parse_version(b)) == (Pep440(a) == Pep440(b))


def test_check_refuses_a_post_release_with_exit_2(tmp_path):
    """`esecure check` names [product] version and the grammar; exit 2, no traceback."""
    project = tmp_path / "p"
    init_project(project, InitOptions(demo=True), passphrase=None)
    config = project / "esecure.toml"
    text = config.read_text()
    assert 'version = "1.0.0"' in text
    config.write_text(text.replace('version = "1.0.0"', 'version = "1.2.0.post1"', 1))
    result = CliRunner().invoke(cli, ["check", str(project)])
    assert result.exit_code == 2, result.output
    assert '[product] version: expected a version such as "1.2.0"' in result.output
    assert 'found "1.2.0.post1"' in result.output
    assert "Traceback" not in result.output


def test_publish_refuses_a_post_release_with_exit_2(tmp_path):
    """`esecure publish --version 1.2.0.post1`: ES952, exit 2, before anything is written."""
    project = tmp_path / "p"
    init_project(project, InitOptions(demo=True), passphrase=None)
    runner = CliRunner()
    assert runner.invoke(cli, ["keys", "init", str(project)]).exit_code == 0
    bundle = tmp_path / "bundle"
    (bundle / "app").mkdir(parents=True)
    (bundle / "app" / "product.json").write_text("{}")
    before = sorted(p.name for p in (project / "repository").rglob("*"))
    result = runner.invoke(
        cli, ["publish", str(project), "--version", "1.2.0.post1", "--bundle", str(bundle)]
    )
    assert result.exit_code == 2, result.output
    assert "ES952" in result.output
    assert "'1.2.0.post1' is not a version" in result.output
    assert "Traceback" not in result.output
    assert sorted(p.name for p in (project / "repository").rglob("*")) == before
