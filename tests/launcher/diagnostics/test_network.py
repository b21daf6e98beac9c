"""The network checks against real servers on 127.0.0.1: lookup, connection, TLS (with
interception), proxy, clock."""

from __future__ import annotations

from esecure.launcher.diagnostics import Limits, run_diagnostics
from tests.launcher.diagnostics.conftest import make_subject

NO_PROXY: dict[str, str] = {}


def _rows(diagnosis):
    return {row.check: row for row in diagnosis.rows}


def test_own_chain_everywhere_is_ok(servers, tmp_path):
    """Every server with the key's own CA chain: lookup, connection, TLS and clock are ok."""
    url = servers.good.url
    subject = make_subject(tmp_path, servers, url)
    rows = _rows(run_diagnostics(subject, environ=NO_PROXY))
    group = "portal+enrolment+updates"
    assert rows[f"dns:{group}"].status == "ok"
    assert rows[f"tcp:{group}"].status == "ok"
    for role in ("portal", "enrolment", "updates"):
        assert rows[f"tls:{role}"].status == "ok", rows[f"tls:{role}"]
        assert "chain from the key's CA" in rows[f"tls:{role}"].detail
    assert rows["clock"].status == "ok"
    assert rows["proxy"].detail == "direct connection (no proxy set)"


def test_attack_interception_on_the_certificate_service_names_the_issuer(servers, tmp_path):
    """A chain that is not the pinned CA's on the EST host (an antivirus or proxy
    inspecting TLS, E2): ES201, naming who issued what was presented."""
    subject = make_subject(tmp_path, servers, enrolment=servers.foreign.url)
    row = _rows(run_diagnostics(subject, environ=NO_PROXY))["tls:enrolment"]
    assert row.status == "fail"
    assert row.code == "ES201"
    assert "interception" in row.detail
    assert "CN=Intercepting Proxy CA, O=Antivirus Inc." in row.detail
    assert "antivirus or a proxy" in row.advice.en
    assert "antivirus ou un proxy" in row.advice.fr


def test_update_host_with_another_chain_only_reports_its_issuer(servers, tmp_path, monkeypatch):
    """The update host may sit behind a CDN with a public chain: its issuer is reported;
    trusted by this computer it is ok, trusted by nobody a warning, never interception."""
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    subject = make_subject(tmp_path, servers, updates=servers.foreign.url)
    row = _rows(run_diagnostics(subject, environ=NO_PROXY))["tls:updates"]
    assert row.status == "warn"
    assert row.code is None
    assert "issuer CN=Intercepting Proxy CA, O=Antivirus Inc." in row.detail
    assert "interception" not in row.detail

    # this computer's store trusts that CA (as it trusts a CDN's public CA)
    monkeypatch.setenv("SSL_CERT_FILE", str(servers.foreign_ca))
    row = _rows(run_diagnostics(subject, environ=NO_PROXY))["tls:updates"]
    assert row.status == "ok"
    assert row.detail.startswith("public chain (issuer CN=Intercepting Proxy CA")


def test_clock_two_hours_off_is_reported(servers, tmp_path):
    """A server whose HTTP Date is two hours ahead: the clock row fails with ES505."""
    url = servers.skewed.url
    subject = make_subject(tmp_path, servers, url)
    row = _rows(run_diagnostics(subject, environ=NO_PROXY))["clock"]
    assert row.status == "fail"
    assert row.code == "ES505"
    seconds = int(row.detail.split(" s behind")[0].rsplit(" ", 1)[1])
    assert 7190 <= seconds <= 7210
    assert "date" in row.advice.en.lower()


def test_closed_port_is_a_connection_failure_with_advice(servers, tmp_path):
    """Nothing listens: the connection row fails (ES301, E5) and says what to do."""
    url = f"https://127.0.0.1:{servers.closed_port}/"
    subject = make_subject(tmp_path, servers, url)
    rows = _rows(run_diagnostics(subject, environ=NO_PROXY))
    row = rows["tcp:portal+enrolment+updates"]
    assert row.status == "fail"
    assert row.code == "ES301"
    assert f"127.0.0.1:{servers.closed_port}: connection refused" in row.detail
    assert "proxy" in row.advice.en
    assert "proxy" in row.advice.fr
    assert rows["tls:enrolment"].status == "skip"


