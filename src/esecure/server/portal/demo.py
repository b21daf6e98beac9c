"""Demo data: `esecure serve --demo` seeds users, keys, codes and accounts, and every
customer who reaches the client area without accounts gets believable ones.

The demo customers (``demo.alice`` with key ``DEMO-0001``, ``demo.bob`` with ``DEMO-0002``)
are added once; their activation code (for the key's enrolment) and their mail code (for the
portal's first connection) are printed, as the letters the bank would post. Running it
again leaves existing customers alone.
"""

from __future__ import annotations

import datetime as dt
import secrets
import time

from esecure.config import Project
from esecure.server import admin as ops
from esecure.server.portal.codes import CodeHasher
from esecure.server.portal.pepper import load_pepper
from esecure.server.portal.store import Account, Operation, PortalStore
from esecure.server.registry import Registry

__all__ = ["DEMO_USERS", "ensure_accounts", "seed"]

DEMO_USERS = (("demo.alice", "DEMO-0001"), ("demo.bob", "DEMO-0002"))

# (label, kind, amount in cents, day of month) for each of the last three months.
_MONTHLY = (
    ("Salaires / Payroll", "transfer", -1_845_000, 27),
    ("Client invoice F-{n}01", "transfer", 2_310_050, 3),
    ("Client invoice F-{n}02", "transfer", 987_500, 14),
    ("URSSAF", "direct-debit", -412_300, 15),
    ("Electricity EDF", "direct-debit", -38_912, 9),
    ("Card 4971 - Office supplies", "card", -12_480, 11),
    ("Card 4971 - Train tickets", "card", -21_650, 19),
    ("Rent - premises", "direct-debit", -240_000, 5),
)


def _months_back(today: dt.date, count: int) -> list[dt.date]:
    months, year, month = [], today.year, today.month
    for _ in range(count):
        months.append(dt.date(year, month, 1))
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return months


def ensure_accounts(store: PortalStore, identifier: str, today: dt.date) -> None:
    """Give ``identifier`` a current and a savings account with three months of lines,
    unless they already have accounts."""
    if store.accounts(identifier):
        return
    suffix = f"{secrets.randbelow(10**6):06d}"
    current = Account(f"FR76-3000-{suffix}-01", identifier, "Compte courant / Current", 0)
    savings = Account(f"FR76-3000-{suffix}-02", identifier, "Épargne / Savings", 0)
    with store.registry.transaction():
        balance = 4_250_000
        store.add_account(current)
        store.add_account(savings)
        for index, month in enumerate(reversed(_months_back(today, 3))):
            for label, kind, cents, day in _MONTHLY:
                on = month.replace(day=min(day, 28))
                if on > today:
                    continue
                text = label.format(n=f"{month:%y%m}")
                store.add_operation(Operation(current.number, on.isoformat(), kind, text, cents))
                balance += cents
            store.add_operation(
                Operation(
                    savings.number,
                    month.replace(day=1).isoformat(),
                    "deposit",
                    "Interest / Intérêts",
                    1_250 + index * 10,
                )
            )
        store.registry.database.execute(
            "UPDATE portal_accounts SET balance_cents=? WHERE number=?", (balance, current.number)
        )
        store.registry.database.execute(
            "UPDATE portal_accounts SET balance_cents=? WHERE number=?",
            (12_500_000, savings.number),
        )


def seed(registry: Registry, project: Project, *, now: float | None = None) -> list[str]:
    """Add the demo customers (once) and return the lines to print: their letters."""
    now = time.time() if now is None else now
    hasher = CodeHasher(load_pepper(project))
    store = PortalStore(registry)
    lines = []
    for identifier, serial in DEMO_USERS:
        if registry.user(identifier) is not None:
            lines.append(f"{identifier}: already in the registry (codes unchanged)")
            continue
        ops.add_user(registry, identifier, now)
        registry.add_keys(
            [(serial, "DEMO", dt.datetime.fromtimestamp(now, dt.UTC).date().isoformat())]
        )
        ops.assign(registry, serial, identifier)
        activation = ops.issue_code(registry, identifier, now)
        mail = ops.new_mail_code(registry, hasher, identifier, now)
        ensure_accounts(store, identifier, dt.datetime.fromtimestamp(now, dt.UTC).date())
        lines.append(
            f"{identifier}: key {serial}, activation code {activation.code}, mail code {mail.code}"
        )
    return lines
