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
    from esecure.config import Project
    from esecure.trust import Passphrase

__all__ = ["build", "personalize", "verify"]


def _registry_signer(loaded: Project, project: Path) -> Callable[[bytes], bytes]:
    """Signs registry files with the image-signing key, loaded (its passphrase asked) before
    any serial is reserved: a missing passphrase stops the run before it starts."""
    from esecure.bundle.build import signing_key  # noqa: PLC0415
    from esecure.bundle.manifest import sign_manifest  # noqa: PLC0415

    key = signing_key(loaded, _passphrase(project))

    def sign(data: bytes) -> bytes:
        return sign_manifest(data, key)

    return sign


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
    click.echo(f"  release: {', '.join(f'{n} {c[:12]}' for n, c in doc['components'].items())}")
    data = doc["data_partition"]
    click.echo(
        f"  data partition: {data['size_mib']} MiB, from {data['from']} (the plan's minimum: "
        f"{data['budget']['minimum_mib']} MiB)"
    )
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
@click.option(
    "--data",
    "data",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A fresh key's data partition, read back: checked byte for byte against --data-image.",
)
@click.option(
    "--data-image",
    type=click.Path(exists=True, path_type=Path),
    help="The data image the key was programmed with (data.img), or the `esecure "
    "personalize --data-images --out` directory (its data-<serial>.img is chosen by the "
    "serial on the key).",
)
def verify(image: Path, project: Path, data: Path | None, data_image: Path | None) -> None:
    """Check IMAGE (cdrom.iso, an extracted tree, or a key's CD-ROM partition read back)
    against PROJECT's signing key: the signature, every file's SHA-256, and no file the
    manifest does not list. With --data, also a fresh key's data partition read back."""
    from esecure.bundle.verify import verify_image  # noqa: PLC0415
    from esecure.config import load_project  # noqa: PLC0415

    if (data is None) != (data_image is None):
        raise click.UsageError("--data and --data-image go together: pass both or neither")
    loaded = load_project(project)
    result = verify_image(image, loaded.trust.image_signing_public_key.read_bytes())
    from esecure._tools import SYSTEM  # noqa: PLC0415
    from esecure.bundle.authenticode import check_image_pes  # noqa: PLC0415

    for name, signer in check_image_pes(loaded, image, SYSTEM):  # whatever the manifest says
        click.echo(f"{name}: Authenticode signature ok, signed by {signer}")
    click.echo(
        f"ok: {image} — {result.product} {result.version}, {result.files} files, "
        f"{result.bytes:,} bytes hashed, signed by the project's key"
    )
    if data is not None and data_image is not None:
        from esecure.bundle.readback import check_data_readback  # noqa: PLC0415

        checked = check_data_readback(data, data_image)
        key = f"key {checked.serial}" if checked.serial else "an unpersonalised key"
        click.echo(
            f"ok: {data} — {key}, {checked.compared:,} bytes equal to {checked.expected}"
            + (f" ({checked.beyond:,} bytes of partition beyond it)" if checked.beyond else "")
        )


@click.command("firefox-hash")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
def firefox_hash(directory: Path) -> None:
    """Print the tree hash of an extracted Firefox (every file's SHA-256, sorted by path,
    hashed again): the value of [firefox] windows_sha256 once you have checked that
    Firefox."""
    from esecure.bundle.winfirefox import tree_sha256  # noqa: PLC0415

    click.echo(tree_sha256(directory))


def _data_size(configured: int | None, image_dir: Path | None) -> int:
    """The size of personalised data images: the build's (its report), else the config's."""
    import json  # noqa: PLC0415

    if image_dir is None:
        if configured is None:
            raise click.UsageError(
                "--data-images needs the data partition's size: pass --image-dir DIR (the "
                "`esecure build --out` directory) or set [image] data_size_mib"
            )
        return configured
    report = image_dir / "build-report.json"
    try:
        size = json.loads(report.read_text(encoding="utf-8"))["data_partition"]["size_mib"]
    except (OSError, ValueError, KeyError, TypeError):
        raise click.UsageError(
            f"{report} does not give the data partition's size: pass the directory of a "
            "build made by this version of `esecure build`"
        ) from None
    if not isinstance(size, int) or isinstance(size, bool):
        raise click.UsageError(f"{report}: data_partition.size_mib is not a whole number")
    return size


@click.command()
@click.argument("project", type=click.Path(path_type=Path))
@click.option("--count", type=click.IntRange(min=1), help="How many keys to personalise.")
@click.option(
    "--serials",
    "serials_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Use these serials (one per line, checked) instead of drawing them.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Output directory; run again with the same --out to resume a stopped run.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1, 100_000),
    default=1000,
    show_default=True,
    help="Keys made durable together (one sync, one registry file pair per batch).",
)
@click.option("--data-images", is_flag=True, help="Also write data-<serial>.img for each key.")
@click.option(
    "--image-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="With --data-images: the `esecure build --out` directory, whose build-report.json "
    "gives the data partition's size (else [image] data_size_mib).",
)
def personalize(  # noqa: PLR0917 - click passes every option by position
    project: Path,
    count: int | None,
    serials_file: Path | None,
    out: Path,
    batch_size: int,
    data_images: bool,
    image_dir: Path | None,
) -> None:
    """Give keys unique serial numbers: identity files, registry (CSV + JSON), ledger."""
    from esecure.bundle import personalize as p  # noqa: PLC0415
    from esecure.bundle.build import source_date_epoch  # noqa: PLC0415
    from esecure.bundle.fat import write_fat  # noqa: PLC0415
    from esecure.config import load_project  # noqa: PLC0415

    loaded = load_project(project)
    if (count is None) == (serials_file is None) and not (out / "personalize-state.json").exists():
        raise click.UsageError("give exactly one of --count N and --serials FILE")
    given = None
    if serials_file is not None:
        lines = serials_file.read_text(encoding="utf-8").split()
        given = tuple(s.strip().upper() for s in lines if s.strip())
    epoch = source_date_epoch(loaded)
    size_mib = _data_size(loaded.image.data_size_mib, image_dir) if data_images else 0

    def data_image(path: Path, record: p.Record) -> None:
        tmp = path.with_name(path.name + ".tmp")
        write_fat(
            tmp,
            label=loaded.image.data_label,
            size_mib=size_mib,
            epoch=epoch,
            files={"identity.json": p.identity_json(record, loaded.product.id)},
            serial_salt=record.serial,
        )
        tmp.replace(path)

    result = p.personalize(
        loaded.root,
        loaded.product.id,
        p.PersonalizeOptions(
            out=out, count=count, serials=given, batch_size=batch_size, data_images=data_images
        ),
        data_image=data_image,
        report=_say,
        sign=_registry_signer(loaded, project),
    )
    verb = "resumed and finished" if result.resumed else "finished"
    click.echo(
        f"run {result.run} {verb}: {result.keys} keys in {len(result.batches)} batches; "
        f"registry in {out / 'registry'}, ledger {loaded.root / p.LEDGER}"
    )
