"""The whole step's result: what a step decided, as ints and tuples, made the engine's `Result` when read.

A step records what it decided — the basket's lines, each discount's cuts, the earning base, the
awards as `(rule, points, weights, kind)`, the trace as constant `Verdict`s or short tuples, the
badges, the tier change, the lots time moved — and nothing else. `result()` makes the engine's
`Result` (engine/result.py) from them, once: the decimals, the per-line shares (largest remainder,
as `money` splits them), the trace's `Verdict`s with their words, the ledger entries, the points
changes, the tier progress, and the state (`WholeState.public()`, so read it before the state's
next step). `points` and `by_rule()` read the ints without making anything.

Input: a step's record. Output: `result()`, a `Result` equal to `Engine.process`'s.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from decimal import Decimal
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from rules_engine.engine.code_writer import whole
from rules_engine.engine.later import later_result
from rules_engine.engine.mechanics.challenges import added_words, capped_words, hint_words, reached_words
from rules_engine.engine.mechanics.tiers_windows import progress_of
from rules_engine.engine.mechanics.tiers_working import reaching
from rules_engine.engine.outcome import BadgeAwarded, Notification, TierChange, Totals
from rules_engine.engine.result import Award, Discount, Result, RuleTraces, award_of, discount_of
from rules_engine.engine.step import StateMovedOnError, lot_time
from rules_engine.engine.trusted import awards_records, earn_entry, expiry_entries, points_changes, trusted
from rules_engine.engine.verdicts import simple_verdict, verdict
from rules_engine.engine.whole.generate import Excluded, _split
from rules_engine.state.compact import (
    LOT_AVAILABLE,
    LOT_EARNED,
    LOT_EVENT,
    LOT_EXPIRES,
    LOT_POINTS,
    LOT_RULE,
    LazyLines,
    money_of,
)
from rules_engine.state.customer import CustomerState

if TYPE_CHECKING:
    from rules_engine.engine.whole.state import WholeState
    from rules_engine.engine.whole.step import WholeStep

_TOTALS_GIVEN = set(Totals.model_fields)
_SET_NOTIFICATIONS = Result.__dict__["notifications"].__set__  # a `LaterResult`'s slot, set as `settled` does
_AT_KIND_LOT = itemgetter(0, 1, 2)
_GIVEN = itemgetter(1)  # an award's points: (rule, points, weights, kind)
_SKU = itemgetter(0)  # a line's SKU: (sku, category, price, qty, model)


def _money(units: int, decimals: int) -> Decimal:
    return Decimal(units).scaleb(-decimals)


_ZERO = Decimal(0)


class LaterShares(Sequence[tuple[int, str, Decimal]]):
    """An award's per-line shares, split when first read (a lot's lines, the result's award)."""

    __slots__ = ("_index", "_made", "_split")

    def __init__(self, split: Split, index: int) -> None:
        self._split = split
        self._index = index
        self._made: tuple[tuple[int, str, Decimal], ...] | None = None

    def made(self) -> tuple[tuple[int, str, Decimal], ...]:
        if self._made is None:
            self._made = self._split.shares(self._index)
            self._split = None  # type: ignore[assignment]  # what it held may go
        return self._made

    def __getitem__(self, index: Any) -> Any:
        return self.made()[index]

    def __len__(self) -> int:
        return len(self.made())

    def __iter__(self) -> Iterator[tuple[int, str, Decimal]]:
        return iter(self.made())

    def __eq__(self, other: object) -> bool:
        """Equal to the same shares as a tuple (what an award's `lines` is) or a sequence."""
        if isinstance(other, Sequence):
            return self.made() == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.made())


