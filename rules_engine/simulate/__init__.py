"""`loyalty simulate` and `loyalty generate`: what a program costs on a purchase history.

The package reads as the pipeline: `tables` (transaction tables to events, read a piece at a
time by `chunks`, in memory bounded by a chunk and a partition) and `generate` (synthetic
histories, whose customers present the coupons they hold), `batches` (a history cut into batches
of whole customers), `kernel` (one batch through one or two program versions), `crossing` (what
crosses customers, settled between passes), `tally` (mergeable figures), `simulation` (the
process pool and the passes), `report` (the report dict), `gates` (`--fail-if`), `html` (the
report as one page, `--html`).
docs/simulate.md is the user's tour.
"""

from __future__ import annotations

from rules_engine.simulate.report import build_report
from rules_engine.simulate.simulation import Simulation, simulate

__all__ = ["Simulation", "build_report", "simulate"]
