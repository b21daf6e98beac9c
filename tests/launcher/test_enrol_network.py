"""Transport failures map to the guide's rows: E2 (interception), E5 (unreachable), E8
(handshake); 503 is retried after Retry-After; the host's proxy settings are honoured."""

from __future__ import annotations

import dataclasses
import socket
import ssl

import pytest
from aiohttp import web

from esecure.errors import EsecureError
from esecure.launcher import enrol as est
from esecure.server.est import make_app
from tests.launcher import est_fixtures
from tests.launcher.est_fixtures import RawServer, connect_proxy, reset, tls_handler
from tests.server.est_support import ServerThread, add_customer

customer = est_fixtures.customer
data_area = est_fixtures.data_area
est_server = est_fixtures.est_server
settings = est_fixtures.settings


@pytest.fixture(autouse=True)
def _no_proxy_from_the_host(monkeypatch):
    """The host's own proxy settings must not reach these loopback tests."""
    for name in ("https_proxy", "HTTPS_PROXY", "no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


def _settings_for(url: str, ca, **limits) -> est.EstSettings:
    return est.EstSettings(base_url=url, ca_file=ca, connect_timeout=2, read_timeout=2, **limits)


def _code(area, settings_) -> str:
    with pytest.raises(EsecureError) as info:
        est.enrol(area, "alice", "CODE", settings_)
    assert not (area / "pki" / "credential.pem").exists()
    return info.value.code


@pytest.fixture
def area(tmp_path):
    return est_fixtures.make_data_area(tmp_path / "data", "KEY-0001")


def test_attack_interception_by_another_ca_is_e2(area, demo_project, tmp_path):
    """A server whose certificate is from another CA (TLS-intercepting proxy): ES201."""
    cert, key = est_fixtures.foreign_tls_pair(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    with RawServer(tls_handler(context, lambda tls: tls.recv(1))) as server:
        url = f"https://127.0.0.1:{server.port}/.well-known/est/"
        assert _code(area, _settings_for(url, demo_project / "trust/ca.pem")) == "ES201"


def test_attack_connection_reset_mid_exchange_is_e2(area, demo_project):
    """The bank's certificate, then a TCP reset after the request: ES201."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(
        demo_project / "server/tls.pem", demo_project / "keys/server-tls.key.pem"
    )

    def after(tls: ssl.SSLSocket) -> None:
        tls.recv(100)
        reset(tls)

    with RawServer(tls_handler(context, after)) as server:
        url = f"https://127.0.0.1:{server.port}/.well-known/est/"
        assert _code(area, _settings_for(url, demo_project / "trust/ca.pem")) == "ES201"


def test_closed_port_is_e5(area, demo_project):
    """Nothing listens: ES301."""
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    url = f"https://127.0.0.1:{port}/.well-known/est/"
    assert _code(area, _settings_for(url, demo_project / "trust/ca.pem")) == "ES301"


def test_dns_failure_is_e5(area, demo_project):
    """A name that cannot resolve (.invalid, RFC 6761): ES301."""
    url = "https://est.bank.invalid/.well-known/est/"
    assert _code(area, _settings_for(url, demo_project / "trust/ca.pem")) == "ES301"


def test_silent_server_times_out_as_e5(area, demo_project):
    """A server that accepts and never answers: bounded wait, ES301."""
    with RawServer(lambda conn: conn.recv(1)) as server:
        url = f"https://127.0.0.1:{server.port}/.well-known/est/"
        assert _code(area, _settings_for(url, demo_project / "trust/ca.pem")) == "ES301"


def test_handshake_failure_is_e8(area, demo_project):
    """No cipher in common (the guide's -12227 handshake_failure alert), bank cert: ES302."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers("ECDHE-ECDSA-AES128-SHA")  # CBC-SHA1: the client offers none of these
    context.load_cert_chain(
        demo_project / "server/tls.pem", demo_project / "keys/server-tls.key.pem"
    )
    with RawServer(tls_handler(context, lambda tls: tls.recv(1))) as server:
        url = f"https://127.0.0.1:{server.port}/.well-known/est/"
        assert _code(area, _settings_for(url, demo_project / "trust/ca.pem")) == "ES302"


def _busy_for(count: int):
    seen = {"n": 0}

    @web.middleware
    async def busy(request, handler):
        seen["n"] += 1
        if seen["n"] <= count:
            return web.Response(status=503, headers={"Retry-After": "2"})
        return await handler(request)

    return busy, seen


def test_503_is_retried_after_retry_after(demo_project, tmp_path):
    """Two 503 + Retry-After, then success: the client waited as told, bounded."""
    busy, seen = _busy_for(2)
    factory = lambda issuer, registry: make_app(issuer, registry, middlewares=[busy])  # noqa: E731
    with ServerThread(demo_project, app_factory=factory) as server:
        who = add_customer(server.db_url)
        area = est_fixtures.make_data_area(tmp_path / "d", who.serial)
        waits: list[float] = []
        s = _settings_for(server.est_url, server.project.trust.ca_certificate)
        est.enrol(area, who.identifier, who.code, s, sleep=waits.append)
    assert waits == [2.0, 2.0]
    assert seen["n"] == 3


def test_503_for_ever_is_es304_after_bounded_attempts(demo_project, tmp_path):
    """A service that stays busy: 3 attempts, then ES304."""
    busy, seen = _busy_for(1000)
    factory = lambda issuer, registry: make_app(issuer, registry, middlewares=[busy])  # noqa: E731
    with ServerThread(demo_project, app_factory=factory) as server:
        area = est_fixtures.make_data_area(tmp_path / "d", "KEY-0001")
        s = _settings_for(server.est_url, server.project.trust.ca_certificate)
        with pytest.raises(EsecureError) as info:
            est.enrol(area, "alice", "X", s, sleep=lambda _s: None)
    assert info.value.code == "ES304"
    assert seen["n"] == 3


def test_environment_proxy_is_used(data_area, customer, settings, monkeypatch):
    """HTTPS_PROXY is honoured: the enrolment goes through the proxy's CONNECT tunnel."""
    seen: list[str] = []
    with RawServer(connect_proxy(seen)) as proxy:
        monkeypatch.setenv("https_proxy", f"http://127.0.0.1:{proxy.port}")
        est.enrol(data_area, customer.identifier, customer.code, settings)
    port = settings.base_url.split(":")[2].split("/")[0]
    assert seen == [f"CONNECT 127.0.0.1:{port}"]


def test_proxy_refusal_is_es303(area, demo_project, monkeypatch):
    """A proxy that answers 407 to CONNECT: ES303."""
    seen: list[str] = []
    with RawServer(connect_proxy(seen, refuse=True)) as proxy:
        monkeypatch.setenv("https_proxy", f"http://127.0.0.1:{proxy.port}")
        url = "https://127.0.0.1:9/.well-known/est/"
        assert _code(area, _settings_for(url, demo_project / "trust/ca.pem")) == "ES303"
    assert seen == ["CONNECT 127.0.0.1:9"]


def test_configured_proxy_is_used_whatever_the_environment_says(
    data_area, customer, settings, monkeypatch
):
    """[network] proxy = an URL: the enrolment goes through that proxy's CONNECT tunnel,
    even when the environment says to bypass proxies for the host."""
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    seen: list[str] = []
    with RawServer(connect_proxy(seen)) as proxy:
        configured = dataclasses.replace(settings, proxy=f"http://127.0.0.1:{proxy.port}")
        est.enrol(data_area, customer.identifier, customer.code, configured)
    port = settings.base_url.split(":")[2].split("/")[0]
    assert seen == [f"CONNECT 127.0.0.1:{port}"]


def test_proxy_none_bypasses_the_environment_proxy(data_area, customer, settings, monkeypatch):
    """[network] proxy = "none": a proxy in the environment (one that refuses everything)
    is not used; the enrolment goes direct and succeeds."""
    seen: list[str] = []
    with RawServer(connect_proxy(seen, refuse=True)) as proxy:
        monkeypatch.setenv("https_proxy", f"http://127.0.0.1:{proxy.port}")
        direct = dataclasses.replace(settings, proxy="none")
        credential = est.enrol(data_area, customer.identifier, customer.code, direct)
    assert credential.certificate is not None
    assert seen == []
