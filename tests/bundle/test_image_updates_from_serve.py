"""A key image built from the demo project finds its update on `esecure serve`, with no
other server: the repository is served under the path of [urls] updates.

The session's served image (tests/conftest.py ``served``): the demo project gets its
update keys as `esecure demo` gives them, its [urls] point at the port `esecure serve`
took, and `esecure build` makes the image (reusing the session image's frozen launcher).
1.0.1 is published from the image's own components with a changed app; the key's update
client, reading the URL from the image's product.json and trusting the key's own CA
(trust/ca.pem, beside the system's store), is offered 1.0.1.
"""

from __future__ import annotations

import json

import pytest

from esecure.updater.client import UpdateClient

pytestmark = pytest.mark.slow


def test_demo_image_updates_from_esecure_serve(served, tmp_path, monkeypatch):
    """The image's product.json names the served repository; its update client checks
    there, TLS verified against the image's trust/ca.pem (no SSL_CERT_FILE), and is
    offered 1.0.1."""
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    product = json.loads((served.cd / "app" / "product.json").read_text())
    assert product["urls"]["updates"] == served.url + "updates/"
    assert (served.cd / "trust" / "root.json").is_file()  # the image can update
    client = UpdateClient(
        tmp_path / "data", product["urls"]["updates"], product["id"], cd=served.cd, platform="linux"
    )
    offer = client.check(product["version"])
    assert offer is not None
    assert offer.version == served.update
    assert [c.name for c in offer.components] == ["app"]  # the rest is the image's own
