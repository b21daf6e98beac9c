"""A model of a power cut under the ``Disk`` seam, and a harness that cuts after every call.

The model (:class:`PowerCutDisk`) is generic: it knows files and directories, not pointers or
records, so it serves any on-key layout (format 1's component store today).
It is both the updater's :class:`~esecure.updater._disk.Disk` and the bootstrap's
:class:`~esecure_onkey.boot.FileOps`.

What the process sees is the real directory tree: every call is applied to it at once,
without fsync. Beside it the model keeps, per file and per directory (followed by
identity, like an inode, so through renames), what a power cut would leave:

1. a file's contents are durable once ``sync(file)``; until then a cut leaves them *torn*;
2. a directory's entries (new files and directories from ``write``/``append``/``mkdir``,
   ``replace`` at both ends, ``remove``) are durable once ``sync_dir(directory)``; a
   removed file or tree keeps its bytes in the model, to come back;
3. at a cut (:meth:`PowerCutDisk.restore`) the real tree is rebuilt from the durable
   entries, recursively from the root: pending new entries vanish, pending removals come
   back, pending renames are undone (a file written, not synced, then its directory
   renamed is pending at its new name, and torn there if its new name is durable);
4. a torn file is, by the variant asked for, either *truncated* (a prefix of what was
   written, below its size) or *stale* (the size written, the tail being the file's old
   bytes where it had some, else garbage: FAT records the size in the directory entry and
   may never have written the clusters). The part an ``append`` did not rewrite is never
   torn. The cut point and the bytes are chosen by a seed, so every run is reproducible.

It models what FAT without a journal may leave, with one simplification: every pending
change is lost together. A real device may also keep any subset of them; for code that
syncs after each step, at most one change is pending at the switch, and the cut after
each call (both sides of it) covers that. Anything written around the model (not through
the seam) is pending too, hence gone at the cut; the harness fails a scenario that does so.

The harness (:func:`sweep`) runs a scenario once to count its calls (N), then, for each
chosen k in 0..N, runs it afresh on the prepared data area (reset by difference: creating
a file costs far more than comparing it), cuts the power after the k-th call, restores
the durable state once per torn variant, and asks the scenario's judge (format-specific:
tests/updater/checker.py) what is wrong.
"""

from __future__ import annotations

import contextlib
import random
import shutil
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from esecure.updater._disk import Disk

TEARS = ("truncated", "stale")
DONE = "(done)"  # the mark of a run that made every call
MAX_DEPTH = 64  # a durable tree deeper than this is a cycle (renames across directories)


class PowerCut(BaseException):
    """The power went off: BaseException, so no ``except OSError``/``Exception`` eats it."""


@dataclass(eq=False)
class _File:
    data: bytes  # what the process sees
    durable: bytes | None  # the contents at the last sync (None: never synced)
    kept: int  # length of the prefix of ``data`` that is durable and was not rewritten since


@dataclass(eq=False)
class _Dir:
    entries: dict[str, _File | _Dir] = field(default_factory=dict)  # what the process sees
    durable: dict[str, _File | _Dir] = field(default_factory=dict)  # at the last sync_dir


Tree = dict[str, bytes | None]  # a file tree: POSIX path -> bytes, or None for a directory


def snapshot(root: Path) -> Tree:
    """Every file and directory under ``root`` (no symbolic links: the model has none)."""
    tree: Tree = {}
    for path in sorted(root.rglob("*")):
        if path.is_symlink():
            raise ValueError(f"{path}: the model has no symbolic links")
        tree[path.relative_to(root).as_posix()] = None if path.is_dir() else path.read_bytes()
    return tree


def apply(root: Path, have: Tree, want: Tree) -> None:
    """Change the real tree at ``root`` from ``have`` to ``want``, touching only what
    differs (creating a file costs far more than comparing its bytes)."""
    for name in sorted(have, reverse=True):  # children before their directory
        kind = want.get(name, False)
        if kind is False or (kind is None) != (have[name] is None):
            target = root / name
            if have[name] is None:
                target.rmdir()
            else:
                target.unlink()
    for name, data in sorted(want.items()):  # directories before their children
        before = have.get(name, False)
        if data is None:
            if before is not None:
                (root / name).mkdir()
        elif before != data:
            (root / name).write_bytes(data)


