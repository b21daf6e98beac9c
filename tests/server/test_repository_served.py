"""The update repository served by `esecure serve` under [urls] updates: the project's
update client finds a published release there over real HTTPS, the files have fixed
content types, and the attacks on a static file server (path traversal, a symlink out,
hidden files, directory listing, writes) get a 404 or 405 and change nothing."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from esecure.config import load_project
from esecure.errors import UpdateError
from esecure.scaffold import InitOptions, init_project
from tests.server.est_support import ServerThread
from tests.server.serve_process import raw_exchange, request, status_of
from tests.updater.conftest import make_repo

SECRET_MARK = b"PRIVATE KEY"  # what the project's key files hold


def _tree(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def published(tmp_path):
    """A demo project with update keys, a key's CD-ROM of 0.9.0, 1.0.0 published, and
    `esecure serve`'s server on the project (any port)."""
    scratch = tmp_path / "unused"
    scratch.mkdir()
    repo = make_repo(tmp_path, scratch, "https://unused.invalid/")
    repo.publish("1.0.0", tmp_path)
    with ServerThread(repo.project.root) as server:
        repo.url = server.url + "updates/"
        yield repo, server


def test_update_client_finds_the_release_on_serve(published, tmp_path, monkeypatch):
    """The key's update client, trusting the CA file serve names, checks against the
    served repository and is offered 1.0.0."""
    repo, server = published
    monkeypatch.setenv("SSL_CERT_FILE", str(server.project.trust.ca_certificate))
    offer = repo.client(tmp_path / "data").check("0.9.0")
    assert offer is not None
    assert offer.version == "1.0.0"


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("metadata/timestamp.json", "application/json"),
        ("metadata/1.root.json", "application/json"),
        ("targets/demo-bank-1.0.0.release", "application/octet-stream"),
        ("targets/demo-bank-1.0.0.release.sig", "application/octet-stream"),
    ],
)
def test_files_are_served_with_fixed_content_types(published, name, content_type):
    """Each file, byte for byte, with a content type from the fixed table."""
    repo, server = published
    status, headers, body = request(
        server.url + "updates/" + name, server.project.trust.ca_certificate
    )
    assert status == 200
    assert headers["content-type"] == content_type
    assert headers["x-content-type-options"] == "nosniff"
    assert body == (repo.project.root / "repository" / name).read_bytes()


def test_archives_are_gzip_and_head_sends_no_body(published):
    """A component archive: application/gzip; HEAD: its length, no body."""
    repo, server = published
    archive = next((repo.project.root / "repository" / "targets").glob("*.tar.gz"))
    url = server.url + "updates/targets/" + archive.name
    status, headers, body = request(url, server.project.trust.ca_certificate, "HEAD")
    assert status == 200
    assert headers["content-type"] == "application/gzip"
    assert int(headers["content-length"]) == archive.stat().st_size
    assert body == b""


ATTACKS = {
    "dot-dot": "/updates/metadata/../../keys/ca.key.pem",
    "encoded-dot-dot": "/updates/metadata/%2e%2e/%2e%2e/keys/ca.key.pem",
    "encoded-slash": "/updates/metadata/..%2f..%2fkeys%2fca.key.pem",
    "double-encoded": "/updates/metadata/%252e%252e/%252e%252e/keys/ca.key.pem",
    "backslash": "/updates/metadata/..\\..\\keys\\ca.key.pem",
    "absolute": "/updates/metadata//etc/passwd",
    "hidden-file": "/updates/targets/.hidden.pem",
    "symlink-out": "/updates/targets/link.pem",
    "listing-root": "/updates/",
    "listing-metadata": "/updates/metadata/",
    "listing-targets": "/updates/targets",
    "other-directory": "/updates/keys/ca.key.pem",
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_path_attacks_get_a_404_and_nothing(published, attack):
    """Traversal in every spelling, a symlink pointing out, a hidden file, a directory:
    404, no byte of a key, the repository unchanged."""
    repo, server = published
    root = repo.project.root / "repository"
    (root / "targets" / ".hidden.pem").write_bytes(SECRET_MARK)
    (root / "targets" / "link.pem").symlink_to(repo.project.root / "keys" / "ca.key.pem")
    before = _tree(root)
    raw = f"GET {ATTACKS[attack]} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    answer = raw_exchange(server.port, server.project.trust.ca_certificate, raw)
    assert status_of(answer) in (400, 404), answer[:200]
    assert SECRET_MARK not in answer
    assert _tree(root) == before


@pytest.mark.parametrize("method", ["PUT", "POST", "DELETE", "PATCH"])
def test_writes_are_refused_and_audited(published, method):
    """The repository is read-only: 405 naming GET and HEAD, audited, nothing written."""
    repo, server = published
    root = repo.project.root / "repository"
    before = _tree(root)
    status, headers, _body = request(
        server.url + "updates/metadata/timestamp.json",
        server.project.trust.ca_certificate,
        method,
        b'{"signed": {}}',
    )
    assert status == 405
    assert set(headers["allow"].replace(" ", "").split(",")) == {"GET", "HEAD"}
    assert _tree(root) == before
    rows = server.registry().audit_log()
    assert any(status == 405 and "updates" in endpoint for _t, endpoint, _w, status, _o in rows)


def test_no_repository_yet_is_a_404(demo_project):
    """A project without update keys: the repository's names are 404, nothing breaks."""
    with ServerThread(demo_project) as server:
        status, _headers, _body = request(
            server.url + "updates/metadata/root.json", server.project.trust.ca_certificate
        )
    assert status == 404


def test_update_client_trusts_the_keys_own_ca(published, tmp_path, monkeypatch):
    """No SSL_CERT_FILE: the key's update client verifies the server against the CA it
    is given (the key's trust/ca.pem, the launcher's choice), beside the system store."""
    repo, server = published
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    client = repo.client(tmp_path / "data", ca_file=server.project.trust.ca_certificate)
    offer = client.check("0.9.0")
    assert offer is not None
    assert offer.version == "1.0.0"


def test_a_server_neither_public_nor_the_keys_ca_is_refused(published, tmp_path, monkeypatch):
    """Attack: a server whose chain is neither the key's CA nor a public one (another
    project's CA: an intercepting proxy, a spoofed host) is refused at the TLS layer —
    ES520, nothing trusted written beyond the CD-ROM's root."""
    repo, _server = published
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    other = tmp_path / "other"
    init_project(other, InitOptions(demo=True), passphrase=None)
    client = repo.client(tmp_path / "data", ca_file=load_project(other).trust.ca_certificate)
    with pytest.raises(UpdateError) as caught:
        client.check("0.9.0")
    assert caught.value.code == "ES520"
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)
    trusted = tmp_path / "data" / "updates" / "metadata"
    assert sorted(p.name for p in trusted.iterdir()) == ["root.json"]
