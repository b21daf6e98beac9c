"""The key project: ``esecure.toml``, its schema, and the frozen config object built from it.

Loading never raises anything but :class:`~esecure.errors.ConfigError`, and that error lists
every problem found at once, each naming the file, the key (with its line where the file
shows it), what was expected, what was found and how to fix it. Unknown keys are errors:
a typo must never pass silently.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from esecure.errors import ConfigError, Problem
from esecure_onkey.layout import PLATFORMS
from esecure_onkey.versions import GRAMMAR, version_key

__all__ = [
    "CONFIG_NAME",
    "BrandingConfig",
    "CertificatesConfig",
    "FirefoxConfig",
    "ImageConfig",
    "NetworkConfig",
    "ProductConfig",
    "Project",
    "TrustConfig",
    "UpdatesConfig",
    "UrlsConfig",
    "load_project",
    "locate",
]

CONFIG_NAME = "esecure.toml"
DATA_SIZE_MAX_MIB = 32_768  # FAT32 as Windows formats it: 32 GiB at most


@dataclass(frozen=True)
class ProductConfig:
    """Names and texts the user sees."""

    id: str
    name: str
    bank_name: str
    portal_name: str
    launcher_name: str
    version: str
    languages: tuple[str, ...]
    default_language: str
    support_phone: str


@dataclass(frozen=True)
class UrlsConfig:
    """Where the launcher and the browser go."""

    site: str
    enrolment: str
    updates: str
    allowed_hosts: tuple[str, ...]


@dataclass(frozen=True)
class ImageConfig:
    """The two partitions of the key, and the platforms it carries.

    ``data_size_mib`` None: the data partition is sized from the plan (bundle.budget) by
    `esecure build`; a number is checked against that minimum.
    """

    volume_label: str
    data_label: str
    data_size_mib: int | None
    platforms: tuple[str, ...]


@dataclass(frozen=True)
class BrandingConfig:
    """Colours and the project's asset files (absolute paths once loaded)."""

    primary_colour: str
    secondary_colour: str
    icon_ico: Path
    icon_png: Path
    logo: Path
    guide: Path


@dataclass(frozen=True)
class FirefoxConfig:
    """Where each platform's Firefox ESR is copied from, and the host-policy stance."""

    linux: Path | None
    windows: Path | None
    host_policies: str
    windows_sha256: str = ""  # the tree hash of ``windows`` (esecure.bundle.winfirefox)
    automation: bool = False  # test images only: Firefox's Remote Agent may be asked for


@dataclass(frozen=True)
class NetworkConfig:
    """How the key reaches the network: Firefox's Proxy and DNSOverHTTPS policies and the
    launcher's own connections (enrolment, updates) follow it (docs/configuration.md).

    ``proxy``: "system" (the host's settings), "none" (direct, whatever the host says), an
    ``http://host:port`` URL, or ``pac:<https URL>`` (a proxy auto-configuration script:
    Firefox runs it, the launcher uses the host's settings). ``doh``: "off", or the
    ``https://`` URL of a DNS-over-HTTPS resolver (Firefox only, with no fallback)."""

    proxy: str = "system"
    doh: str = "off"


@dataclass(frozen=True)
class CertificatesConfig:
    """Client certificate policy."""

    key_algorithm: str
    validity_days: int
    renew_before_days: int


@dataclass(frozen=True)
class UpdatesConfig:
    """Update channel policy (TUF thresholds and expiries, client limits)."""

    root_keys: int
    root_threshold: int
    root_expiry_days: int
    targets_expiry_days: int
    snapshot_expiry_days: int
    timestamp_expiry_days: int
    check_timeout_seconds: int
    max_offline_days: int


@dataclass(frozen=True)
class TrustConfig:
    """The project's trust material (absolute paths once loaded)."""

    encrypted_keys: bool
    ca_certificate: Path
    ca_key: Path | None
    image_signing_key: Path
    image_signing_public_key: Path
    server_certificate: Path | None
    server_key: Path | None