def _nodes(tree: Tree) -> _Dir:
    """The model of ``tree``, all of it durable (the state before the scenario)."""
    top = _Dir()
    for name, data in sorted(tree.items()):  # directories before their children
        *parents, leaf = name.split("/")
        node = top
        for part in parents:
            child = node.entries[part]
            if not isinstance(child, _Dir):
                raise TypeError(f"{name}: a parent is a file")
            node = child
        node.entries[leaf] = _Dir() if data is None else _File(data, data, len(data))
    stack = [top]
    while stack:  # bounded: each directory once
        node = stack.pop()
        node.durable = dict(node.entries)
        stack.extend(c for c in node.entries.values() if isinstance(c, _Dir))
    return top


class _Inline(Executor):
    """Runs each submitted call at once, in the caller's thread, as a finished future."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - kept in the future, as a thread pool does
            future.set_exception(exc)
        return future


class PowerCutDisk(Disk):
    """The real tree under ``root`` for the process, and what would survive a power cut.

    ``cut_after=k`` lets k calls run, then cuts the power: the next call, and every later
    one, raises :class:`PowerCut` without touching the tree. ``ops`` logs every call;
    ``marks`` maps a name (a checkpoint) to the number of calls made when it was reached.
    ``tree`` is what the real tree holds, when the caller knows it (saves a scan).
    """

    def __init__(
        self, root: Path, *, cut_after: int | None = None, tree: Tree | None = None
    ) -> None:
        self.root = root.resolve()
        self._real = snapshot(self.root) if tree is None else tree  # what the tree holds
        self._tree = _nodes(self._real)
        self._restored = False
        self.cut_after = cut_after
        self.off = False
        self.ops: list[str] = []
        self.marks: dict[str, int] = {}
        self._lock = threading.Lock()

    # --- bookkeeping -----------------------------------------------------------------------

    def mark(self, name: str) -> None:
        """Note how many calls were made when the scenario reached ``name``."""
        self.marks.setdefault(name, len(self.ops))

    def _parts(self, path: Path) -> tuple[str, ...]:
        absolute = path.resolve()
        if absolute != self.root and self.root not in absolute.parents:
            raise ValueError(f"{path} is outside the modelled tree {self.root}")
        return absolute.relative_to(self.root).parts

    def _call(self, name: str, *paths: Path) -> list[tuple[str, ...]]:
        """Count one call, or cut the power before it once ``cut_after`` calls ran."""
        if self.off:
            raise PowerCut("the power is off")
        if self.cut_after is not None and len(self.ops) >= self.cut_after:
            self.off = True
            raise PowerCut(f"power cut after call {len(self.ops)}")
        parts = [self._parts(p) for p in paths]
        self.ops.append(" ".join([name, *("/".join(p) or "." for p in parts)]))
        return parts

    def _dir(self, parts: tuple[str, ...]) -> _Dir:
        node: _File | _Dir = self._tree
        for part in parts:
            if not isinstance(node, _Dir) or part not in node.entries:
                raise FileNotFoundError("/".join(parts))
            node = node.entries[part]
        if not isinstance(node, _Dir):
            raise NotADirectoryError("/".join(parts))
        return node

    def _node(self, parts: tuple[str, ...]) -> _File | _Dir:
        if not parts:
            return self._tree
        found = self._dir(parts[:-1]).entries.get(parts[-1])
        if found is None:
            raise FileNotFoundError("/".join(parts))
        return found

    # --- the primitives (Disk and FileOps) -----------------------------------------------------

    def mkdir(self, path: Path) -> None:
        """Create ``path`` and its missing parents: new entries, pending."""
        with self._lock:
            (parts,) = self._call("mkdir", path)
            path.mkdir(parents=True, exist_ok=True)
            node = self._tree
            for part in parts:
                child = node.entries.get(part)
                if child is None:
                    child = node.entries[part] = _Dir()
                if not isinstance(child, _Dir):
                    raise NotADirectoryError(path)
                node = child

    def write(self, path: Path, data: bytes) -> None:
        """Create or truncate ``path``, then write: contents pending (a new entry too)."""
        with self._lock:
            (parts,) = self._call("write", path)
            path.write_bytes(data)
            self.written += len(data)
            parent = self._dir(parts[:-1])
            node = parent.entries.get(parts[-1])
            if isinstance(node, _File):
                node.data, node.kept = data, 0
            else:
                parent.entries[parts[-1]] = _File(data, None, 0)

    def write_stream(self, path: Path, chunks: Iterable[bytes]) -> int:
        """:meth:`write` of the chunks joined: one call (a cut inside it is a torn file)."""
        data = b"".join(chunks)
        self.write(path, data)
        return len(data)

    def append(self, path: Path, data: bytes) -> None:
        """Add at the end of ``path``: what was durable before stays so."""
        with self._lock:
            (parts,) = self._call("append", path)
            with path.open("ab") as f:
                f.write(data)
            self.written += len(data)
            parent = self._dir(parts[:-1])
            node = parent.entries.get(parts[-1])
            if isinstance(node, _File):
                node.data += data
            else:
                parent.entries[parts[-1]] = _File(data, None, 0)

    def sync(self, path: Path) -> None:
        """The file's contents become durable."""
        with self._lock:
            (parts,) = self._call("sync", path)
            node = self._node(parts)
            if not isinstance(node, _File):
                raise IsADirectoryError(path)
            node.durable, node.kept = node.data, len(node.data)

    def sync_dir(self, directory: Path) -> None:
        """The directory's entries become durable (not its subdirectories' entries)."""
        with self._lock:
            (parts,) = self._call("sync_dir", directory)
            node = self._dir(parts)
            node.durable = dict(node.entries)

    def replace(self, src: Path, dst: Path) -> None:
        """Rename: the entry leaves ``src``'s directory and enters ``dst``'s, both pending."""
        with self._lock:
            source, target = self._call("replace", src, dst)
            src.replace(dst)
            node = self._dir(source[:-1]).entries.pop(source[-1])
            self._dir(target[:-1]).entries[target[-1]] = node

    def remove(self, path: Path) -> None:
        """Remove a file or a whole tree, if present: the removal is pending, bytes kept."""
        with self._lock:
            (parts,) = self._call("remove", path)
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
            if parts:
                with contextlib.suppress(FileNotFoundError):
                    self._dir(parts[:-1]).entries.pop(parts[-1], None)

    def executor(self, workers: int) -> Executor:  # noqa: ARG002 - inline whatever is asked
        """Inline: the k-th call is the same in every run."""
        return _Inline()

    # --- the cut ---------------------------------------------------------------------------------

    def power_off(self) -> None:
        """Cut the power now (every later call raises :class:`PowerCut`)."""
        self.off = True

    def restore(self, tear: str, seed: int | str = 0) -> list[str]:
        """Make the real tree what the cut left; returns the torn files' paths."""
        if tear not in TEARS:
            raise ValueError(f"tear must be one of {TEARS}")
        self.off = True
        rng = random.Random(f"{seed}/{tear}")  # noqa: S311 - reproducible test damage
        want: Tree = {}
        torn: list[str] = []

        def durable(node: _Dir, prefix: str) -> None:
            if prefix.count("/") > MAX_DEPTH:
                raise ValueError(f"durable tree deeper than {MAX_DEPTH} at {prefix}: a cycle")
            for name, child in sorted(node.durable.items()):
                path = f"{prefix}{name}"
                if isinstance(child, _Dir):
                    want[path] = None
                    durable(child, f"{path}/")
                    continue
                want[path] = data = _torn(child, rng, tear)
                if data != child.data:
                    torn.append(path)

        durable(self._tree, "")
        apply(self.root, snapshot(self.root), want)  # read: also drops writes made around it
        self._real, self._restored = want, True
        return torn

    def real(self) -> Tree:
        """What the real tree holds: what the process sees, or what the cut left."""
        return self._real if self._restored else self.seen()

    def seen(self) -> Tree:
        """What the process sees (the real tree, as the model mirrors it, before a cut)."""
        tree: Tree = {}
        stack: list[tuple[str, _Dir]] = [("", self._tree)]
        while stack:  # bounded: each directory once (the process's view is a tree)
            prefix, node = stack.pop()
            for name, child in node.entries.items():
                path = f"{prefix}{name}"
                if isinstance(child, _Dir):
                    tree[path] = None
                    stack.append((f"{path}/", child))
                else:
                    tree[path] = child.data
        return tree


