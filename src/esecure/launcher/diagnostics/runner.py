"""Running every check at once, each bounded: one thread per server and per local check.

Threads are daemons and every wait has a deadline, so a resolver that never answers or a
key that reads slowly costs a row saying so, never a hung window. The rows come out in a
fixed order whatever finished first: proxy, per server lookup / connection / TLS, clock,
free space, key contents, autorun.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from esecure.errors import Text
from esecure.launcher.diagnostics._registry import Registry, host_registry
from esecure.launcher.diagnostics.autorun import autorun_row
from esecure.launcher.diagnostics.local import identity, image_rows, space_row, versions
from esecure.launcher.diagnostics.model import Diagnosis, Endpoint, Limits, Row, Subject, endpoints
from esecure.launcher.diagnostics.network import Lookup, Probe, probe
from esecure.launcher.diagnostics.proxy import ProxySettings, proxy_row, settings_for
from esecure.launcher.diagnostics.verdicts import clock_row, connect_row, lookup_row, tls_row

__all__ = ["run_diagnostics"]


@dataclass
class _Job:
    """One check running in its own daemon thread."""

    name: str
    work: Callable[[], Any]
    deadline: float  # seconds after the start
    result: list[Any] = field(default_factory=list)
    error: list[BaseException] = field(default_factory=list)
    finished: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        def run() -> None:
            try:
                self.result.append(self.work())
            except Exception as exc:  # noqa: BLE001 - a check's bug becomes its row, not a crash
                self.error.append(exc)
            finally:
                self.finished.set()

        threading.Thread(target=run, name=f"diagnostics {self.name}", daemon=True).start()


def _wait(jobs: list[_Job], start: float) -> None:
    """Wait for each job until its deadline."""
    for job in sorted(jobs, key=lambda j: j.deadline):
        job.finished.wait(max(0.0, job.deadline - (time.monotonic() - start)))


def _groups(found: list[Endpoint]) -> dict[tuple[str, int], list[Endpoint]]:
    groups: dict[tuple[str, int], list[Endpoint]] = {}
    for endpoint in found:
        groups.setdefault((endpoint.host, endpoint.port), []).append(endpoint)
    return groups


def _unfinished(job: _Job, title: Text) -> Row:
    if job.error:
        err = job.error[0]
        return Row(job.name, title, "fail", f"the check failed: {type(err).__name__}: {err}")
    return Row(job.name, title, "fail", f"no result within {job.deadline:g} s")


def _probe_jobs(
    groups: dict[tuple[str, int], list[Endpoint]],
    subject: Subject,
    proxies: ProxySettings,
    limits: Limits,
) -> dict[tuple[str, int], _Job]:
    jobs: dict[tuple[str, int], _Job] = {}
    for key, members in groups.items():
        work = functools.partial(
            probe,
            key[0],
            key[1],
            members[0].path,
            proxy=proxies.proxy,
            ca_file=subject.ca_file,
            limits=limits,
            system=any(e.role != "enrolment" for e in members),
        )
        jobs[key] = _Job(f"dns:{'+'.join(e.role for e in members)}", work, limits.network_deadline)
    return jobs


def _network_rows(
    found: list[Endpoint],
    groups: dict[tuple[str, int], list[Endpoint]],
    jobs: dict[tuple[str, int], _Job],
    limits: Limits,
) -> list[Row]:
    """Lookup and connection rows per server, TLS rows per role, then the clock."""
    done: dict[tuple[str, int], Probe] = {}
    for key, job in jobs.items():
        if job.result:
            done[key] = job.result[0]
        else:  # never answered: its lookup row says so, the rest is skipped
            why = f"the check failed: {job.error[0]}" if job.error else "no answer in time"
            why = f"{why} (the checks of this server did not finish within {job.deadline:g} s)"
            lookup = Lookup(key[0], (), why, literal=False, seconds=0)
            done[key] = Probe(key[0], key[1], None, lookup)
    roles = {key: [e.role for e in members] for key, members in groups.items()}
    rows = [lookup_row(done[key], roles[key]) for key in groups]
    rows.extend(connect_row(done[key], roles[key]) for key in groups)
    rows.extend(tls_row(done[(e.host, e.port)], e) for e in found)
    by_role = {e.role: done[(e.host, e.port)] for e in found}
    order = [r for r in ("enrolment", "portal", "updates") if r in by_role]
    rows.append(clock_row([(r, by_role[r]) for r in order], limits))
    return rows


_OFFLINE = Row(
    "network",
    Text(en="Network checks", fr="Vérifications réseau"),
    "skip",
    "not run (offline)",
)


def run_diagnostics(
    subject: Subject,
    *,
    limits: Limits = Limits(),  # noqa: B008 - frozen, shared default
    environ: Mapping[str, str] | None = None,
    registry: Registry | None = None,
    offline: bool = False,
) -> Diagnosis:
    """Every check on ``subject`` (``offline``: none of the network ones); ``environ`` and
    ``registry`` default to this computer's (tests pass their own: the Windows registry
    is read only on Windows)."""
    started = dt.datetime.now(dt.UTC)
    start = time.monotonic()
    env = os.environ if environ is None else environ
    reg = registry if registry is not None else host_registry()
    proxies = settings_for(subject.product, env, reg)
    found = endpoints(subject.product)
    groups = _groups(found)
    probes = {} if offline else _probe_jobs(groups, subject, proxies, limits)
    space = _Job("space", lambda: space_row(subject.data_dir, limits), limits.network_deadline)
    image = _Job("image", lambda: image_rows(subject), limits.image_deadline)
    jobs = [*probes.values(), space, image]
    for job in jobs:
        job.start()
    _wait(jobs, start)

    rows: list[Row] = [proxy_row(proxies)]
    rows.extend([_OFFLINE] if offline else _network_rows(found, groups, probes, limits))
    rows.append(
        space.result[0] if space.result else _unfinished(space, Text("Free space", "Espace libre"))
    )
    if image.result:
        rows.extend(image.result[0])
    else:
        rows.append(_unfinished(image, Text("Key contents", "Contenu de la clé")))
    rows.append(autorun_row(reg, subject.platform))
    return Diagnosis(
        rows=tuple(rows),
        versions=versions(subject),
        identity=identity(subject),
        started=started,
        seconds=time.monotonic() - start,
    )
