"""Downloads are bounded in total time and the archive's decompression in size."""

from __future__ import annotations

import functools
import gzip
import http.server
import json
import os
import threading
import time

import pytest

from esecure.errors import UpdateError, UpdateSecurityError
from esecure.updater.client import UpdateClient, gunzip_capped

from .conftest import APP, PLATFORM, component_ids, snapshot_tree

DRIP_BYTES, DRIP_PAUSE, DRIP_MAX = 512, 0.05, 2000  # ~10 KB/s, at most ~100 s per file


class _DripHandler(http.server.SimpleHTTPRequestHandler):
    """Metadata at full speed; targets/ drip-fed: headers at once, then 512 bytes a tick."""

    def do_GET(self) -> None:
        if not self.path.startswith("/targets/"):
            super().do_GET()
            return
        path = self.translate_path(self.path)
        try:
            with open(path, "rb") as f:  # noqa: PTH123 - the handler's own path API
                data = f.read()
        except OSError:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            for i in range(min(DRIP_MAX, len(data) // DRIP_BYTES + 1)):
                self.wfile.write(data[i * DRIP_BYTES : (i + 1) * DRIP_BYTES])
                self.wfile.flush()
                time.sleep(DRIP_PAUSE)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up: expected
            return

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002, ARG002 - base signature
        return None


@pytest.fixture
def drip_url(repo):
    """The same repository served by a drip-feeding server on 127.0.0.1."""
    handler = functools.partial(_DripHandler, directory=str(repo.served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_drip_fed_download_stops_at_its_deadline(repo, drip_url, tmp_path):
    """A server sending ~10 KB/s: the download ends at timeout + length / minimum speed, ES525,
    nothing installed."""
    data = tmp_path / "data"
    repo.publish("1.1.0", tmp_path, deps="2")  # a ~1 MB deps archive to download
    c = UpdateClient(
        data,
        drip_url,
        APP,
        cd=repo.cd,
        platform=PLATFORM,
        timeout=2,
        min_speed=1024 * 1024,  # this archive (~1 MB) must come in about 3 s
    )
    offer = c.check("0.9.0")
    assert offer is not None and offer.download_size > 200_000
    with pytest.raises(UpdateError) as err:
        c.download(offer)
    assert err.value.code == "ES525"
    assert "took too long" in err.value.detail
    assert snapshot_tree(data / "store") == {}


def test_published_archive_carries_its_signed_uncompressed_size(repo):
    """`esecure publish` signs tar_size for each full archive (the client's decompression cap)."""
    targets = json.loads((repo.served / "metadata" / "targets.json").read_text())["signed"]
    app = component_ids(repo.bundles["1.0.0"])["app"]
    info = targets["targets"][f"{APP}-c-{app}.tar.gz"]
    size = info["custom"]["esecure"]["tar_size"]
    archive = (repo.served / "targets" / f"{APP}-c-{app}.tar.gz").read_bytes()
    assert size == len(gzip.decompress(archive))


def test_an_archive_larger_than_its_signed_size_is_es507_and_nothing_is_kept(repo, tmp_path):
    """A full archive that decompresses beyond its signed tar_size (signed by mistake, or
    by a compromised repository): ES507 while streaming, staging removed."""
    data = tmp_path / "data"
    client = repo.client(data)
    offer = client.check("0.9.0")
    plan = offer.components[0]
    plan.archive.unrecognized_fields["custom"] = {"esecure": {"tar_size": 10_000}}
    with pytest.raises(UpdateSecurityError) as err:
        client.install(offer, client.download(offer))
    assert err.value.code == "ES507"
    assert snapshot_tree(data / "store") == {}


def test_gzip_bomb_is_cut_at_the_signed_size():
    """More output than the signed tar_size: ES507 before it is all in memory."""
    bomb = gzip.compress(b"\0" * 50_000_000)
    with pytest.raises(UpdateSecurityError) as err:
        gunzip_capped(bomb, 1_000_000, "x.tar.gz")
    assert err.value.code == "ES507"


def test_archive_of_exactly_the_signed_size_decompresses():
    """Output equal to the cap is accepted and intact."""
    payload = os.urandom(300_000) + b"\0" * 3_000_000
    assert gunzip_capped(gzip.compress(payload), len(payload), "x") == payload


def test_truncated_or_foreign_archive_is_es506():
    """A gzip stream cut short, or not gzip at all: ES506."""
    whole = gzip.compress(os.urandom(100_000))
    for bad in (whole[: len(whole) // 2], b"not a gzip stream at all"):
        with pytest.raises(UpdateSecurityError) as err:
            gunzip_capped(bad, 1_000_000, "x")
        assert err.value.code == "ES506"