def _torn(node: _File, rng: random.Random, tear: str) -> bytes:
    """What a cut leaves of a file whose directory entry is durable."""
    data = node.data
    if node.durable == data or len(data) <= node.kept:
        return data
    cut = rng.randrange(node.kept, len(data))
    if tear == "truncated":
        return data[:cut]
    old = (node.durable or b"")[cut : len(data)]
    return data[:cut] + old + rng.randbytes(len(data) - cut - len(old))


# --- the harness ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """Calls under test over a prepared data area, and the judge of what a cut leaves.

    ``run(data_dir, disk)`` makes every write through ``disk`` and is deterministic (the
    same calls in every run); it may ``disk.mark(name)`` where an operation has returned
    (acknowledged: its effect must now survive a cut). ``check(data_dir, reached)`` returns
    what is wrong with the restored area (empty: nothing); ``reached`` holds the marks made
    before the cut, and :data:`DONE` when every call had run.
    """

    name: str
    template: Path
    run: Callable[[Path, PowerCutDisk], object]
    check: Callable[[Path, frozenset[str]], list[str]]


@dataclass(frozen=True)
class Failure:
    """One cut whose restored state the judge refused."""

    cut: int
    call: str  # the last call made before the cut
    tear: str
    torn: tuple[str, ...]
    problems: tuple[str, ...]

    def __str__(self) -> str:
        torn = ", ".join(self.torn[:4]) or "none"
        return f"cut after call {self.cut} ({self.call}), {self.tear}, torn: {torn}: " + (
            "; ".join(self.problems)
        )


class _Work:
    """The scenario's working copy of the template, reset by difference between runs."""

    def __init__(self, template: Path, work: Path) -> None:
        self.template = snapshot(template)
        self.path = work
        if work.exists():
            shutil.rmtree(work)
        shutil.copytree(template, work)
        self.holds = self.template

    def run(self, scenario: Scenario, cut_after: int | None) -> PowerCutDisk:
        apply(self.path, self.holds, self.template)
        disk = PowerCutDisk(self.path, cut_after=cut_after, tree=self.template)
        with contextlib.suppress(PowerCut):
            scenario.run(self.path, disk)
        disk.power_off()
        self.holds = disk.real()
        return disk

    def restore(self, disk: PowerCutDisk, tear: str, seed: str) -> list[str]:
        torn = disk.restore(tear, seed)
        self.holds = disk.real()
        return torn


