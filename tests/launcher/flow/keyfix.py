"""A small key for the flow's real-part tests: a signed CD-ROM (components, release
record, manifest) with a real product.json, profile template and CA, and a data area."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from esecure.bundle import tree
from esecure.bundle.firefox import BrowserSettings, user_js
from esecure.bundle.manifest import MANIFEST_NAME, SIGNATURE_NAME, encode_manifest, sign_manifest
from esecure.launcher.flow.console import Answers, ConsolePresenter
from esecure.launcher.flow.launch import flow_for
from esecure.launcher.flow.steps import FlowOptions
from esecure_onkey.boot import Choice, cd_choice
from tests.onkey import fixtures as onkey

PLATFORM = onkey.PLATFORM


@dataclass(frozen=True)
class Key:
    """A key: its CD-ROM, data area, product.json and the bootstrap's choice."""

    cd: Path
    data: Path
    product: dict
    choice: Choice


def product_doc(site: str, est_url: str, *, lang: str = "en") -> dict:
    return {
        "format": 1,
        "id": onkey.PRODUCT,
        "version": "1.0.0",
        "name": "e-secure",
        "portal_name": "Sogecash Net",
        "default_language": lang,
        "support_phone": "+33 1 00 00 00 00",
        "urls": {"site": site, "enrolment": est_url, "updates": ""},
        "firefox": {"host_policies": "warn"},
        "data": {"label": onkey.LABEL},
    }


def make_key(
    root: Path,
    *,
    ca_pem: bytes,
    site: str = "https://portal.bank.test/",
    est_url: str = "https://127.0.0.1:9/.well-known/est/",
    serial: str | None = "KEY-0001",
    firefox: Path | None = None,
    lang: str = "en",
) -> Key:
    """A signed CD-ROM at ``root/cd`` and a data area at ``root/data`` (identity.json
    with ``serial``); ``firefox``: a real Firefox directory the choice runs instead of
    the CD-ROM's stand-in (not part of the signed tree)."""
    cd, data = root / "cd", root / "data"
    product = product_doc(site, est_url, lang=lang)
    parts = onkey.default_components("1.0.0")
    parts["app"]["product.json"] = (json.dumps(product) + "\n").encode()
    parts["profile"] = {"user.js": user_js(BrowserSettings(site))}
    parts["trust"]["ca.pem"] = ca_pem
    onkey.make_cd(cd, "1.0.0", parts)
    paths = [p for p in tree.walk_files(cd) if p not in (MANIFEST_NAME, SIGNATURE_NAME)]
    manifest = encode_manifest(onkey.PRODUCT, "1.0.0", tree.entries(cd, paths))
    (cd / MANIFEST_NAME).write_bytes(manifest)
    (cd / SIGNATURE_NAME).write_bytes(sign_manifest(manifest, onkey.KEY))
    data.mkdir(parents=True)
    if serial is not None:
        (data / "identity.json").write_text(json.dumps({"format": 1, "serial": serial}))
    choice = cd_choice(cd)
    dirs = dict(choice.dirs)
    if firefox is not None:
        dirs[f"firefox-{PLATFORM}"] = firefox
    choice = replace(choice, dirs=dirs, data_dir=data, data_kind="env", data_reason="test")
    return Key(cd, data, product, choice)


@dataclass
class Seen:
    """What the user saw in the terminal, and the exit code."""

    code: int
    out: str
    err: str


def run_console_flow(
    key: Key,
    answers: Answers | None = None,
    *,
    options: FlowOptions | None = None,
    presenter_class: type[ConsolePresenter] = ConsolePresenter,
) -> Seen:
    """The whole flow on ``key`` with the terminal presenter (not interactive)."""
    out, err = io.StringIO(), io.StringIO()
    lang = str(key.product.get("default_language", "en"))
    presenter = presenter_class(
        lang=lang,
        support_phone=key.product["support_phone"],
        answers=answers or Answers(),
        stdin=io.StringIO(),
        out=out,
        err=err,
        interactive=False,
    )
    flow = flow_for(key.choice, key.product, boot=None, options=options)
    code = flow(presenter)
    return Seen(code, out.getvalue(), err.getvalue())


_HOLDER = textwrap.dedent(
    """
    import fcntl, os, sys
    fd = os.open(sys.argv[2], os.O_RDWR | os.O_CREAT, 0o600)
    getattr(fcntl, sys.argv[1])(fd, fcntl.LOCK_EX)
    print("held", flush=True)
    sys.stdin.read()
    """
)


@contextlib.contextmanager
def held_by_another_process(path: Path, how: str = "flock") -> Iterator[None]:
    """``path`` locked by another live process (``flock``: a session that answers no
    signal; ``lockf``: what a running Firefox holds on ``.parentlock``) while inside."""
    with subprocess.Popen(
        [sys.executable, "-c", _HOLDER, how, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        try:
            assert holder.stdout.readline().strip() == "held"
            yield
        finally:
            holder.stdin.close()
            holder.wait(timeout=30)