@dataclass(frozen=True)
class SigningConfig:
    """``[signing]`` (optional): Authenticode signing of the Windows launcher."""

    certificate: Path | None = None
    key: Path | None = None
    ca_certificate: Path | None = None
    tsa_url: str = ""
    tsa_ca_certificate: Path | None = None
    key_uri: str = ""
    """The key on a PKCS#11 token (an RFC 7512 ``pkcs11:`` URI given as ``key``): then
    ``key`` is None and :attr:`pkcs11_module` names the token's module."""
    pkcs11_module: Path | None = None

    @property
    def enabled(self) -> bool:
        """Whether e-secure.exe is signed (a certificate, its CA and a key: file or token)."""
        has_key = self.key is not None or bool(self.key_uri)
        return self.certificate is not None and self.ca_certificate is not None and has_key


@dataclass(frozen=True)
class Project:
    """A loaded and validated key project."""

    root: Path
    product: ProductConfig
    urls: UrlsConfig
    image: ImageConfig
    branding: BrandingConfig
    firefox: FirefoxConfig
    certificates: CertificatesConfig
    updates: UpdatesConfig
    trust: TrustConfig
    warnings: tuple[str, ...] = field(default=())
    network: NetworkConfig = field(default=NetworkConfig())
    signing: SigningConfig = field(default_factory=SigningConfig)

    @property
    def config_path(self) -> Path:
        """The project's ``esecure.toml``."""
        return self.root / CONFIG_NAME


# --- the schema ---------------------------------------------------------------------------

# A check returns None when the value is right, else (expected, fix).
Check = Callable[[Any], tuple[str, str] | None]


@dataclass(frozen=True)
class _Field:
    kind: type | tuple[type, ...]
    kind_name: str
    check: Check | None = None
    required: bool = True
    default: Any = None


def _regex(pattern: str, expected: str, fix: str) -> Check:
    compiled = re.compile(pattern)

    def check(value: Any) -> tuple[str, str] | None:
        return None if compiled.fullmatch(value) else (expected, fix)

    return check


def _int_range(low: int, high: int, fix: str) -> Check:
    def check(value: Any) -> tuple[str, str] | None:
        return None if low <= value <= high else (f"a whole number from {low} to {high}", fix)

    return check


def _one_of(*choices: str) -> Check:
    quoted = ", ".join(f'"{c}"' for c in choices)

    def check(value: Any) -> tuple[str, str] | None:
        return None if value in choices else (f"one of {quoted}", f"use one of {quoted}")

    return check


def _check_version(value: Any) -> tuple[str, str] | None:
    """The on-key version grammar (esecure_onkey.versions): what a key's bootstrap compares."""
    if version_key(value) is None:
        return (
            f'a version such as "1.2.0" or "1.2.0rc1" ({GRAMMAR})',
            'write the version as "1.2.0" (no .post, .dev, local or leading-zero parts)',
        )
    return None


def _url(*, schemes: tuple[str, ...]) -> Check:
    names = " or ".join(schemes)

    def check(value: Any) -> tuple[str, str] | None:
        parts = urlsplit(value)
        if parts.scheme not in schemes or not parts.hostname:
            return (
                f"an absolute {names} URL",
                f'write the full address, e.g. "{schemes[0]}://bank.example/"',
            )
        return None

    return check


def _platforms(value: Any) -> tuple[str, str] | None:
    quoted = ", ".join(f'"{p}"' for p in PLATFORMS)
    expected = f"a non-empty list of distinct platforms among {quoted}"
    for name in value:
        if name not in PLATFORMS:
            close = difflib.get_close_matches(name, PLATFORMS, n=1)
            if close:
                return expected, f'did you mean "{close[0]}"? Correct "{name}", or remove it'
            return expected, f'remove "{name}"; the platforms are {quoted}'
    if not value:
        return expected, 'name the platforms the key carries, e.g. ["linux", "windows"]'
    if len(set(value)) != len(value):
        return expected, "name each platform once"
    return None


def _languages(value: Any) -> tuple[str, str] | None:
    if not value or any(v not in ("fr", "en") for v in value) or len(set(value)) != len(value):
        return ('a non-empty list of distinct languages among "fr" and "en"', 'use ["fr", "en"]')
    return None