def bypassed(disk: PowerCutDisk) -> list[str]:
    """Paths where the real tree differs from what the model saw: writes that bypassed it."""
    real, seen = snapshot(disk.root), disk.seen()
    return sorted(n for n in real.keys() | seen.keys() if real.get(n, False) != seen.get(n, False))


def calls(scenario: Scenario, work: Path) -> PowerCutDisk:
    """Run the scenario once, uncut: its calls (``ops``) and marks. Raises AssertionError
    when a write bypassed the model (the harness could not cut after it)."""
    disk = _Work(scenario.template, work).run(scenario, None)
    missed = bypassed(disk)
    assert not missed, f"{scenario.name}: written around the Disk seam: {missed[:5]}"
    return disk


def choose_cuts(
    total: int, dense: Iterable[range] = (), *, sample: int | None = None, seed: int = 0
) -> list[int]:
    """Cuts to make: 0 and ``total``, every cut in the ``dense`` ranges, and ``sample``
    others drawn with ``seed`` (None: every cut, 0..total)."""
    if sample is None:
        return list(range(total + 1))
    chosen = {0, total}
    for span in dense:
        chosen.update(k for k in span if 0 <= k <= total)
    others = sorted(set(range(total + 1)) - chosen)
    chosen.update(random.Random(seed).sample(others, min(sample, len(others))))  # noqa: S311
    return sorted(chosen)


def sweep(
    scenario: Scenario, work: Path, cuts: Iterable[int], *, tears: Iterable[str] = TEARS
) -> Iterator[Failure]:
    """Each failure of the scenario cut after each of ``cuts`` calls, for each torn variant."""
    total = len(calls(scenario, work).ops)
    copy = _Work(scenario.template, work)
    for cut in cuts:
        disk = copy.run(scenario, cut)
        last = disk.ops[cut - 1] if 0 < cut <= len(disk.ops) else "none"
        for tear in tears:
            torn = copy.restore(disk, tear, f"{scenario.name}/{cut}")
            reached = frozenset(disk.marks) | ({DONE} if cut >= total else set())
            problems = scenario.check(work, reached)
            if problems:
                yield Failure(cut, last, tear, tuple(torn), tuple(problems))
