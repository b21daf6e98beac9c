"""Diagnostics on the key (seed rows E1, E2, E5, E8, E10): ``e-secure --doctor``, the tray's
"diagnostics" and ``esecure doctor IMAGE_OR_DIR`` run the same checks.

Public surface::

    run_diagnostics(subject) -> Diagnosis      every check, in parallel, each bounded
    render_table(diagnosis, lang) -> str       the aligned table (fr/en)
    write_report(diagnosis, data_dir=…) -> Path   the support zip (redacted), its path
    doctor(subject, lang=…) -> int             all three, printed (the two commands)
    Subject.from_choice(choice, product)       the running key, as the bootstrap chose it

Rooms: :mod:`.model` (rows, limits, the subject), :mod:`.network` (probes: I/O),
:mod:`.verdicts` (rows from probes: pure), :mod:`.proxy` and :mod:`.autorun` (pure over
the environment and a :class:`.Registry`), :mod:`.local` (image hash, free space,
versions), :mod:`.runner`, :mod:`.report`, :mod:`.command`.
"""

from esecure.launcher.diagnostics._registry import MapRegistry, Registry
from esecure.launcher.diagnostics.command import doctor, launcher_doctor
from esecure.launcher.diagnostics.model import Diagnosis, Limits, Row, Status, Subject
from esecure.launcher.diagnostics.report import render_table, write_report
from esecure.launcher.diagnostics.runner import run_diagnostics

__all__ = [
    "Diagnosis",
    "Limits",
    "MapRegistry",
    "Registry",
    "Row",
    "Status",
    "Subject",
    "doctor",
    "launcher_doctor",
    "render_table",
    "run_diagnostics",
    "write_report",
]