def _hosts(value: Any) -> tuple[str, str] | None:
    pattern = re.compile(r"(\*\.)?[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?")
    if any(not pattern.fullmatch(h) for h in value):
        return (
            'a list of host names such as "static.bank.example" or "*.bank.example"',
            "remove schemes, paths and ports from the entries",
        )
    return None


_PROXY_EXPECTED = (
    '"system", "none", a proxy such as "http://proxy.bank.example:3128", or a proxy '
    'auto-configuration script such as "pac:https://wpad.bank.example/proxy.pac"'
)


def _pac(url: str) -> tuple[str, str] | None:
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return None
    return _PROXY_EXPECTED, (
        'write the script\'s https address after "pac:", e.g. "pac:https://…" (over '
        "http, anyone on the path could rewrite the proxy rules)"
    )


def _proxy(value: Any) -> tuple[str, str] | None:
    """``[network] proxy``: "system", "none", ``http://host:port`` or ``pac:https://…``."""
    if value in ("system", "none"):
        return None
    if value.startswith("pac:"):
        return _pac(value.removeprefix("pac:"))
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return _PROXY_EXPECTED, "write the port as a number from 1 to 65535"
    fix = None
    if parts.scheme != "http" or not parts.hostname or port is None:
        fix = 'write the proxy as "http://host:port" (port included)'
    elif parts.username is not None or parts.password is not None:
        fix = (
            "remove the user name and password: every key would carry them in clear; "
            "Firefox asks for them when the proxy requires them"
        )
    elif parts.path not in ("", "/") or parts.query or parts.fragment:
        fix = 'remove the path: write only "http://host:port"'
    return None if fix is None else (_PROXY_EXPECTED, fix)


def _doh(value: Any) -> tuple[str, str] | None:
    """``[network] doh``: "off" or an https resolver URL."""
    if value == "off":
        return None
    parts = urlsplit(value)
    if parts.scheme == "https" and parts.hostname and parts.username is None:
        return None
    return (
        '"off" or the https URL of a DNS-over-HTTPS resolver',
        'write e.g. "https://dns.bank.example/dns-query", or "off"',
    )


_COLOUR = _regex(r"#[0-9A-Fa-f]{6}", 'a colour as "#RRGGBB"', 'write it as "#E60028"')
_ASSET = _Field(str, "a path")
_OPT_PATH = _Field(str, "a path", required=False, default="")

