"""docs/architecture.md names the code's real layout, and the code has nothing it omits."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "esecure"
PACKAGES = ("esecure", "esecure_onkey")


def _layout_block() -> list[str]:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = text.split("## Package layout", 1)[1]
    block = section.split("```", 2)[1]
    return block.splitlines()


def _named_in_package(package: str = "esecure") -> set[str]:
    lines = _layout_block()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"src/{package}/"))
    names = set()
    for line in lines[start + 1 :]:
        if not line.startswith("  ") or line.startswith("   "):
            if not line.startswith(" "):
                break
            continue
        match = re.match(r"  (\S+)", line)
        if match:
            names.add(match.group(1).rstrip("/"))
    return names


def test_every_named_path_exists():
    """Each module and room the layout names is in src/esecure or src/esecure_onkey."""
    for package in PACKAGES:
        for name in _named_in_package(package):
            path = ROOT / "src" / package / name
            assert path.exists(), f"docs/architecture.md names {package}/{name}, which is missing"


def test_every_module_and_room_is_named():
    """Each top-level module and subpackage of both packages appears in the layout."""
    for package in PACKAGES:
        named = _named_in_package(package)
        actual = {
            p.name
            for p in (ROOT / "src" / package).iterdir()
            if (p.suffix == ".py" and p.name != "__main__.py") or (p / "__init__.py").exists()
        }
        assert actual - named == set(), f"add these to docs/architecture.md's layout ({package})"


def test_top_level_entries_exist():
    """The top-level files and folders of the layout exist in the repository."""
    for line in _layout_block():
        match = re.match(r"(\S+)", line)
        if match and not line.startswith(" "):
            assert (ROOT / match.group(1).rstrip("/")).exists(), match.group(1)