class Split:
    """What a step's awards are split over the lines by (`shares`): the awards, the lines' skus,
    the earning base per line and its sum, the rules' awards before the multipliers and the
    rate's denominator — ints and lists of them, none of the event's models."""

    __slots__ = ("awards", "base", "base_sum", "denominator", "rules", "skus")

    def __init__(
        self,
        awards: list[Any],
        skus: list[str],
        base: list[int],
        base_sum: int,
        rules: list[Any],
        denominator: int,
    ) -> None:
        self.awards = awards
        self.skus = skus
        self.base = base
        self.base_sum = base_sum
        self.rules = rules
        self.denominator = denominator

    def shares(self, index: int) -> tuple[tuple[int, str, Decimal], ...]:
        _, points, weights, kind = self.awards[index]
        if kind == 4:
            return ()
        if kind == 3:
            weights = self._exact_weights()
        if not any(weights):
            return ()
        parts = _split(points, weights)
        skus = self.skus
        return tuple([(i, skus[i], whole(p)) for i, p in enumerate(parts) if p])

    def _exact_weights(self) -> list[int]:
        """Each line's exact points from the rules before the multipliers, over one denominator
        (× the rate's denominator × the base): what a multiplier's bonus is split by. A basket
        whose earning base is 0 (every line free) gives each line's rate and per-event points as
        0 at any scale, and its per-item points (`for_each_item`) their own: scaled by 1, not 0."""
        base, awards = self.base, self.rules
        base_sum = self.base_sum or 1
        den = self.denominator
        rated = any(kind == 0 for _, _, _, kind in awards)
        weights = [0] * len(base) if rated else [b * base_sum for b in base]
        for _, given, rule_weights, kind in awards:
            if kind == 0:
                parts = [b * base_sum for b in base]
            elif kind == 1:
                parts = [p * den * base_sum for p in _split(given, rule_weights)]
            elif kind == 2:
                parts = [given * den * b for b in base]
            else:
                continue
            weights = [w + p for w, p in zip(weights, parts, strict=True)]
        return weights


