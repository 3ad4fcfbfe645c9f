"""Points over time and spent: time passing before an event, and redemptions.

`time_passes` applies what time does up to a moment (pending points becoming available, expiry)
before an event is decided, and for `Engine.advance`; `redeem` spends points on a catalog item
and gives its reward (engine/lifecycle.py has the lots' rules).

Input: a state and a moment, or a `Run` of a redemption. Output: the new state and its changes.
"""

from __future__ import annotations

import datetime as dt
import difflib

from rules_engine.engine import lifecycle
from rules_engine.engine.events import Redeem
from rules_engine.engine.outcome import CouponIssued, DrawEntry, PointsChange
from rules_engine.engine.rewards import coupon_code, give
from rules_engine.engine.run import Run
from rules_engine.engine.trusted import replaced, rule_trace, trusted
from rules_engine.errors import Diagnostic, EventError
from rules_engine.program.model import Program, Reward
from rules_engine.state.customer import CustomerState


def time_passes(
    program: Program, state: CustomerState, moment: dt.datetime, cause: str
) -> tuple[CustomerState, list[PointsChange]]:
    """What time did to the points up to `moment` (pending lots becoming available, expiry), as
    the state after it and each change; `cause` names the ledger entries of expiry."""
    state = lifecycle.in_order(state)
    changes, pending = lifecycle.ripen(state, moment)
    state, expired = lifecycle.expire(state, moment, event=cause, version=program.version)
    state = replaced(state, {"pending_lots": pending})
    ordered = sorted([*changes, *expired], key=lambda c: (lifecycle.instant(c.at), c.kind, c.lot))
    given = {"kind", "lot", "points", "at"}
    return state, [
        trusted(PointsChange, {"kind": c.kind, "lot": c.lot, "points": c.points, "at": c.at}, given)
        for c in ordered
    ]


def redeem(run: Run, event: Redeem) -> None:
    """Spend points on a catalog item: burn the oldest available lots, give the item's reward.

    Not enough available points refuses the event (RE430) and changes nothing.
    """
    catalog = {item.id: item for item in run.program.catalog}
    item = catalog.get(event.item)
    if item is None:
        close = difflib.get_close_matches(event.item, list(catalog), n=1)
        hint = (
            f"did you mean `{close[0]}`?" if close else f"the catalog has: {', '.join(catalog) or 'nothing'}"
        )
        raise EventError(
            [Diagnostic("RE431", f"item: no catalog item `{event.item}`", hint=hint, path=("item",))]
        )
    rule = f"catalog:{item.id}"
    version = run.program.version
    run.state, burned = lifecycle.burn(
        run.state, item.cost, event.time, event=event.id, rule=rule, version=version
    )
    run.points_changes += [PointsChange(kind="burn", lot=c.lot, points=c.points, at=c.at) for c in burned]
    gives = [f"spent {item.cost} points"]
    reward = item.reward
    if reward is not None and reward.badge is not None:
        gives += give(run, Reward(badge=reward.badge), rule)
    if reward is not None and reward.coupon is not None:
        definition = run.plan.coupons[reward.coupon]
        code = coupon_code(run.program.program, event.customer, event.id, definition.id, run.secret)
        run.coupons_issued.append(
            CouponIssued(
                rule=rule, coupon=definition.id, code=code, expires_at=event.time + definition.valid_for
            )
        )
        gives.append(f"coupon {definition.id} ({code})")
    if reward is not None and reward.entries is not None:
        run.draw_entries.append(DrawEntry(rule=rule, draw=reward.entries.draw, count=reward.entries.count))
        gives.append(f"{reward.entries.count} entries in {reward.entries.draw}")
    run.trace.append(
        rule_trace(rule, "catalog", True, "fired", ", ".join(gives), amount=item.cost, unit="points")
    )
