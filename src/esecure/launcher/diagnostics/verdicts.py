"""Rows from network facts (pure): what a lookup, a connection, a chain and a clock mean
for the user, with the catalogue entry each condition answers.

========================================================  ======  =====  ====
condition                                                  status  code   row
========================================================  ======  =====  ====
name not found / no answer                                 fail    ES301  E5
connection refused, timed out, unreachable                 fail    ES301  E5
proxy refused the tunnel                                   fail    ES303  E5
TLS handshake failed (alert, not TLS)                      fail    ES302  E8
EST chain not from the pinned CA: interception             fail    ES201  E2
portal chain trusted neither by the key's CA nor the host  fail    ES302  E8
update host chain not trusted (its issuer is reported)     warn    —      —
clock off by more than 2 min / 1 h                         warn/fail ES505 —
========================================================  ======  =====  ====
"""

from __future__ import annotations

import datetime as dt
import email.utils
from collections.abc import Sequence

from esecure.errors import Text
from esecure.launcher.diagnostics.model import Endpoint, Limits, Row, Status, advice_of
from esecure.launcher.diagnostics.network import Probe, Verification

__all__ = ["ROLE_NAMES", "clock_row", "connect_row", "issuer_of", "lookup_row", "tls_row"]

ROLE_NAMES = {
    "portal": Text(en="portal", fr="portail"),
    "enrolment": Text(en="certificate service", fr="service de certificats"),
    "updates": Text(en="updates", fr="mises à jour"),
}
# OpenSSL verification codes that are not about who issued the chain
_HOSTNAME_MISMATCH = 62
_NOT_YET_VALID, _EXPIRED = 9, 10


def _roles(roles: Sequence[str]) -> Text:
    return Text(
        en=", ".join(ROLE_NAMES[r].en for r in roles), fr=", ".join(ROLE_NAMES[r].fr for r in roles)
    )


def _title(en: str, fr: str, roles: Sequence[str]) -> Text:
    names = _roles(roles)
    return Text(en=f"{en} — {names.en}", fr=f"{fr} — {names.fr}")


def _network_advice() -> Text:
    return advice_of(
        "ES301",
        Text(
            en="Check that this computer reaches the internet; a company network may need a proxy.",
            fr="Vérifiez que cet ordinateur accède à internet ; un réseau d'entreprise peut "
            "exiger un proxy.",
        ),
    )


def lookup_row(probe: Probe, roles: Sequence[str]) -> Row:
    """The name lookup of a server (of its proxy, through one)."""
    check = "dns:" + "+".join(roles)
    title = _title("Name lookup (DNS)", "Résolution de nom (DNS)", roles)
    found = probe.lookup
    what = f"proxy {found.name}" if probe.proxy is not None else found.name
    if found.error is not None:
        return Row(
            check, title, "fail", f"{what}: not found ({found.error})", _network_advice(), "ES301"
        )
    if found.literal:
        return Row(check, title, "ok", f"{what} is an address: nothing to look up")
    addresses = ", ".join(found.addresses[:4])
    return Row(check, title, "ok", f"{what} -> {addresses} ({found.seconds * 1000:.0f} ms)")


def connect_row(probe: Probe, roles: Sequence[str]) -> Row:
    """The TCP connection to a server (with its CONNECT tunnel through a proxy)."""
    check = "tcp:" + "+".join(roles)
    title = _title("Connection (TCP)", "Connexion (TCP)", roles)
    done = probe.connect
    if done is None:
        return Row(check, title, "skip", "not tried: the name was not found")
    target = f"{probe.host}:{probe.port}"
    via = f" through proxy {probe.proxy.shown}" if probe.proxy is not None else ""
    if done.error is None:
        return Row(check, title, "ok", f"{target}{via}: connected ({done.seconds * 1000:.0f} ms)")
    if done.kind == "proxy-refused":
        return Row(
            check, title, "fail", f"{target}{via}: {done.error}", advice_of("ES303"), "ES303"
        )
    words = {
        "refused": "connection refused",
        "timeout": "no answer in time",
        "unreachable": "unreachable",
    }
    why = words.get(done.kind, done.kind)
    if done.kind == "unreachable":
        why = f"{why}: {done.error}"
    detail = f"{target}{via}: {why} (tried {done.address})"
    return Row(check, title, "fail", detail, _network_advice(), "ES301")


def issuer_of(leaf: bytes | None) -> str:
    """The issuer of a DER certificate in the order it is written (``CN=…, O=…``), or
    why not."""
    if leaf is None:
        return "no certificate"
    from cryptography import x509  # noqa: PLC0415 - heavy: only diagnostics need it here

    try:
        issuer = x509.load_der_x509_certificate(leaf).issuer
    except ValueError as exc:
        return f"unreadable certificate ({exc})"
    names = [f"{a.rfc4514_attribute_name}={a.value!s}" for a in issuer]
    return ", ".join(names) or "(empty issuer)"