class WholeResult:
    """A step's record (module docstring)."""

    __slots__ = (
        "_shares",
        "_splits",
        "after",
        "available_at",
        "awards",
        "changed",
        "ended",
        "event",
        "given",
        "gone",
        "lines",
        "made",
        "moves",
        "notifications",
        "quantities",
        "state",
        "step",
        "working",
    )

    def __init__(
        self,
        step: WholeStep,
        event: Any,
        state: WholeState,
        lines: list[Any],
        made: tuple[Any, ...],
        awards: list[Any],
        given: list[tuple[str, str]],
        changed: Any,
        ended: list[Any],
        gone: list[Any],
        quantities: list[Decimal],
    ) -> None:
        self.step = step
        self.event = event
        self.state = state
        self.lines = lines
        self.made = made
        self.awards = awards
        self.given = given
        self.changed = changed
        self.ended = ended
        self.gone = gone
        self.quantities = quantities
        self.working: Any = None  # the `Working` that holds `state`, and its `moves` after the step
        self.moves = 0
        self._shares: list[LaterShares | None] | None = None
        self._splits: Split | None = None
        self.notifications: tuple[Notification, ...] = ()  # the messages sent (whole/reminder.py)
        self.after = (state.tier, state.sums[1] if state.sums is not None else 0)  # the tier progress's
        pending = step.pending
        self.available_at = event.time + pending if pending else None

    @property
    def points(self) -> int:
        return sum(map(_GIVEN, self.awards))

    def by_rule(self) -> dict[str, int]:
        return {award[0]: award[1] for award in self.awards}

    def later_lines(self, index: int) -> Any:
        """The lot's lines of award `index`: made with the lot's model, from the shares split then
        (`Split`, not a `LaterShares`: one object a lot, not two, for the collector to walk; the
        result's award splits its own when read)."""
        if self.awards[index][2] is None and self.awards[index][3] == 4:
            return []
        return LazyLines(self._split(), self.quantities, index)

    def later_shares(self, index: int) -> LaterShares:
        """Award `index`'s shares, split when first read: one for the lot and the result's award."""
        made = self._shares
        if made is None:
            made = self._shares = [None] * len(self.awards)
        shares = made[index]
        if shares is None:
            shares = made[index] = LaterShares(self._split(), index)
        return shares

    # -- the shares ---------------------------------------------------------------------------------
    def shares(self, index: int) -> tuple[tuple[int, str, Decimal], ...]:
        return self._split().shares(index)

    def _split(self) -> Split:
        """What the awards' shares are split from, kept apart from the result: a lot holds its
        shares until its model is made (often never), and holding the result would keep the
        event, its lines and everything the step decided alive with it (and for the collector
        to walk: bench/README.md)."""
        made = self._splits
        if made is None:
            _, base, base_sum, _, rules, _, _, _, _, _, _ = self.made
            skus = list(map(_SKU, self.lines))
            made = self._splits = Split(self.awards, skus, base, base_sum, rules, self.step.denominator)
        return made

    # -- the engine's Result, each field made when read ----------------------------------------------
    def result(self) -> Result:
        """The engine's `Result` of this step: a `LaterResult` (engine/result.py) whose fields are
        made by the `make_*` methods below when first read, once, each given the result it fills
        (what `make_ledger` and `make_trace` read of it). The record does not keep its result:
        the result holds the record, and the record holding it back would make every purchase a
        reference cycle, garbage only the collector's passes free (~40 objects a purchase)."""
        program = self.step.engine.program
        event = self.event
        made = later_result(program.program, program.version, event.id, event.customer, self)
        if self.notifications:  # a field set at once: made already (the reminder's, once per program)
            _SET_NOTIFICATIONS(made, self.notifications)
        return made

    def points_given(self) -> Decimal:
        """The points of the awards (`totals.points`), from the ints."""
        return whole(self.points)

    def ledger_points(self) -> list[tuple[str, Decimal]]:
        """The ledger's (kind, points), in order, without its entries: expiry's, then the awards'."""
        made = [("expire", -Decimal(lot[LOT_POINTS])) for lot in self.gone]
        return [*made, *[("earn", whole(award[1])) for award in self.awards]]

    def make_awards(self, result: Result) -> tuple[Award, ...]:
        available_at = self.available_at
        return tuple(
            award_of(rule, whole(points), self.later_shares(i), available_at)
            for i, (rule, points, _, _) in enumerate(self.awards)
        )

    def make_discounts(self, result: Result) -> tuple[Discount, ...]:
        decimals = self.step.decimals
        lines = self.lines
        return tuple(
            discount_of(
                rule,
                _money(sum(cut), decimals),
                tuple([(i, lines[i][0], _money(c, decimals)) for i, c in enumerate(cut) if c]),
            )
            for rule, cut in self.made[3]
        )

    def make_totals(self, result: Result) -> Totals:
        return self._totals()

    def make_state(self, result: Result) -> CustomerState:
        """The state after the step (`WholeState.public()`): read before the working state moves
        on (engine/step.py `StateMovedOnError`)."""
        working = self.working
        if working is not None and working.moves != self.moves:
            raise StateMovedOnError(
                "result.state of a step read after its working state moved on (a later step, a load "
                "or a change): read it before the next step, or keep working.public() (engine/step.py)"
            )
        return self.state.public()

    def make_ledger(self, result: Result) -> tuple[Any, ...]:
        return self._ledger(result.awards)

    def make_trace(self, result: Result) -> RuleTraces:
        verdicts = [self._verdict(entry) for entry in self.made[6]]
        if self.changed is not None:
            change = result.tier_changes[0]
            level = self.changed[1]
            verdicts.append(simple_verdict(f"tier:{level.id}", "tier", True, "fired", change.reason))
        return RuleTraces(verdicts)

    def make_tier_progress(self, result: Result) -> Any:
        return self._progress()

    def make_badges(self, result: Result) -> tuple[BadgeAwarded, ...]:
        return tuple([BadgeAwarded(rule=rule, badge=badge) for rule, badge in self.given])

    def make_tier_changes(self, result: Result) -> tuple[TierChange, ...]:
        if self.changed is None:
            return ()
        tiers = self.step.engine.program.tiers
        assert tiers is not None
        old, level, metric = self.changed
        return (reaching(tiers, _money(metric, self.step.decimals), level, old),)

    def make_points_changes(self, result: Result) -> tuple[Any, ...]:
        return self._changes() if self.ended or self.gone else ()

    def _totals(self) -> Totals:
        """The event's totals (`settle.totals`): the sums of ints made decimals once, with the
        exponents the engine's sums of decimals have (an excluded line's base is the decimal 0),
        without making the awards or the discounts (`loyalty run` prints the discount of each
        line it reads): the engine adds whole points (exponent 0) and cuts in the currency's
        unit to the decimal 0, whose sums have those exponents; no discount leaves the 0."""
        decimals = self.step.decimals
        base, cuts, amounts = self.made[1], self.made[3], self.made[7]
        points = whole(self.points)
        discount = _money(sum([sum(cut) for _, cut in cuts]), decimals) if cuts else _ZERO
        basket = _money(sum(amounts), decimals)
        earning = [b for b in base if b.__class__ is not Excluded]
        shipping = self.event.shipping
        values = {
            "basket": basket,
            "discount": discount,
            "shipping": shipping,
            "to_pay": basket - discount + shipping,
            "earning_base": _money(sum(earning), decimals) if earning else _ZERO,
            "points": points,
        }
        return trusted(Totals, values, _TOTALS_GIVEN)

    def _progress(self) -> Any:
        tier, metric = self.after
        step = self.step
        plan = step.engine.plan
        return progress_of(tier, money_of(metric, step.decimals), plan.tier_window, step.following(tier))

    def _changes(self) -> tuple[Any, ...]:
        """What time passing did to the lots: those whose wait ended, those that expired."""
        changes = [
            (
                lot[LOT_AVAILABLE],
                "available",
                f"{lot[LOT_EVENT]}/{lot[LOT_RULE]}",
                Decimal(lot[LOT_POINTS]),
                lot_time(lot, LOT_AVAILABLE, 1),
            )
            for lot in self.ended
            if lot[LOT_POINTS] > 0 and lot[LOT_AVAILABLE] > lot[LOT_EARNED]  # as `ripening.ripen` tells them
        ]
        changes += [
            (lot[LOT_EXPIRES], "expire", lot_id, p, at)
            for (_, p, lot_id, at), lot in zip(self._expired(), self.gone, strict=True)
        ]
        changes.sort(key=_AT_KIND_LOT)
        return tuple(points_changes((kind, lot, p, at) for _, kind, lot, p, at in changes))

    def _ledger(self, awards: tuple[Any, ...]) -> tuple[Any, ...]:
        """The event's ledger entries: expiry's, then each award's earn entry with its line parts."""
        event = self.event
        time = event.time
        engine = self.step.engine
        version = engine.program.version
        ledger = list(expiry_entries(event.id, version, self._expired()))
        records = awards_records([award.lines for award in awards], self.quantities)
        hashes = engine.plan.rule_hashes
        for award, (_, parts) in zip(awards, records, strict=True):
            lot = f"{event.id}/{award.rule}"
            ledger.append(
                earn_entry(
                    event.id, award.rule, award.points, lot, time, version, hashes.get(award.rule), parts
                )
            )
        return tuple(ledger)

    def _expired(self) -> list[tuple[str, Decimal, str, dt.datetime]]:
        return [
            (
                lot[LOT_RULE],
                Decimal(lot[LOT_POINTS]),
                f"{lot[LOT_EVENT]}/{lot[LOT_RULE]}",
                lot_time(lot, LOT_EXPIRES, 2),
            )
            for lot in self.gone
        ]

    def _verdict(self, entry: Any) -> Any:
        if type(entry) is not tuple:
            return entry
        code = entry[0]
        if code == 1:
            amount = Decimal(entry[2]).scaleb(-self.step.decimals)
            return verdict(entry[1], "discount", True, "fired", f"{amount} off", amount=amount, unit="money")
        if code == 2:
            return verdict(
                entry[1], "earn", True, "fired", f"{entry[2]} points", amount=whole(entry[2]), unit="points"
            )
        if code == 3:
            _, rule, n, words, wanted = entry
            reason = f"{n} points; {words} reached, would have given {wanted}"
            return verdict(rule, "earn", True, "capped", reason, amount=whole(n), unit="points")
        if code == 4:
            _, rule, words, wanted = entry
            return simple_verdict(
                rule, "earn", False, "capped", f"{words} reached: would have given {wanted}"
            )
        if code == 5:
            _, rule, winner, group = entry
            reason = f"`{winner}` of exclusive group `{group}` applies instead (higher priority)"
            return simple_verdict(rule, "earn", False, "shadowed", reason)
        if code == 6:
            _, rule, n, factor = entry
            reason = f"{n} points (×{factor} on this event's points)"
            return verdict(rule, "earn", True, "fired", reason, amount=whole(n), unit="points")
        if code == 8:
            _, rule, n, factor = entry
            reason = f"{n} points (×{factor} on this event's points)"
            return verdict(rule, "tier", True, "fired", reason, amount=whole(n), unit="points")
        if code == 7:
            _, rule, n, factor, words, wanted = entry
            reason = (
                f"{n} points (×{factor} on this event's points); {words} reached, would have given {wanted}"
            )
            return verdict(rule, "earn", True, "capped", reason, amount=whole(n), unit="points")
        if code == 20:
            return simple_verdict(entry[1], "badge", False, "capped", "already earned")
        if code == 21:
            return verdict(entry[1], "badge", True, "fired", f"earned: gives badge {entry[2]}")
        if code == 22:
            return simple_verdict(entry[1], "badge", False, "condition_false", "condition is false")
        if code == 23:
            return simple_verdict(
                entry[1], "badge", False, "wrong_event", f"purchase is not one of: {', '.join(entry[2])}"
            )
        if code in (30, 31, 32):
            return self._challenge(entry)
        if code == 40:
            return self._quest(entry)
        raise AssertionError(entry)

    def _challenge(self, entry: Any) -> Any:
        code, rule, total, goal = entry[:4]
        words = f"this calendar week ({entry[4]})"
        total_d = Decimal(total)
        if code == 30:
            return simple_verdict(rule, "challenge", False, "capped", capped_words(total_d, str(goal), words))
        if code == 31:
            gives = [entry[5]] if entry[5] else []
            reason = reached_words(total_d, str(goal), words, gives)
            points = entry[6]
            if points:
                return verdict(
                    rule, "challenge", True, "fired", reason, amount=Decimal(points), unit="points"
                )
            return verdict(rule, "challenge", True, "fired", reason)
        reason = added_words(total_d, str(goal), words, Decimal(entry[5]))
        return verdict(
            rule, "challenge", False, "nothing_eligible", reason, hint=hint_words(Decimal(goal - total))
        )

    def _quest(self, entry: Any) -> Any:
        _, rule, quest, done, new, started, zone, reset = entry
        before = ""
        if reset is not None:
            at = reset.astimezone(zone).strftime("%Y-%m-%d %H:%M")
            before = f"the time limit of the attempt started {at} passed: progress reset; "
        names = [quest.steps[i].id or str(i) for i in done]
        count = len(quest.steps)
        if started is not None and quest.within is not None:
            until = (started + quest.within).astimezone(zone).strftime("%Y-%m-%d %H:%M")
            status = f"{len(done)} of {count} steps ({', '.join(names)}), until {until}"
        else:
            status = f"{len(done)} of {count} steps"
        if new:
            matched = ", ".join(quest.steps[i].id or str(i) for i in sorted(new))
            return simple_verdict(
                rule, "quest", False, "nothing_eligible", f"{before}done {matched}: {status}"
            )
        return simple_verdict(
            rule, "quest", False, "condition_false", f"{before}no open step matched: {status}"
        )