_SCHEMA: dict[str, dict[str, _Field]] = {
    "product": {
        "id": _Field(
            str,
            "a string",
            _regex(
                r"[a-z0-9][a-z0-9-]{0,39}",
                "1-40 lower-case letters, digits and dashes",
                'use e.g. "demo-bank"',
            ),
        ),
        "name": _Field(str, "a string", _regex(r".{1,64}", "1-64 characters", "shorten it")),
        "bank_name": _Field(str, "a string", _regex(r".{1,64}", "1-64 characters", "shorten it")),
        "portal_name": _Field(str, "a string", _regex(r".{1,64}", "1-64 characters", "shorten it")),
        "launcher_name": _Field(
            str,
            "a string",
            _regex(
                r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}",
                "a file name of 1-32 letters, digits, '-' or '_', without extension",
                'use e.g. "e-secure" (the build adds ".exe" for Windows)',
            ),
        ),
        "version": _Field(str, "a string", _check_version),
        "languages": _Field(list, "a list", _languages),
        "default_language": _Field(str, "a string", _one_of("fr", "en")),
        "support_phone": _Field(
            str,
            "a string",
            _regex(
                r"\+?[0-9][0-9 .()-]{3,30}",
                'a telephone number such as "+33 1 23 45 67 89"',
                "write digits, spaces and an optional leading +",
            ),
        ),
    },
    "urls": {
        "site": _Field(str, "a string", _url(schemes=("https",))),
        "enrolment": _Field(str, "a string", _url(schemes=("https",))),
        "updates": _Field(str, "a string", _url(schemes=("https", "http"))),
        "allowed_hosts": _Field(list, "a list", _hosts, required=False, default=[]),
    },
    "image": {
        "volume_label": _Field(
            str,
            "a string",
            _regex(
                r"[A-Z0-9_]{1,32}",
                "1-32 characters from A-Z, 0-9 and _ (ISO 9660 volume identifier)",
                'use e.g. "E_SECURE"',
            ),
        ),
        "data_label": _Field(
            str,
            "a string",
            _regex(
                r"[A-Z0-9_]{1,11}",
                "1-11 characters from A-Z, 0-9 and _ (FAT volume label)",
                'use e.g. "ESECUREDATA"',
            ),
        ),
        "data_size_mib": _Field(
            int,
            "an integer",
            _int_range(
                1,
                DATA_SIZE_MAX_MIB,
                "remove data_size_mib: `esecure build` sizes the data partition from the plan",
            ),
            required=False,
        ),
        "platforms": _Field(list, "a list", _platforms, required=False),
    },
    "branding": {
        "primary_colour": _Field(str, "a string", _COLOUR),
        "secondary_colour": _Field(str, "a string", _COLOUR),
        "icon_ico": _ASSET,
        "icon_png": _ASSET,
        "logo": _ASSET,
        "guide": _ASSET,
    },
    "firefox": {
        "linux": _OPT_PATH,
        "windows": _OPT_PATH,
        "windows_sha256": _Field(
            str,
            "a string",
            _regex(
                r"([0-9a-f]{64})?",
                "the SHA-256 tree hash of [firefox] windows (64 lower-case hex digits)",
                "run `esecure firefox-hash DIR` on the checked Firefox and paste its output",
            ),
            required=False,
            default="",
        ),
        "host_policies": _Field(str, "a string", _one_of("warn", "refuse")),
        "automation": _Field(bool, "true or false", required=False, default=False),
    },
    "certificates": {
        "key_algorithm": _Field(str, "a string", _one_of("ec-p256", "rsa-3072")),
        "validity_days": _Field(
            int, "an integer", _int_range(1, 825, "use 365 (browsers cap at 825)")
        ),
        "renew_before_days": _Field(int, "an integer", _int_range(1, 365, "use 30")),
    },
    "updates": {
        "root_keys": _Field(int, "an integer", _int_range(1, 15, "use 3")),
        "root_threshold": _Field(int, "an integer", _int_range(1, 15, "use 2")),
        "root_expiry_days": _Field(int, "an integer", _int_range(1, 3650, "use 365")),
        "targets_expiry_days": _Field(int, "an integer", _int_range(1, 365, "use 7")),
        "snapshot_expiry_days": _Field(int, "an integer", _int_range(1, 365, "use 7")),
        "timestamp_expiry_days": _Field(int, "an integer", _int_range(1, 30, "use 1")),
        "check_timeout_seconds": _Field(int, "an integer", _int_range(1, 120, "use 10")),
        "max_offline_days": _Field(int, "an integer", _int_range(1, 365, "use 30")),
    },
    "network": {
        "proxy": _Field(str, "a string", _proxy, required=False, default="system"),
        "doh": _Field(str, "a string", _doh, required=False, default="off"),
    },
    "trust": {
        "encrypted_keys": _Field(bool, "true or false"),
        "ca_certificate": _ASSET,
        "ca_key": _OPT_PATH,
        "image_signing_key": _ASSET,
        "image_signing_public_key": _ASSET,
        "server_certificate": _OPT_PATH,
        "server_key": _OPT_PATH,
    },
    "signing": {
        "certificate": _OPT_PATH,
        "key": _OPT_PATH,
        "ca_certificate": _OPT_PATH,
        "tsa_url": _Field(str, "a URL", required=False, default=""),
        "tsa_ca_certificate": _OPT_PATH,
        "pkcs11_module": _OPT_PATH,
    },
}
# Sections a project may leave out (every key then takes its default).
_OPTIONAL_SECTIONS = frozenset({"network", "signing"})

