"""The models the engine makes most often, from values already valid (`unvalidated` says how and
why): the outcome's points changes here; the state's records (lot and ledger lines, counted and
past lines, lots, ledger entries) in state/records.py, the generic makers (`trusted`, `replaced`,
`can_trust`) in rules_engine/unvalidated.py, the trace entries (`Verdict`, `verdict`,
`rule_trace`, `Text`) in `verdicts`; all re-exported here, where the engine has always imported
them from. (The state's records live with the state, which the engine builds on and which never
imports the engine.)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal

from rules_engine.engine.outcome import PointsChange
from rules_engine.engine.verdicts import (
    FIRED_GIVEN,
    Text,
    Verdict,
    fired_verdict,
    rule_trace,
    simple_verdict,
    verdict,
)
from rules_engine.state.records import (
    award_records,
    awards_records,
    counted_line,
    counted_lines,
    counted_lines_shared,
    earn_entry,
    earned_lots,
    expiry_entries,
    ledger_entry,
    past_line,
    past_lines,
    points_lot,
)
from rules_engine.unvalidated import (
    _new,
    _spelt_out,
    can_trust,
    replaced,
    trusted,
    twin,
)

__all__ = [
    "FIRED_GIVEN",
    "Text",
    "Verdict",
    "award_records",
    "awards_records",
    "can_trust",
    "counted_line",
    "counted_lines",
    "counted_lines_shared",
    "earn_entry",
    "earned_lots",
    "expiry_entries",
    "fired_verdict",
    "ledger_entry",
    "past_line",
    "past_lines",
    "points_change",
    "points_changes",
    "points_lot",
    "replaced",
    "rule_trace",
    "simple_verdict",
    "trusted",
    "verdict",
]

_POINTS_CHANGE = ("kind", "lot", "points", "at")
_POINTS_CHANGE_FAST = _spelt_out(PointsChange, *_POINTS_CHANGE)
_POINTS_CHANGE_GIVEN = set(_POINTS_CHANGE)
_POINTS_CHANGE_SLOTS = twin(PointsChange)


def points_change(kind: str, lot: str, points: Decimal, at: dt.datetime) -> PointsChange:
    """`PointsChange(kind=…, lot=…, points=…, at=…)`: made for every lot that becomes available or
    expires, which a long history does a dozen times at most events."""
    if not _POINTS_CHANGE_FAST:
        return PointsChange(kind=kind, lot=lot, points=points, at=at)
    model = _new(_POINTS_CHANGE_SLOTS)
    model.__dict__ = {"kind": kind, "lot": lot, "points": points, "at": at}
    model.__pydantic_fields_set__ = _POINTS_CHANGE_GIVEN
    model.__pydantic_extra__ = None
    model.__pydantic_private__ = None
    model.__class__ = PointsChange
    return model


def points_changes(changes: Iterable[tuple[str, str, Decimal, dt.datetime]]) -> list[PointsChange]:
    """`[points_change(*change) for change in changes]` in one loop, the makers bound once: an
    event of a long history makes twenty or more (what expired, what became available)."""
    if not _POINTS_CHANGE_FAST:
        return [points_change(*change) for change in changes]
    made: list[PointsChange] = []
    given = _POINTS_CHANGE_GIVEN
    for kind, lot, points, at in changes:
        model = _new(_POINTS_CHANGE_SLOTS)
        model.__dict__ = {"kind": kind, "lot": lot, "points": points, "at": at}
        model.__pydantic_fields_set__ = given
        model.__pydantic_extra__ = None
        model.__pydantic_private__ = None
        model.__class__ = PointsChange
        made.append(model)
    return made