def test_unresolvable_name_is_a_lookup_failure(servers, tmp_path):
    """A name under the reserved .invalid domain: the lookup fails (ES301), the rest of
    that server's checks are skipped."""
    url = "https://est.e-secure-diagnostics.invalid/"
    subject = make_subject(tmp_path, servers, enrolment=url)
    rows = _rows(run_diagnostics(subject, environ=NO_PROXY))
    row = rows["dns:enrolment"]
    assert row.status == "fail"
    assert row.code == "ES301"
    assert row.detail.startswith("est.e-secure-diagnostics.invalid: not found")
    assert rows["tcp:enrolment"].status == "skip"
    assert rows["tls:enrolment"].status == "skip"
    assert rows["tls:portal"].status == "ok"


def test_a_server_that_does_not_speak_tls_is_a_handshake_failure(servers, tmp_path):
    """Plain HTTP where TLS is expected (what some filtering proxies do): ES302 (E8)."""
    url = f"https://127.0.0.1:{servers.plain.port}/"
    subject = make_subject(tmp_path, servers, url)
    row = _rows(run_diagnostics(subject, environ=NO_PROXY))["tls:portal"]
    assert row.status == "fail"
    assert row.code == "ES302"
    assert "handshake failed" in row.detail


def test_a_server_that_never_answers_costs_its_time_out(servers, tmp_path):
    """A server that accepts and stays silent: the TLS row fails after the bound."""
    from tests.launcher.est_fixtures import RawServer  # noqa: PLC0415

    def silent(conn):
        conn.settimeout(5)
        conn.recv(10)  # hold the connection until the client gives up

    with RawServer(silent) as server:
        url = f"https://127.0.0.1:{server.port}/"
        subject = make_subject(tmp_path, servers, url)
        limits = Limits(tls_timeout=0.5, connect_timeout=0.5)
        row = _rows(run_diagnostics(subject, environ=NO_PROXY, limits=limits))["tls:enrolment"]
    assert row.status == "fail"
    assert row.code == "ES302"
    assert "no answer in time" in row.detail


def test_the_proxy_in_the_environment_is_used_and_reported(servers, tmp_path, proxy):
    """https_proxy with credentials: the checks go through it (CONNECT), the proxy row
    names it and never its password."""
    server, seen = proxy
    url = servers.good.url
    subject = make_subject(tmp_path, servers, url)
    env = {"https_proxy": f"http://alice:s3cret-Proxy@127.0.0.1:{server.port}"}
    diagnosis = run_diagnostics(subject, environ=env)
    rows = _rows(diagnosis)
    assert rows["proxy"].detail == f"127.0.0.1:{server.port} (with credentials) from https_proxy"
    assert f"CONNECT 127.0.0.1:{servers.good.port}" in seen
    assert rows["dns:portal+enrolment+updates"].detail.startswith("proxy 127.0.0.1")
    assert "through proxy" in rows["tcp:portal+enrolment+updates"].detail
    assert rows["tls:enrolment"].status == "ok"
    assert all("s3cret-Proxy" not in f"{r.detail}{r.advice}" for r in diagnosis.rows)


def test_a_proxy_that_refuses_the_tunnel_is_es303(servers, tmp_path, refusing_proxy):
    """The proxy answers 407 to CONNECT: the connection row fails with ES303 (E5)."""
    url = servers.good.url
    subject = make_subject(tmp_path, servers, url)
    env = {"HTTPS_PROXY": f"127.0.0.1:{refusing_proxy.port}"}
    row = _rows(run_diagnostics(subject, environ=env))["tcp:portal+enrolment+updates"]
    assert row.status == "fail"
    assert row.code == "ES303"
    assert "407" in row.detail


def test_no_proxy_bypasses_the_proxy(servers, tmp_path, refusing_proxy):
    """A host listed in no_proxy is reached directly even with a (refusing) proxy set."""
    url = servers.good.url
    subject = make_subject(tmp_path, servers, url)
    env = {"https_proxy": f"127.0.0.1:{refusing_proxy.port}", "no_proxy": "localhost,127.0.0.1"}
    rows = _rows(run_diagnostics(subject, environ=env))
    assert rows["tcp:portal+enrolment+updates"].status == "ok"
    assert "not for localhost, 127.0.0.1" in rows["proxy"].detail


def test_offline_runs_no_network_check(servers, tmp_path, proxy):
    """--offline: one skipped network row, and nothing was asked of any server."""
    server, seen = proxy
    url = servers.good.url
    subject = make_subject(tmp_path, servers, url)
    env = {"https_proxy": f"127.0.0.1:{server.port}"}
    rows = _rows(run_diagnostics(subject, environ=env, offline=True))
    assert rows["network"].status == "skip"
    assert not [c for c in rows if c.startswith(("dns:", "tcp:", "tls:"))]
    assert seen == []
