"""The data partition's budget, pure and table-driven: components from paths, the rule's
terms, the minimum in whole MiB."""

from __future__ import annotations

import pytest

from esecure.bundle import fat32
from esecure.bundle.budget import (
    ComponentSize,
    component_of,
    component_sizes,
    plan_budget,
)

MIB = 1024 * 1024
KIB4 = 4096


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("app/product.json", ("app", "product.json")),
        ("app/esecure/launcher/app.py", ("app", "esecure/launcher/app.py")),
        ("product.json", None),
        ("release.json", None),
        ("components/ab/list", None),
        ("lib/linux/cryptography/hazmat/_rust.so", ("deps-linux", "cryptography/hazmat/_rust.so")),
        ("lib/windows/six.py", ("deps-windows", "six.py")),
        ("firefox/linux/libxul.so", ("firefox-linux", "libxul.so")),
        (
            "firefox/windows/distribution/policies.json",
            ("firefox-windows", "distribution/policies.json"),
        ),
        ("profile/user.js", ("profile", "user.js")),
        ("trust/root.json", ("trust", "root.json")),
        # what no update carries: the bootstrap and the CD-ROM's own files
        ("e-secure", None),
        ("e-secure.exe", None),
        ("runtime-linux/libpython3.11.so", None),
        ("autorun.inf", None),
        ("branding/logo.png", None),
        ("guide/index.html", None),
        ("MANIFEST.json", None),
        ("MANIFEST.json.sig", None),
    ],
)
def test_each_path_of_an_application_root_has_its_component(path, expected):
    """lib/<p>/esecure and product.json are app, the rest of lib/<p> deps-<p>, etc."""
    assert component_of(path) == expected


def test_files_round_up_to_clusters_and_each_folder_costs_one():
    """1 byte and 4,096 bytes cost a cluster, 4,097 two, an empty file none; folders
    (the component's own, a, a/b) one each."""
    sizes = component_sizes(
        [
            ("firefox/linux/one", 1),
            ("firefox/linux/a/full", 4096),
            ("firefox/linux/a/b/over", 4097),
            ("firefox/linux/a/b/empty", 0),
        ]
    )
    assert sizes == {
        "firefox-linux": ComponentSize(
            "firefox-linux", files=4, folders=3, size=8194, on_disk=(1 + 1 + 2 + 0 + 3) * KIB4
        )
    }


def test_app_is_one_component_for_every_platform():
    """app/ (esecure and product.json) is one component; each platform has its deps."""
    sizes = component_sizes(
        [
            ("app/esecure/a.py", 5000),
            ("app/product.json", 10),
            ("lib/linux/six.py", 1),
            ("lib/windows/six.py", 1),
        ]
    )
    assert sizes["app"] == ComponentSize("app", 2, 2, 5010, (2 + 1) * KIB4 + 2 * KIB4)
    assert (sizes["deps-linux"].files, sizes["deps-windows"].files) == (1, 1)


def _c(name: str, mib: int, size_mib: float | None = None) -> ComponentSize:
    size = int((size_mib if size_mib is not None else mib) * MIB)
    return ComponentSize(name, 1, 1, size, mib * MIB)


SMALL = {n: _c(n, 1) for n in ("app", "deps-linux", "firefox-linux", "profile", "trust")}
LINUX = {
    "app": _c("app", 10),
    "deps-linux": _c("deps-linux", 40),
    "firefox-linux": _c("firefox-linux", 200, 199),
    "profile": _c("profile", 1),
    "trust": _c("trust", 1),
}
BOTH = {
    **LINUX,
    "deps-windows": _c("deps-windows", 60),
    "firefox-windows": _c("firefox-windows", 250, 240),
}
ALLOWANCES = 97  # profile 64 + logs 16 + reports 8 + pki 1 + TUF metadata 8