def _why(check: Verification) -> str:
    if check.code == _HOSTNAME_MISMATCH:
        return f"the certificate is for another name ({check.message})"
    if check.code in (_NOT_YET_VALID, _EXPIRED):
        return f"the certificate is outside its dates ({check.message}): see the clock row"
    return check.message


def _intercepted(check: Verification) -> bool:
    return check.code not in (None, _HOSTNAME_MISMATCH, _NOT_YET_VALID, _EXPIRED)


def _interception_advice(host: str) -> Text:
    return advice_of(
        "ES201",
        Text(
            en=f"An antivirus or a proxy inspects the secure connection to {host}: ask your "
            "IT department to exclude this address from HTTPS inspection.",
            fr=f"Un antivirus ou un proxy inspecte la connexion sécurisée vers {host} : "
            "demandez à votre service informatique d'exclure cette adresse de l'inspection "
            "HTTPS.",
        ),
    )


def tls_row(probe: Probe, endpoint: Endpoint) -> Row:  # noqa: PLR0911 - one answer per case
    """The secure connection to one role's server: interception (enrolment), trust (portal),
    the chain's issuer (updates: a CDN may present a public chain)."""
    role = endpoint.role
    check = f"tls:{role}"
    title = _title("Secure connection (TLS)", "Connexion sécurisée (TLS)", [role])
    shown = probe.tls
    if shown is None:
        return Row(check, title, "skip", "not tried: no connection")
    if shown.error is not None or shown.pinned is None:
        detail = f"{endpoint.host}:{endpoint.port}: handshake failed ({shown.error})"
        return Row(check, title, "fail", detail, advice_of("ES302"), "ES302")
    issuer = issuer_of(shown.leaf)
    if shown.pinned.ok:
        return Row(check, title, "ok", f"chain from the key's CA (issuer {issuer})")
    if role == "enrolment":
        if _intercepted(shown.pinned):
            detail = (
                f"interception: the certificate presented is issued by {issuer}, not by the "
                f"key's CA ({shown.pinned.message})"
            )
            return Row(check, title, "fail", detail, _interception_advice(endpoint.host), "ES201")
        return Row(check, title, "fail", _why(shown.pinned), advice_of("ES201"), "ES201")
    by_system = shown.system
    if by_system is not None and by_system.ok:
        return Row(check, title, "ok", f"public chain (issuer {issuer}), trusted by this computer")
    reason = _why(by_system) if by_system is not None else _why(shown.pinned)
    if role == "updates":
        detail = f"issuer {issuer}: trusted neither by the key's CA nor by this computer ({reason})"
        advice = Text(
            en="Updates are signed, so nothing unsafe can be installed, but downloads will fail "
            "until this computer trusts the update server.",
            fr="Les mises à jour sont signées, rien de dangereux ne peut donc être installé, "
            "mais les téléchargements échoueront tant que cet ordinateur ne fera pas "
            "confiance au serveur de mises à jour.",
        )
        return Row(check, title, "warn", detail, advice)
    detail = f"issuer {issuer}: trusted neither by the key's CA nor by this computer ({reason})"
    if _intercepted(shown.pinned):
        return Row(check, title, "fail", detail, _interception_advice(endpoint.host), "ES302")
    return Row(check, title, "fail", detail, advice_of("ES302"), "ES302")


_CLOCK = Text(en="Clock", fr="Horloge")


def clock_row(probes: Sequence[tuple[str, Probe]], limits: Limits) -> Row:
    """The local clock against the first server that sent an HTTP Date (RFC 9110 6.6.1),
    in role order: enrolment, portal, updates."""
    for role, found in probes:
        shown = found.tls
        if shown is None or shown.server_date is None or shown.local_time is None:
            continue
        try:
            server = email.utils.parsedate_to_datetime(shown.server_date)
        except (TypeError, ValueError):
            continue
        if server.tzinfo is None:
            server = server.replace(tzinfo=dt.UTC)
        skew = (shown.local_time - server).total_seconds()
        ahead = "ahead of" if skew > 0 else "behind"
        detail = (
            f"this computer is {abs(skew):.0f} s {ahead} {found.host} "
            f"({ROLE_NAMES[role].en}: Date {shown.server_date})"
        )
        if abs(skew) <= limits.skew_warn_seconds:
            return Row("clock", _CLOCK, "ok", detail)
        status: Status = "fail" if abs(skew) > limits.skew_fail_seconds else "warn"
        return Row("clock", _CLOCK, status, detail, advice_of("ES505"), "ES505")
    return Row("clock", _CLOCK, "skip", "no server sent its date")
