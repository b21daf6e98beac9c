"""`esecure personalize`: serial numbers, identity files and the registry, in batches.

Output directory::

    identities/<serial>.json        the key's identity file: identity.json on its data partition
    data-<serial>.img               (--data-images) the data partition with it inside
    registry/<batch>.csv, .json     what the bank imports into its enrolment service
    registry/<batch>.csv.sig, …     their Ed25519 signatures (the image-signing key)
    personalize-state.json          the run: its count and the batches done (to resume)

The project keeps ``personalization/ledger.csv`` (``serial,batch,created``): a serial
enters it *before* anything is written for it, so no later run can reuse it, even after a
crash. A batch is made durable as a whole (files written, one ``os.sync()``, then the
registry files atomically, then the state file): no fsync per file. A killed run resumed
with the same ``--out`` redoes its unfinished batch with the serials the ledger reserved
for it, then goes on.

The registry files name the product and batch on every line and each has a detached
signature beside it (``<file>.sig``: base64 Ed25519 over the exact bytes, made with the
project's image-signing key, the key whose public half the bank already holds to trust the
image). `esecure admin import-keys` refuses a file whose signature does not verify, so a
changed check character or an added serial cannot be slipped into the bank's registry.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from esecure._fs import atomic_write, fsync_dir
from esecure.bundle import serials
from esecure.errors import StorageError, UsageError

__all__ = [
    "LEDGER",
    "REGISTRY_HEADER",
    "SIGNATURE_SUFFIX",
    "PersonalizeOptions",
    "PersonalizeResult",
    "identity_json",
    "personalize",
    "read_ledger",
    "registry_csv",
    "registry_json",
]

LEDGER = Path("personalization/ledger.csv")
STATE = "personalize-state.json"
HEADER = "serial,batch,created"
REGISTRY_HEADER = "serial,batch,created,product"
SIGNATURE_SUFFIX = ".sig"


@dataclass(frozen=True)
class PersonalizeOptions:
    """What `esecure personalize` was asked for."""

    out: Path
    count: int | None = None
    serials: tuple[str, ...] | None = None
    batch_size: int = 1000
    data_images: bool = False


@dataclass(frozen=True)
class PersonalizeResult:
    """What the run produced."""

    run: str
    keys: int
    batches: tuple[str, ...]
    resumed: bool


@dataclass(frozen=True)
class Record:
    """One key: its serial, batch and creation time (UTC, ISO 8601)."""

    serial: str
    batch: str
    created: str


# --- pure writers -----------------------------------------------------------------------------


def identity_json(record: Record, product: str) -> bytes:
    """The identity file the launcher reads on the data partition."""
    doc = {
        "format": 1,
        "serial": record.serial,
        "batch": record.batch,
        "created": record.created,
        "product": product,
    }
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()


def registry_csv(records: list[Record], product: str) -> bytes:
    """``serial,batch,created,product`` with a header, CRLF-free, one key per line."""
    lines = [REGISTRY_HEADER, *(f"{r.serial},{r.batch},{r.created},{product}" for r in records)]
    return ("\n".join(lines) + "\n").encode()


def registry_json(records: list[Record], product: str) -> bytes:
    """A JSON list of ``{"serial", "batch", "created", "product"}`` objects."""
    doc = [
        {"serial": r.serial, "batch": r.batch, "created": r.created, "product": product}
        for r in records
    ]
    return (json.dumps(doc, indent=1) + "\n").encode()


# --- the ledger -------------------------------------------------------------------------------


def read_ledger(project_root: Path) -> list[Record]:
    """Every serial the project ever issued."""
    path = project_root / LEDGER
    try:
        lines = path.read_text(encoding="ascii").splitlines()
    except FileNotFoundError:
        return []
    out = []
    for number, line in enumerate(lines[1:], start=2):
        parts = line.split(",")
        if len(parts) != 3:  # a torn last line from a crash: ignored, the serial was unused
            if number == len(lines):
                continue
            raise UsageError(f"{path}:{number}: not serial,batch,created", code="ES917")
        out.append(Record(*parts))
    return out


@contextlib.contextmanager
def _locked_ledger(project_root: Path) -> Iterator[IO[str]]:
    path = project_root / LEDGER
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("a+", encoding="ascii")
    except OSError as exc:
        raise StorageError(f"cannot open the ledger {path}: {exc.strerror}") from exc
    with handle:
        try:
            import fcntl  # noqa: PLC0415 - POSIX only; Windows runs unlocked

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # pragma: no cover - Windows
            pass
        except OSError:
            raise UsageError(
                f"another `esecure personalize` holds {path}; wait for it to finish",
                code="ES917",
            ) from None
        if handle.tell() == 0:
            handle.write(HEADER + "\n")
        elif not _ends_with_newline(path):
            handle.write("\n")  # after a torn line, start clean
        yield handle


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as raw:
        raw.seek(-1, os.SEEK_END)
        return raw.read(1) == b"\n"


def _append(handle: IO[str], records: list[Record]) -> None:
    handle.write("".join(f"{r.serial},{r.batch},{r.created}\n" for r in records))
    handle.flush()
    os.fsync(handle.fileno())


# --- the run ----------------------------------------------------------------------------------


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _check_given(given: tuple[str, ...], issued: set[str]) -> None:
    problems: list[str] = []
    seen: set[str] = set()
    for number, serial in enumerate(given, start=1):
        if not serials.is_valid(serial):
            problems.append(f"line {number}: {serial!r} is not a valid serial (check character)")
        elif serial in seen:
            problems.append(f"line {number}: {serial} appears twice")
        elif serial in issued:
            problems.append(f"line {number}: {serial} was already issued (ledger)")
        seen.add(serial)
    if problems:
        raise UsageError("; ".join(problems[:10]), code="ES917")


def _load_state(out: Path) -> dict[str, Any] | None:
    try:
        doc: dict[str, Any] = json.loads((out / STATE).read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise UsageError(
            f"{out / STATE} is unreadable ({exc}); use another --out", code="ES917"
        ) from None
    return doc


def _write_batch(
    out: Path,
    records: list[Record],
    product: str,
    data_images: Callable[[Record], None] | None,
    sign: Callable[[bytes], bytes] | None,
) -> None:
    directory = out / "identities"
    directory.mkdir(parents=True, exist_ok=True)
    for r in records:
        # Written in place: a batch cut short is redone whole on resume, and os.sync()
        # below makes a finished batch durable before its registry exists.
        (directory / f"{r.serial}.json").write_bytes(identity_json(r, product))
        if data_images is not None:
            data_images(r)
    if hasattr(os, "sync"):
        os.sync()  # one flush for the whole batch
    batch = records[0].batch
    for name, data in (
        (f"{batch}.csv", registry_csv(records, product)),
        (f"{batch}.json", registry_json(records, product)),
    ):
        if sign is not None:  # the signature first: a registry file never lacks its own
            atomic_write(out / "registry" / (name + SIGNATURE_SUFFIX), sign(data))
        atomic_write(out / "registry" / name, data)


def personalize(
    project_root: Path,
    product: str,
    options: PersonalizeOptions,
    *,
    data_image: Callable[[Path, Record], None] | None = None,
    report: Callable[[str], None] = lambda _m: None,
    sign: Callable[[bytes], bytes] | None = None,
) -> PersonalizeResult:
    """Run (or resume) a personalisation into ``options.out``; ``sign`` gives each registry
    file's signature file (the command line signs with the image-signing key)."""
    out = options.out
    out.mkdir(parents=True, exist_ok=True)
    state = _load_state(out)
    resumed = state is not None
    with _locked_ledger(project_root) as ledger:
        issued = read_ledger(project_root)
        issued_set = {r.serial for r in issued}
        if state is None:
            state = _new_state(out, options, issued_set)
        run, count = str(state["run"]), int(state["count"])
        if resumed and options.count is not None and options.count != count:
            raise UsageError(
                f"{out} holds run {run} of {count} keys, not {options.count}: resume it "
                "without --count, or give another --out for a new run",
                code="ES917",
            )
        done: list[str] = list(state["done"])
        mine = [r for r in issued if r.batch.startswith(run + "-")]
        given = list(state.get("serials") or [])
        keys_done = sum(1 for r in mine if r.batch in done)
        hook = None
        if options.data_images and data_image is not None:
            image_hook = data_image

            def hook(r: Record) -> None:
                image_hook(out / f"data-{r.serial}.img", r)

        index = len({r.batch for r in mine})
        pending = sorted({r.batch for r in mine} - set(done))
        for batch in pending:  # reserved by a killed run: redo with the same serials
            records = [r for r in mine if r.batch == batch]
            report(f"resuming batch {batch} ({len(records)} keys)")
            _write_batch(out, records, product, hook, sign)
            done.append(batch)
            keys_done += len(records)
            _save(out, state, done)
        while keys_done < count:
            size = min(options.batch_size, count - keys_done)
            index += 1
            batch = f"{run}-{index:05d}"
            created = _now()
            chosen = given[keys_done : keys_done + size] if given else _draw(size, issued_set)
            records = [Record(s, batch, created) for s in chosen]
            _append(ledger, records)  # reserved before any file exists
            _write_batch(out, records, product, hook, sign)
            done.append(batch)
            keys_done += size
            _save(out, state, done)
            report(f"batch {batch}: {size} keys ({keys_done}/{count})")
    fsync_dir(out)
    return PersonalizeResult(run, keys_done, tuple(done), resumed)


def _new_state(out: Path, options: PersonalizeOptions, issued: set[str]) -> dict[str, Any]:
    if options.serials is not None:
        _check_given(options.serials, issued)
        count = len(options.serials)
    elif options.count is not None and options.count > 0:
        count = options.count
    else:
        raise UsageError("give --count N (N > 0) or --serials FILE", code="ES917")
    run = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(2)
    state = {
        "format": 1,
        "run": run,
        "count": count,
        "done": [],
        "serials": list(options.serials or []),
    }
    atomic_write(out / STATE, json.dumps(state, indent=1).encode())
    return state


def _draw(size: int, issued: set[str]) -> list[str]:
    chosen: list[str] = []
    while len(chosen) < size:
        serial = serials.new_serial()
        if serial not in issued:  # 2^64 space: a repeat is astronomically rare, still refused
            issued.add(serial)
            chosen.append(serial)
    return chosen


def _save(out: Path, state: dict[str, Any], done: list[str]) -> None:
    atomic_write(out / STATE, json.dumps({**state, "done": done}, indent=1).encode())