# Files that must exist when named (section, key).
_MUST_EXIST = {
    ("branding", "icon_ico"),
    ("branding", "icon_png"),
    ("branding", "logo"),
    ("branding", "guide"),
    ("trust", "ca_certificate"),
    ("trust", "ca_key"),
    ("trust", "image_signing_key"),
    ("trust", "image_signing_public_key"),
    ("trust", "server_certificate"),
    ("trust", "server_key"),
    ("signing", "certificate"),
    ("signing", "key"),
    ("signing", "ca_certificate"),
    ("signing", "tsa_ca_certificate"),
    ("signing", "pkcs11_module"),
}


# --- reading ---------------------------------------------------------------------------


class _Lines:
    """Finds the line of ``[section] key = …`` in the raw text, for messages."""

    _HEADER = re.compile(r"^\s*\[\s*([A-Za-z0-9_.-]+)\s*\]\s*(#.*)?$")
    _KEY = re.compile(r"^\s*([A-Za-z0-9_-]+)\s*=")

    def __init__(self, text: str) -> None:
        self._where: dict[tuple[str, str], int] = {}
        self._sections: dict[str, int] = {}
        section = ""
        for number, line in enumerate(text.splitlines(), start=1):
            if header := self._HEADER.match(line):
                section = header.group(1)
                self._sections.setdefault(section, number)
            elif key := self._KEY.match(line):
                self._where.setdefault((section, key.group(1)), number)

    def of(self, section: str, key: str | None = None) -> int | None:
        if key is None:
            return self._sections.get(section)
        return self._where.get((section, key))


def _read_text(path: Path) -> str:
    name = path.name
    if not path.exists():
        raise ConfigError(
            Problem(
                str(path),
                f"a key project file named {name}",
                "no such file",
                f"run `esecure init {path.parent}` to create a project, or pass the "
                "directory that holds esecure.toml",
            )
        )
    try:
        raw = path.read_bytes()
    except IsADirectoryError:
        raise ConfigError(
            Problem(str(path), "a file", "a directory", f"remove or rename the directory {name}")
        ) from None
    except OSError as exc:
        raise ConfigError(
            Problem(
                str(path),
                "a readable file",
                f"an unreadable file ({exc.strerror})",
                "fix the file's permissions (e.g. chmod 644)",
            )
        ) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            Problem(
                f"{path}:{line}",
                "UTF-8 text",
                f"the byte 0x{raw[exc.start]:02x} that is not UTF-8",
                "save the file as UTF-8",
                line=line,
            )
        ) from None


_TOML_POSITION = re.compile(r"^(?P<msg>.*?) \(at line (?P<line>\d+), column (?P<col>\d+)\)$")


def _parse_toml(path: Path, text: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        match = _TOML_POSITION.match(message)
        where, line = str(path), None
        if match:
            line = int(match.group("line"))
            message = f"{match.group('msg')} at column {match.group('col')}"
            where = f"{path}:{line}"
        raise ConfigError(
            Problem(
                where,
                "valid TOML",
                f"a syntax error ({message})",
                "correct the syntax on that line (strings need quotes, tables need [brackets])",
                line=line,
            )
        ) from None


def _type_name(value: Any) -> str:
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a decimal number",
        str: "a string",
        list: "a list",
        dict: "a table",
    }.get(type(value), type(value).__name__)


