"""esecure.toml: the round trip, and broken configurations with their exact messages."""

from __future__ import annotations

import re
from dataclasses import FrozenInstanceError
from pathlib import Path

import pytest

from esecure.config import load_project
from esecure.errors import ConfigError


def _edit(project: Path, old: str, new: str) -> Path:
    path = project / "esecure.toml"
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))
    return path


def _line_of(path: Path, fragment: str) -> int:
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if fragment in line:
            return number
    raise AssertionError(fragment)


def _problems(project: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_project(project)
    assert caught.value.exit_code == 2
    assert caught.value.code == "ES901"
    return [p.render() for p in caught.value.problems]


def test_demo_project_loads_into_a_frozen_typed_object(demo_project):
    """The scaffolded demo project loads, with paths resolved and values typed."""
    project = load_project(demo_project)
    assert project.product.languages == ("fr", "en")
    assert project.image.data_size_mib is None  # from the plan
    assert project.image.platforms == ("linux",)  # the platforms with a [firefox] folder
    assert project.branding.icon_ico == demo_project.resolve() / "assets/icon.ico"
    assert project.trust.encrypted_keys is False
    assert project.updates.root_threshold == 1
    with pytest.raises(FrozenInstanceError):
        project.product.name = "other"  # type: ignore[misc]


def test_demo_project_says_its_keys_are_not_encrypted(demo_project):
    """A --demo project carries a warning that its keys are in clear."""
    project = load_project(demo_project)
    assert any("NOT encrypted" in w for w in project.warnings)


CASES = [
    # (name, old text, new text, expected problem with {path} and {line})
    (
        "typo-in-key",
        'launcher_name = "e-secure"',
        'launcher_nme = "e-secure"',
        [
            "{path}:{line}: [product] launcher_nme: expected a known key, found an unknown key. "
            'Fix: did you mean "launcher_name"? Rename it, or remove it',
            "{path}: [product] launcher_name: expected a value (a string), found nothing. "
            "Fix: add `launcher_name = …` to [product]",
        ],
    ),
    (
        "unknown-section",
        "[image]",
        "[imgae]",
        [
            "{path}:{line}: [imgae]: expected a known section, found an unknown section. "
            'Fix: did you mean "image"? Rename it, or remove it',
            "{path}: [image]: expected a [image] section, found none. Fix: add the [image] "
            "section (see `esecure init` for a complete example)",
        ],
    ),
    (
        "string-for-integer",
        "# data_size_mib = 2048",
        'data_size_mib = "64"',
        [
            '{path}:{line}: [image] data_size_mib: expected an integer, found a string "64". '
            "Fix: write data_size_mib as an integer",
        ],
    ),
    (
        "boolean-for-integer",
        "validity_days = 365",
        "validity_days = true",
        [
            "{path}:{line}: [certificates] validity_days: expected an integer, found a boolean "
            "true. Fix: write validity_days as an integer",
        ],
    ),
    (
        "version-not-pep440",
        'version = "1.0.0"',
        'version = "one"',
        [
            '{path}:{line}: [product] version: expected a version such as "1.2.0" or '
            '"1.2.0rc1" (numbers separated by dots (1 to 6, no leading zero), optionally '
            'followed by a1, b2 or rc3), found "one". Fix: write the version as "1.2.0" (no '
            ".post, .dev, local or leading-zero parts)",
        ],
    ),
    (
        "version-post-release",
        'version = "1.0.0"',
        'version = "1.2.0.post1"',
        [
            '{path}:{line}: [product] version: expected a version such as "1.2.0" or '
            '"1.2.0rc1" (numbers separated by dots (1 to 6, no leading zero), optionally '
            'followed by a1, b2 or rc3), found "1.2.0.post1". Fix: write the version as '
            '"1.2.0" (no .post, .dev, local or leading-zero parts)',
        ],
    ),
    (
        "site-not-https",
        'site = "https://127.0.0.1:8443/"',
        'site = "http://bank.example/"',
        [
            "{path}:{line}: [urls] site: expected an absolute https URL, found "
            '"http://bank.example/". Fix: write the full address, e.g. "https://bank.example/"',
        ],
    ),
    (
        "volume-label-lower-case",
        'volume_label = "E_SECURE"',
        'volume_label = "e-secure key"',
        [
            "{path}:{line}: [image] volume_label: expected 1-32 characters from A-Z, 0-9 and _ "
            '(ISO 9660 volume identifier), found "e-secure key". Fix: use e.g. "E_SECURE"',
        ],
    ),
    (
        "data-size-zero",
        "# data_size_mib = 2048",
        "data_size_mib = 0",
        [
            "{path}:{line}: [image] data_size_mib: expected a whole number from 1 to 32768, "
            "found 0. Fix: remove data_size_mib: `esecure build` sizes the data partition "
            "from the plan",
        ],
    ),
    (
        "platform-typo",
        '# platforms = ["linux", "windows"]',
        'platforms = ["linux", "windos"]',
        [
            "{path}:{line}: [image] platforms: expected a non-empty list of distinct platforms "
            'among "linux", "windows", "macos", found [\'linux\', \'windos\']. Fix: did you '
            'mean "windows"? Correct "windos", or remove it',
        ],
    ),
    (
        "platform-unknown",
        '# platforms = ["linux", "windows"]',
        'platforms = ["beos"]',
        [
            "{path}:{line}: [image] platforms: expected a non-empty list of distinct platforms "
            'among "linux", "windows", "macos", found [\'beos\']. Fix: remove "beos"; the '
            'platforms are "linux", "windows", "macos"',
        ],
    ),
    (
        "platforms-empty",
        '# platforms = ["linux", "windows"]',
        "platforms = []",
        [
            "{path}:{line}: [image] platforms: expected a non-empty list of distinct platforms "
            'among "linux", "windows", "macos", found []. Fix: name the platforms the key '
            'carries, e.g. ["linux", "windows"]',
        ],
    ),
    (
        "platform-twice",
        '# platforms = ["linux", "windows"]',
        'platforms = ["linux", "linux"]',
        [
            "{path}:{line}: [image] platforms: expected a non-empty list of distinct platforms "
            'among "linux", "windows", "macos", found [\'linux\', \'linux\']. Fix: name each '
            "platform once",
        ],
    ),
    (
        "platform-e-secure-cannot-build",
        '# platforms = ["linux", "windows"]',
        'platforms = ["linux", "macos"]',
        [
            "{path}:{line}: [image] platforms: expected platforms e-secure can build (linux and "
            'windows: each needs its Firefox), found "macos", for which e-secure has no '
            '[firefox] macos yet. Fix: remove "macos" from [image] platforms',
        ],
    ),
    (
        "platform-without-its-firefox",
        '# platforms = ["linux", "windows"]',
        'platforms = ["linux", "windows"]',
        [
            "{path}:{line}: [image] platforms: expected platforms this project can build (each "
            'needs its [firefox] installation), found "windows", and [firefox] windows is empty. '
            "Fix: set [firefox] windows to the folder that holds its Firefox ESR, or remove "
            '"windows" from [image] platforms',
        ],
    ),
    (
        "missing-icon",
        'icon_ico = "assets/icon.ico"',
        'icon_ico = "assets/missing.ico"',
        [
            "{path}:{line}: [branding] icon_ico: expected an existing file, found "
            '"assets/missing.ico" (missing). Fix: create {root}/assets/missing.ico or correct '
            "the path (relative paths start at the project)",
        ],
    ),
    (
        "default-language-not-offered",
        'languages = ["fr", "en"]',
        'languages = ["en"]',
        [
            "{path}:{line_default}: [product] default_language: expected one of the languages "
            "['en'], found \"fr\". Fix: add it to languages or pick one of them",
        ],
    ),
    (
        "unknown-language",
        'languages = ["fr", "en"]',
        'languages = ["fr", "de"]',
        [
            "{path}:{line}: [product] languages: expected a non-empty list of distinct "
            'languages among "fr" and "en", found [\'fr\', \'de\']. Fix: use ["fr", "en"]',
        ],
    ),
    (
        "threshold-above-keys",
        "root_threshold = 1",
        "root_threshold = 2",
        [
            "{path}:{line}: [updates] root_threshold: expected at most root_keys (1), found 2. "
            "Fix: lower root_threshold or add root keys",
        ],
    ),
    (
        "bad-colour",
        'primary_colour = "#E60028"',
        'primary_colour = "red"',
        [
            '{path}:{line}: [branding] primary_colour: expected a colour as "#RRGGBB", found '
            '"red". Fix: write it as "#E60028"',
        ],
    ),
    (
        "unknown-host-policy",
        'host_policies = "warn"',
        'host_policies = "ignore"',
        [
            '{path}:{line}: [firefox] host_policies: expected one of "warn", "refuse", found '
            '"ignore". Fix: use one of "warn", "refuse"',
        ],
    ),
    (
        "allowed-host-with-scheme",
        "allowed_hosts = []",
        'allowed_hosts = ["https://static.bank.example/"]',
        [
            "{path}:{line}: [urls] allowed_hosts: expected a list of host names such as "
            '"static.bank.example" or "*.bank.example", found [\'https://static.bank.example/\']'
            ". Fix: remove schemes, paths and ports from the entries",
        ],
    ),
    (
        "renewal-window-longer-than-validity",
        "renew_before_days = 30",
        "renew_before_days = 365",
        [
            "{path}:{line}: [certificates] renew_before_days: expected fewer days than "
            "validity_days (365), found 365. Fix: renew a few weeks before expiry, e.g. 30",
        ],
    ),
]


@pytest.mark.parametrize(
    ("old", "new", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_broken_configuration_gives_exact_message(demo_project, old, new, expected):
    """Each broken value is reported with file, line, key, expectation, finding and fix."""
    path = _edit(demo_project, old, new)
    key = re.match(r"\[?(\w+)", new).group(1)
    line = _line_of(path, new)
    line_default = _line_of(path, "default_language =")
    want = [
        e.format(path=path, line=line, root=demo_project.resolve(), line_default=line_default)
        for e in expected
    ]
    assert _problems(demo_project) == want, key


def test_every_problem_is_reported_at_once(demo_project):
    """Three independent mistakes give three problems in one error."""
    _edit(demo_project, 'version = "1.0.0"', 'version = "x"')
    _edit(demo_project, "# data_size_mib = 2048", "data_size_mib = 0")
    _edit(demo_project, 'host_policies = "warn"', 'host_policies = "no"')
    assert len(_problems(demo_project)) == 3


def test_platforms_default_to_those_with_a_firefox(demo_project, tmp_path):
    """Unset, [image] platforms is every platform with a [firefox] folder; set, it is the
    list given (sorted); an explicit data size is kept."""
    firefox = tmp_path / "firefox-win"
    firefox.mkdir()
    _edit(demo_project, 'windows = ""', f'windows = "{firefox}"')
    assert load_project(demo_project).image.platforms == ("linux", "windows")
    _edit(demo_project, '# platforms = ["linux", "windows"]', 'platforms = ["windows"]')
    _edit(demo_project, "# data_size_mib = 2048", "data_size_mib = 2048")
    image = load_project(demo_project).image
    assert (image.platforms, image.data_size_mib) == (("windows",), 2048)


def test_no_firefox_at_all_is_named_at_the_firefox_section(demo_project):
    """No platform has a Firefox and none is named: the [firefox] section says what to set."""
    path = _edit(demo_project, 'linux = "/usr/lib/firefox-esr"', 'linux = ""')
    line = path.read_text().splitlines().index("[firefox]") + 1
    assert _problems(demo_project) == [
        f"{path}:{line}: [firefox]: expected a Firefox ESR installation for at least one "
        "platform (the key carries the platforms that have one, unless [image] platforms "
        "names them), found none. Fix: set [firefox] linux (Debian's firefox-esr: "
        '"/usr/lib/firefox-esr")'
    ]


def test_missing_file_says_how_to_create_a_project(tmp_path):
    """No esecure.toml: the message names the path and `esecure init`."""
    assert _problems(tmp_path) == [
        f"{tmp_path / 'esecure.toml'}: expected a key project file named esecure.toml, found "
        f"no such file. Fix: run `esecure init {tmp_path}` to create a project, or pass the "
        "directory that holds esecure.toml"
    ]


def test_directory_in_place_of_the_file(tmp_path):
    """esecure.toml that is a directory is named as such."""
    (tmp_path / "esecure.toml").mkdir()
    assert _problems(tmp_path) == [
        f"{tmp_path / 'esecure.toml'}: expected a file, found a directory. "
        "Fix: remove or rename the directory esecure.toml"
    ]


def test_unreadable_file(demo_project, monkeypatch):
    """A file the OS refuses to read: the reason and the chmod fix (root reads anything, so
    the refusal is simulated at the OS boundary)."""

    def refuse(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_bytes", refuse)
    assert _problems(demo_project) == [
        f"{demo_project / 'esecure.toml'}: expected a readable file, found an unreadable file "
        "(Permission denied). Fix: fix the file's permissions (e.g. chmod 644)"
    ]


def test_non_utf8_file(demo_project):
    """A Latin-1 byte: the line and the byte are named."""
    path = demo_project / "esecure.toml"
    data = path.read_bytes().replace(b'bank_name = "Demo Bank"', b'bank_name = "Soci\xe9t\xe9"')
    path.write_bytes(data)
    line = _line_of_bytes(data, b"bank_name =")
    assert _problems(demo_project) == [
        f"{path}:{line}: expected UTF-8 text, found the byte 0xe9 that is not UTF-8. "
        "Fix: save the file as UTF-8"
    ]


def _line_of_bytes(data: bytes, fragment: bytes) -> int:
    return data[: data.index(fragment)].count(b"\n") + 1


def test_toml_syntax_error(demo_project):
    """A TOML syntax error gives its line and column."""
    path = _edit(demo_project, 'version = "1.0.0"', "version = 1.0.0")
    line = _line_of(path, "version = 1.0.0")
    assert _problems(demo_project) == [
        f"{path}:{line}: expected valid TOML, found a syntax error (Expected newline or end of "
        "document after a statement at column 14). Fix: correct the syntax on that line "
        "(strings need quotes, tables need [brackets])"
    ]


def test_path_to_the_toml_file_itself_is_accepted(demo_project):
    """`esecure check path/to/esecure.toml` works like the directory."""
    assert load_project(demo_project / "esecure.toml").root == demo_project.resolve()


def test_firefox_automation_is_off_unless_set(demo_project):
    """[firefox] automation: false when absent (every customer image); true when set;
    anything else is named."""
    assert load_project(demo_project).firefox.automation is False
    policy = 'host_policies = "warn"'
    _edit(demo_project, policy, policy + "\nautomation = true")
    assert load_project(demo_project).firefox.automation is True
    path = _edit(demo_project, "automation = true", 'automation = "yes"')
    (problem,) = _problems(demo_project)
    assert "[firefox] automation: expected true or false" in problem, problem
    assert f":{_line_of(path, 'automation')}:" in problem


def _without_network(project: Path) -> None:
    path = project / "esecure.toml"
    text = path.read_text()
    start = text.index("[network]")
    end = text.index("[certificates]")
    path.write_text(text[:start] + text[end:])


def test_network_defaults_to_the_hosts_proxy_and_no_doh(demo_project):
    """[network] is optional: a project written before it existed loads with proxy
    "system" and doh "off"; the template writes those same values."""
    assert load_project(demo_project).network.proxy == "system"
    assert load_project(demo_project).network.doh == "off"
    _without_network(demo_project)
    network = load_project(demo_project).network
    assert (network.proxy, network.doh) == ("system", "off")


@pytest.mark.parametrize(
    "value",
    ["none", "system", "http://proxy.bank.example:3128", "pac:https://wpad.bank.example/p.pac"],
)
def test_network_proxy_forms(demo_project, value):
    """The four documented forms load as written."""
    _edit(demo_project, 'proxy = "system"', f'proxy = "{value}"')
    assert load_project(demo_project).network.proxy == value


@pytest.mark.parametrize(
    ("value", "fix"),
    [
        ("http://bob:pw@proxy.bank.example:3128", "remove the user name and password"),
        ("https://proxy.bank.example:3128", 'write the proxy as "http://host:port"'),
        ("http://proxy.bank.example", 'write the proxy as "http://host:port" (port included)'),
        ("http://proxy.bank.example:99999", "write the port as a number from 1 to 65535"),
        ("http://proxy.bank.example:3128/x", "remove the path"),
        ("pac:http://wpad.bank.example/p.pac", "write the script's https address"),
        ("direct", 'write the proxy as "http://host:port"'),
    ],
)
def test_network_proxy_errors_name_the_line_and_the_fix(demo_project, value, fix):
    """A wrong proxy is ES901 at its line, with what is expected and how to fix it."""
    path = _edit(demo_project, 'proxy = "system"', f'proxy = "{value}"')
    (problem,) = _problems(demo_project)
    assert problem.startswith(f"{path}:{_line_of(path, 'proxy = ')}: [network] proxy: "), problem
    assert 'expected "system", "none", a proxy such as' in problem
    assert f'found "{value}"' in problem
    assert f"Fix: {fix}" in problem


def test_network_doh_is_off_or_an_https_resolver(demo_project):
    """doh: an https resolver URL loads; http is refused at its line."""
    _edit(demo_project, 'doh = "off"', 'doh = "https://dns.bank.example/dns-query"')
    assert load_project(demo_project).network.doh == "https://dns.bank.example/dns-query"
    path = _edit(demo_project, 'doh = "https://dns', 'doh = "http://dns')
    (problem,) = _problems(demo_project)
    assert problem.startswith(f"{path}:{_line_of(path, 'doh = ')}: [network] doh: expected")
    assert 'Fix: write e.g. "https://dns.bank.example/dns-query", or "off"' in problem
