"""A stand-in for esecure._tools.SubprocessRunner: records every call, answers as scripted."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from esecure._tools import Result, Tool, missing
from esecure.errors import ToolError


@dataclass(frozen=True)
class Call:
    """One program the code under test asked to run."""

    tool: str
    args: tuple[str, ...]
    needed_by: str
    code: str
    timeout: float
    env: Mapping[str, str] | None
    cwd: Path | None
    check: bool


@dataclass
class FakeRunner:
    """Tools in ``absent`` are missing (ES919, as the real runner words it); every other run
    streams ``stderr_lines`` to ``on_line`` and returns ``answer(tool, args)``."""

    absent: frozenset[str] = frozenset()
    answer: Callable[[str, tuple[str, ...]], Result] = lambda _tool, _args: Result(0)
    stderr_lines: Sequence[str] = ()
    calls: list[Call] = field(default_factory=list)
    found: list[str] = field(default_factory=list)

    def find(self, tool: Tool, *, needed_by: str) -> tuple[str, ...]:
        if tool.name in self.absent:
            raise missing(tool, needed_by)
        self.found.append(tool.name)
        return (f"/fake/bin/{tool.name}",)

    def run(
        self,
        tool: Tool,
        args: Sequence[str],
        *,
        needed_by: str,
        code: str,
        timeout: float,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        on_line: Callable[[str], None] | None = None,
        check: bool = True,
    ) -> Result:
        self.find(tool, needed_by=needed_by)
        self.calls.append(Call(tool.name, tuple(args), needed_by, code, timeout, env, cwd, check))
        for line in self.stderr_lines:
            if on_line is not None:
                on_line(line)
        result = self.answer(tool.name, tuple(args))
        if check and result.returncode != 0:
            raise ToolError(
                f"{tool.name} failed (exit {result.returncode}): {result.tail()}", code=code
            )
        return result