# (case, components, platforms, in force, largest, staging, download, minimum) in MiB
CASES = [
    # 5 + 1 + 1 + 97 = 104 MiB, +10 % = 114.4: below the smallest FAT32 volume, raised to it
    ("tiny-raised-to-fat32", SMALL, ["linux"], 5, "trust", 1, 1, 257),
    # 252 + 200 + 199 + 97 = 748, +10 % = 822.8, FATs and alignment 2 MiB -> 825
    ("linux", LINUX, ["linux"], 252, "firefox-linux", 200, 199, 825),
    # 562 + 250 + 240 + 97 = 1149, +10 % = 1263.9, FATs and alignment 3 MiB -> 1267
    ("linux-and-windows", BOTH, ["windows", "linux"], 562, "firefox-windows", 250, 240, 1267),
    # the Windows components of BOTH are not in a Linux plan: they cost nothing
    ("plan-only", BOTH, ["linux"], 252, "firefox-linux", 200, 199, 825),
    # what check sizes before a build: lib/ absent (app, deps-linux) costs nothing
    (
        "check-lower-bound",
        {k: LINUX[k] for k in ("firefox-linux", "profile", "trust")},
        ["linux"],
        202,
        "firefox-linux",
        200,
        199,
        770,
    ),
]


@pytest.mark.parametrize(
    ("components", "platforms", "expected"),
    [(c[1], c[2], c[3:]) for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_budget_rule(components, platforms, expected):
    """In force + staging + download + allowances, +10 %, FAT32 overhead, whole MiB, never
    below 257 MiB; the terms add up to the minimum, which is the smallest that fits."""
    in_force, largest, staging, download, minimum = expected
    budget = plan_budget(components, platforms)
    terms = {t.label: t.size for t in budget.terms}
    labels = list(terms)
    assert terms[labels[0]] == in_force * MIB
    assert budget.largest == largest
    assert (terms[labels[1]], terms[labels[2]]) == (staging * MIB, download * MIB)
    assert sum(terms[label] for label in labels[3:8]) == ALLOWANCES * MIB
    subtotal = (in_force + staging + download + ALLOWANCES) * MIB
    assert terms["margin 10 %"] == -(-subtotal // 10)
    assert budget.minimum_mib == minimum
    assert sum(terms.values()) == minimum * MIB
    data = subtotal + terms["margin 10 %"]
    assert fat32.layout(minimum).data_bytes >= data
    assert minimum == 257 or fat32.layout(minimum - 1).data_bytes < data


def test_budget_prints_the_rule_and_one_line_per_term():
    """The printed budget: the rule's five steps, each term with its size, the minimum."""
    assert plan_budget(LINUX, ["linux"]).lines() == [
        "data partition budget, by this rule:",
        "  1. every file rounded up to the 4 KiB cluster, plus one cluster per folder",
        "  2. in force: every component of every platform replaced once in the store",
        "  3. plus a new version of the largest component being written, and its download",
        "  4. plus fixed allowances: profile 64, logs 16, reports 8, pki 1, TUF metadata 8 MiB",
        "  5. plus 10 %, then FAT32 (2 FATs, reserved sectors, data on 1 MiB), in whole MiB",
        "  in force: every component of linux replaced once               252.0 MiB",
        "    app (1 file, 1 folder)                                        10.0 MiB",
        "    deps-linux (1 file, 1 folder)                                 40.0 MiB",
        "    firefox-linux (1 file, 1 folder)                             200.0 MiB",
        "    profile (1 file, 1 folder)                                     1.0 MiB",
        "    trust (1 file, 1 folder)                                       1.0 MiB",
        "  staging: a new firefox-linux being written                     200.0 MiB",
        "  download of that firefox-linux (at most its size)              199.0 MiB",
        "  live Firefox profile (profile/)                                 64.0 MiB",
        "  logs (logs/)                                                    16.0 MiB",
        "  support reports (reports/)                                       8.0 MiB",
        "  key and certificate (pki/)                                       1.0 MiB",
        "  TUF metadata + release records (updates/)                        8.0 MiB",
        "  margin 10 %                                                     74.8 MiB",
        "  FAT32: 2 FATs, reserved sectors, data on 1 MiB, whole MiB        2.2 MiB",
        "  minimum                                                          825 MiB",
    ]


def test_the_report_records_every_term_and_component():
    """as_dict (build-report.json): rule, platforms, components, terms in bytes, minimum."""
    doc = plan_budget(LINUX, ["linux"]).as_dict()
    assert doc["minimum_mib"] == 825
    assert doc["platforms"] == ["linux"]
    assert doc["largest"] == "firefox-linux"
    assert doc["components"]["deps-linux"] == {
        "files": 1,
        "folders": 1,
        "size": 40 * MIB,
        "on_disk": 40 * MIB,
    }
    assert sum(t["bytes"] for t in doc["terms"]) == 825 * MIB
    assert len(doc["rule"]) == 5
