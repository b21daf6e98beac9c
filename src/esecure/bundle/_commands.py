"""The image commands: `esecure build`, `esecure verify`, `esecure personalize`.

Heavy modules are imported inside the command bodies so that `esecure --help` stays fast.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from esecure.trust import Passphrase

__all__ = ["build", "verify"]


def _say(message: str) -> None:
    click.echo(f"  {message}", err=True)


def _passphrase(project_dir: Path) -> Callable[[], Passphrase]:
    def ask() -> Passphrase:
        from esecure.config import load_project  # noqa: PLC0415
        from esecure.trust import get_passphrase  # noqa: PLC0415

        prompt = None
        if sys.stdin.isatty():

            def prompt(text: str) -> str:
                value: str = click.prompt(text, hide_input=True)
                return value

        phrase = get_passphrase(load_project(project_dir).product.id, prompt=prompt)
        _say(f"passphrase: from {phrase.source}")
        return phrase

    return ask


@click.command()
@click.argument("project", type=click.Path(path_type=Path))
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Directory for cdrom.iso, data.img and build-report.json.",
)
@click.option(
    "--launcher-dir",
    "launcher_dirs",
    multiple=True,
    metavar="PLATFORM=DIR",
    help="A launcher frozen elsewhere (e.g. windows=DIR from a Windows builder); DIR holds "
    "the bootstrap, runtime-PLATFORM/ and lib/PLATFORM/. Repeatable.",
)
def build(project: Path, out: Path, launcher_dirs: tuple[str, ...]) -> None:
    """Build the key image of PROJECT: cdrom.iso, data.img and build-report.json in --out."""
    from esecure.bundle.build import BuildOptions, build_image  # noqa: PLC0415
    from esecure.bundle.freeze import parse_launcher_dir  # noqa: PLC0415

    dirs = dict(parse_launcher_dir(v) for v in launcher_dirs)
    click.echo(f"Building the key image of {project} into {out}", err=True)
    result = build_image(
        project,
        BuildOptions(out=out, launcher_dirs=dirs),
        passphrase=_passphrase(project),
        report=_say,
    )
    doc = result.report
    click.echo(f"{doc['product']} {doc['version']}: {len(doc['files'])} files on the CD-ROM")
    for name, output in doc["outputs"].items():
        click.echo(f"  {name}: {output['size']:,} bytes, sha256 {output['sha256']}")
    click.echo(f"  platforms: {', '.join(sorted(doc['platforms']))}")
    click.echo(f"  updates: {doc['updates']}")
    total = sum(s["seconds"] for s in doc["steps"])
    click.echo(f"  report: {result.report_path} ({total:.1f} s)")


@click.command()
@click.argument("image", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--project",
    type=click.Path(path_type=Path),
    required=True,
    help="The key project whose image-signing public key must have signed IMAGE.",
)
def verify(image: Path, project: Path) -> None:
    """Check IMAGE (cdrom.iso or an extracted tree) against PROJECT's signing key: the
    signature, every file's SHA-256, and no file the manifest does not list."""
    from esecure.bundle.verify import verify_image  # noqa: PLC0415
    from esecure.config import load_project  # noqa: PLC0415

    loaded = load_project(project)
    result = verify_image(image, loaded.trust.image_signing_public_key.read_bytes())
    click.echo(
        f"ok: {image} — {result.product} {result.version}, {result.files} files, "
        f"{result.bytes:,} bytes hashed, signed by the project's key"
    )
