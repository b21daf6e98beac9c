"""docs/firefox-policies.md's table lists exactly the policies the image sets."""

from __future__ import annotations

import re
from pathlib import Path

from esecure.bundle.firefox import BrowserSettings, policies

DOC = Path(__file__).resolve().parents[1] / "docs" / "firefox-policies.md"


def _table() -> list[str]:
    section = DOC.read_text(encoding="utf-8").split("## The policies", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([A-Za-z0-9]+)` \|", section, flags=re.MULTILINE)


def test_the_table_lists_every_policy_once():
    """One row per policy of a customer's image, none missing, none extra."""
    names = _table()
    assert len(names) == len(set(names)), "a policy has two rows"
    customer = policies(BrowserSettings(site="https://bank.example/"))
    assert set(names) == set(customer)


def test_automation_images_differ_only_by_the_developer_tools():
    """A test image leaves out DisableDeveloperTools alone (the row says so)."""
    customer = policies(BrowserSettings(site="https://bank.example/"))
    automation = policies(BrowserSettings(site="https://bank.example/", automation=True))
    assert set(customer) - set(automation) == {"DisableDeveloperTools"}
    assert set(automation) <= set(customer)