def _show(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


class _Validator:
    def __init__(self, path: Path, lines: _Lines) -> None:
        self.path = path
        self.lines = lines
        self.problems: list[Problem] = []

    def where(self, section: str, key: str | None = None) -> tuple[str, int | None]:
        line = self.lines.of(section, key)
        label = f"[{section}]" + (f" {key}" if key else "")
        loc = f"{self.path}:{line}" if line else str(self.path)
        return f"{loc}: {label}", line

    def add(self, section: str, key: str | None, expected: str, found: str, fix: str) -> None:
        where, line = self.where(section, key)
        self.problems.append(Problem(where, expected, found, fix, line=line))

    def validate(self, data: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        values: dict[str, dict[str, Any]] = {}
        for section in data:
            if section not in _SCHEMA:
                self.add(
                    section,
                    None,
                    "a known section",
                    "an unknown section",
                    _suggest(section, _SCHEMA, "section"),
                )
        for section, fields in _SCHEMA.items():
            table = data.get(section)
            if table is None and section in _OPTIONAL_SECTIONS:
                table = {}
            if table is None:
                self.add(
                    section,
                    None,
                    f"a [{section}] section",
                    "none",
                    f"add the [{section}] section (see `esecure init` for a complete example)",
                )
                continue
            if not isinstance(table, dict):
                self.add(section, None, "a table", _type_name(table), f"write it as [{section}]")
                continue
            values[section] = self._table(section, fields, table)
        return values

    def _table(
        self, section: str, fields: dict[str, _Field], table: dict[str, Any]
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in table:
            if key not in fields:
                self.add(
                    section, key, "a known key", "an unknown key", _suggest(key, fields, "key")
                )
        for key, spec in fields.items():
            if key not in table:
                if spec.required:
                    self.add(
                        section,
                        key,
                        f"a value ({spec.kind_name})",
                        "nothing",
                        f"add `{key} = …` to [{section}]",
                    )
                else:
                    out[key] = spec.default
                continue
            value = table[key]
            # bool is an int in Python: keep them apart, TOML does.
            wrong_type = not isinstance(value, spec.kind) or (
                isinstance(value, bool) and spec.kind is not bool
            )
            if wrong_type:
                self.add(
                    section,
                    key,
                    spec.kind_name,
                    f"{_type_name(value)} {_show(value)}",
                    f"write {key} as {spec.kind_name}",
                )
                continue
            if spec.kind is list and any(not isinstance(v, str) for v in value):
                self.add(section, key, "a list of strings", _show(value), "quote every entry")
                continue
            if spec.check is not None:
                verdict = spec.check(value)
                if verdict is not None:
                    expected, fix = verdict
                    self.add(section, key, expected, _show(value), fix)
                    continue
            out[key] = value
        return out


def _suggest(name: str, known: Mapping[str, Any], what: str) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    if close:
        return f'did you mean "{close[0]}"? Rename it, or remove it'
    listing = ", ".join(sorted(known))
    return f"remove it; the known {what}s here are: {listing}"


def _resolve(root: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else root / path


def load_project(directory: Path | str) -> Project:
    """Load and validate the key project in ``directory`` (or the esecure.toml given)."""
    directory = Path(directory)
    path = directory if directory.suffix == ".toml" else directory / CONFIG_NAME
    root = path.parent.resolve()
    text = _read_text(path)
    data = _parse_toml(path, text)
    validator = _Validator(path, _Lines(text))
    values = validator.validate(data)
    if validator.problems:
        raise ConfigError(validator.problems)
    _cross_checks(validator, values, root)
    if validator.problems:
        raise ConfigError(validator.problems)
    return _build(values, root)


def _cross_checks(v: _Validator, values: dict[str, dict[str, Any]], root: Path) -> None:
    product, updates = values["product"], values["updates"]
    if product["default_language"] not in product["languages"]:
        v.add(
            "product",
            "default_language",
            f"one of the languages {product['languages']}",
            _show(product["default_language"]),
            "add it to languages or pick one of them",
        )
    if updates["root_threshold"] > updates["root_keys"]:
        v.add(
            "updates",
            "root_threshold",
            f"at most root_keys ({updates['root_keys']})",
            str(updates["root_threshold"]),
            "lower root_threshold or add root keys",
        )
    certificates = values["certificates"]
    if certificates["renew_before_days"] >= certificates["validity_days"]:
        v.add(
            "certificates",
            "renew_before_days",
            f"fewer days than validity_days ({certificates['validity_days']})",
            str(certificates["renew_before_days"]),
            "renew a few weeks before expiry, e.g. 30",
        )
    _check_platforms(v, values)
    _check_signing(v, values["signing"])
    trust = values["trust"]
    if bool(trust["server_certificate"]) != bool(trust["server_key"]):
        v.add(
            "trust",
            "server_key",
            "server_certificate and server_key both set or both empty",
            "only one of them",
            "set both (the reference server's TLS pair) or neither",
        )
    for section, key in sorted(_MUST_EXIST):
        value = values[section][key]
        if not value or ((section, key) == ("signing", "key") and is_pkcs11_uri(value)):
            continue
        target = _resolve(root, value)
        if not target.is_file():
            v.add(
                section,
                key,
                "an existing file",
                f'"{value}" ({"a directory" if target.is_dir() else "missing"})',
                f"create {target} or correct the path (relative paths start at the project)",
            )


def _plan_platforms(image: Mapping[str, Any], firefox: Mapping[str, Any]) -> tuple[str, ...]:
    """``[image] platforms``, else every platform with a ``[firefox]`` installation: what
    `esecure build` lays out (sorted)."""
    if image["platforms"] is not None:
        return tuple(sorted(image["platforms"]))
    return tuple(sorted(p for p in PLATFORMS if firefox.get(p)))


PKCS11_SCHEME = "pkcs11:"


def is_pkcs11_uri(value: str) -> bool:
    """Whether a ``[signing] key`` names a key on a PKCS#11 token (RFC 7512) (pure)."""
    return value.startswith(PKCS11_SCHEME)


def _check_signing(v: _Validator, signing: dict[str, Any]) -> None:
    """[signing]: certificate, key and ca_certificate all set or all empty; an http(s) TSA;
    a key on a token (``pkcs11:`` URI) with the token's module, and a module only then."""
    token = is_pkcs11_uri(signing["key"])
    if token and not signing["pkcs11_module"]:
        v.add(
            "signing",
            "pkcs11_module",
            "the path of the token's PKCS#11 module when key is a pkcs11: URI",
            "it empty",
            "name the module the token's vendor supplies (e.g. /usr/lib/softhsm/libsofthsm2.so)",
        )
    if signing["pkcs11_module"] and not token:
        v.add(
            "signing",
            "key",
            "a pkcs11: URI (RFC 7512) of the key on the token, since pkcs11_module is set",
            repr(signing["key"]),
            'give e.g. "pkcs11:token=bank-codesign;object=code-signing;type=private", or '
            "empty pkcs11_module to sign with a key file",
        )
    if token and any(c.isspace() for c in signing["key"]):
        v.add(
            "signing",
            "key",
            "a pkcs11: URI without spaces (percent-encode them as %20)",
            repr(signing["key"]),
            "write each space of the token or object name as %20",
        )
    paths = ("certificate", "key", "ca_certificate")
    if len({bool(signing[k]) for k in paths}) > 1:
        missing = next(k for k in paths if not signing[k])
        v.add(
            "signing",
            missing,
            "certificate, key and ca_certificate all set (or all empty: no signing)",
            "it empty",
            f"set {missing} (the code-signing certificate's files), or empty all three",
        )
    url = signing["tsa_url"]
    if url and not url.startswith(("http://", "https://")):
        v.add(
            "signing",
            "tsa_url",
            "an http:// or https:// URL of an RFC 3161 timestamp authority",
            repr(url),
            "give the bank's timestamp authority URL, or empty it",
        )


def _signing(signing: dict[str, Any], opt: Callable[[str], Path | None]) -> SigningConfig:
    token = is_pkcs11_uri(signing["key"])
    return SigningConfig(
        certificate=opt(signing["certificate"]),
        key=None if token else opt(signing["key"]),
        ca_certificate=opt(signing["ca_certificate"]),
        tsa_url=signing["tsa_url"],
        tsa_ca_certificate=opt(signing["tsa_ca_certificate"]),
        key_uri=signing["key"] if token else "",
        pkcs11_module=opt(signing["pkcs11_module"]),
    )


def _check_platforms(v: _Validator, values: dict[str, dict[str, Any]]) -> None:
    """Every platform of the plan can be built: it needs its [firefox] installation."""
    image, firefox = values["image"], values["firefox"]
    if image["platforms"] is None:
        if not _plan_platforms(image, firefox):
            v.add(
                "firefox",
                None,
                "a Firefox ESR installation for at least one platform (the key carries "
                "the platforms that have one, unless [image] platforms names them)",
                "none",
                'set [firefox] linux (Debian\'s firefox-esr: "/usr/lib/firefox-esr")',
            )
        return
    for platform in sorted(image["platforms"]):
        if platform not in firefox:
            buildable = " and ".join(k for k in PLATFORMS if k in firefox)
            v.add(
                "image",
                "platforms",
                f"platforms e-secure can build ({buildable}: each needs its Firefox)",
                f'"{platform}", for which e-secure has no [firefox] {platform} yet',
                f'remove "{platform}" from [image] platforms',
            )
        elif not firefox[platform]:
            v.add(
                "image",
                "platforms",
                "platforms this project can build (each needs its [firefox] installation)",
                f'"{platform}", and [firefox] {platform} is empty',
                f"set [firefox] {platform} to the folder that holds its Firefox ESR, or "
                f'remove "{platform}" from [image] platforms',
            )


def locate(project: Project, section: str, key: str) -> tuple[str, int | None]:
    """``file:line: [section] key`` of a setting of a loaded project, for messages."""
    try:
        text = project.config_path.read_text(encoding="utf-8")
    except OSError:
        text = ""
    return _Validator(project.config_path, _Lines(text)).where(section, key)


def _build(values: dict[str, dict[str, Any]], root: Path) -> Project:
    p, u, i, b, f, c, up, t, n = (
        values[s]
        for s in (
            "product",
            "urls",
            "image",
            "branding",
            "firefox",
            "certificates",
            "updates",
            "trust",
            "network",
        )
    )

    def opt(value: str) -> Path | None:
        return _resolve(root, value) if value else None

    warnings: list[str] = []
    if not t["encrypted_keys"]:
        warnings.append(
            "demo project: the private keys under keys/ are NOT encrypted; never ship keys "
            "made this way (run `esecure init` without --demo for a real project)"
        )
    if not t["ca_key"]:
        warnings.append(
            "no CA key: certificates are issued by the bank's own PKI; the reference server "
            "cannot issue for this project"
        )
    warnings.extend(
        f"firefox.{platform}: {f[platform]} is not a directory on this machine; "
        "`esecure build` needs it for that platform"
        for platform in ("linux", "windows")
        if f[platform] and not _resolve(root, f[platform]).is_dir()
    )
    return Project(
        root=root,
        product=ProductConfig(
            id=p["id"],
            name=p["name"],
            bank_name=p["bank_name"],
            portal_name=p["portal_name"],
            launcher_name=p["launcher_name"],
            version=p["version"],
            languages=tuple(p["languages"]),
            default_language=p["default_language"],
            support_phone=p["support_phone"],
        ),
        urls=UrlsConfig(
            site=u["site"],
            enrolment=u["enrolment"],
            updates=u["updates"],
            allowed_hosts=tuple(u["allowed_hosts"]),
        ),
        image=ImageConfig(
            volume_label=i["volume_label"],
            data_label=i["data_label"],
            data_size_mib=i["data_size_mib"],
            platforms=_plan_platforms(i, f),
        ),
        branding=BrandingConfig(
            primary_colour=b["primary_colour"],
            secondary_colour=b["secondary_colour"],
            icon_ico=_resolve(root, b["icon_ico"]),
            icon_png=_resolve(root, b["icon_png"]),
            logo=_resolve(root, b["logo"]),
            guide=_resolve(root, b["guide"]),
        ),
        firefox=FirefoxConfig(
            linux=opt(f["linux"]),
            windows=opt(f["windows"]),
            host_policies=f["host_policies"],
            automation=f["automation"],
            windows_sha256=f["windows_sha256"],
        ),
        certificates=CertificatesConfig(
            key_algorithm=c["key_algorithm"],
            validity_days=c["validity_days"],
            renew_before_days=c["renew_before_days"],
        ),
        updates=UpdatesConfig(**up),
        trust=TrustConfig(
            encrypted_keys=t["encrypted_keys"],
            ca_certificate=_resolve(root, t["ca_certificate"]),
            ca_key=opt(t["ca_key"]),
            image_signing_key=_resolve(root, t["image_signing_key"]),
            image_signing_public_key=_resolve(root, t["image_signing_public_key"]),
            server_certificate=opt(t["server_certificate"]),
            server_key=opt(t["server_key"]),
        ),
        warnings=tuple(warnings),
        network=NetworkConfig(proxy=n["proxy"], doh=n["doh"]),
        signing=_signing(values["signing"], opt),
    )
