"""The whole step: a covered purchase decided on a `WholeState`, in place, with a lazy result.

`WholeStep(engine).step(event, state)` runs the generated pricing and earning (generate.py), then
the purchase mechanics on the state's ints (badges, the challenges counting lines, the quests'
purchase steps, the messages waiting and the points-expiring reminder (reminder.py), the spend
tier's rolling window), time passing (pending lots whose wait ended, lots that expired), and the
state update (lots, counters, activity, ids, progress), and returns a
`WholeResult` (result.py) that holds what was decided as ints and tuples and makes the engine's
`Result` only when read. It returns None, with the state untouched, for any purchase it does not
decide (whole/__init__.py, `covers`): those keep `Engine.process`.

Input: a parsed `Purchase`, a `WholeState`. Output: a `WholeResult`, or None.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Iterator
from decimal import Decimal
from itertools import islice, repeat, starmap
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from rules_engine.engine import history
from rules_engine.engine.events import Purchase
from rules_engine.engine.mechanics.tiers_working import moved_sums, returned_sums
from rules_engine.engine.trusted import simple_verdict
from rules_engine.engine.whole.generate import ENTRY, generate, rate_denominator
from rules_engine.engine.whole.reminded import awarded, in_reach, recorded, taken_off
from rules_engine.engine.whole.reminder import Delivered, Notices, Told, lot_ids
from rules_engine.engine.whole.result import WholeResult
from rules_engine.engine.whole.state import WholeState
from rules_engine.periods import instant
from rules_engine.state.compact import (
    ACT_AT,
    ACT_POINTS,
    ACT_SPEND,
    ACT_VISITS,
    LOT_AVAILABLE,
    LOT_EVENT,
    LOT_EXPIRES,
    LOT_POINTS,
    LOT_RULE,
    NEVER,
    head_left,
    head_right,
    seconds,
    seconds_after,
)

if TYPE_CHECKING:
    from rules_engine.engine.evaluator import Engine

_ONE = Decimal(1)
Lines = tuple[list[tuple[str, str | None, int, int, Any]], list[Decimal], int]
"""A purchase's lines as the step reads them (`WholeStep.read`): each line's SKU, category, price in
the currency's minor units, quantity and model; the quantities as sent; the basket's total in
minor units."""
_EXPIRES = itemgetter(LOT_EXPIRES)
_POINTS = itemgetter(LOT_POINTS)
_AT = itemgetter(ACT_AT)
_GIVEN = itemgetter(1)  # an award's points: (rule, points, weights, kind)
_SPEND = itemgetter(ACT_SPEND)
_ACT_POINTS = itemgetter(ACT_POINTS)
_VISITS = itemgetter(ACT_VISITS)
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class WholeStep:
    """A program's whole purchase step, compiled once (module docstring)."""

    def __init__(self, engine: Engine) -> None:
        plan = engine.plan
        program = plan.program
        self.engine = engine
        module, namespace = generate(plan)  # the tree not kept: the code is what runs
        exec(compile(module, namespace.pop("__file__"), "exec"), namespace)  # no builtins
        self.decide = namespace[ENTRY]
        self.zone = engine.zone
        exponent = plan.quantum.as_tuple().exponent
        assert isinstance(exponent, int)
        self.decimals = -exponent
        self.least = exponent  # a price's least exponent: the currency's decimals (`takes`)
        self.currency = program.currency
        self.quantum = plan.quantum
        # a line's custom attributes taken as sent (`_plain`): declared, and the text ones
        self.declared = frozenset(plan.custom_names["item"])
        self.texts = self.declared & plan.text_attributes["item"]
        self.days: dict[int, tuple[str, str]] = {}  # a local day's cap key and ISO week
        points = program.points
        self.pending = points.pending
        self.expire_after = points.expire_after
        notes = program.notifications
        self.notices = Notices(plan)
        tiers = program.tiers
        assert tiers is not None and tiers.window.length is not None
        self.tiers = tiers
        self.window = tiers.window.length
        self.within = int((2 * tiers.window.length).total_seconds()) - 2 * 86_400  # a zone moves < a day
        self.review = tiers.window.length + (tiers.downgrade_grace or dt.timedelta(0))
        self.review_notice = (
            notes.tier_downgrade.before if notes.tier_downgrade is not None else dt.timedelta(0)
        )
        self.levels = [
            (int(level.threshold.scaleb(self.decimals)), level) for level in reversed(tiers.levels)
        ]
        self.index = {level.id: i for i, level in enumerate(tiers.levels)}
        self.challenges = list(program.challenges)
        self.quests = list(program.quests)
        self.denominator = next(
            (rate_denominator(rule, self.decimals) for rule in program.earn if rule.rate is not None), 1
        )
        self.constant = [
            simple_verdict(
                f"streak:{streak.id}", "streak", False, "wrong_event", f"purchase is not one of: {streak.on}"
            )
            for streak in program.streaks
        ]
        if program.birthday is not None:
            self.constant.append(
                simple_verdict("birthday", "birthday", False, "nothing_eligible", "no birthday on file")
            )
        levels = tiers.levels
        self.next: dict[str | None, tuple[str, Decimal] | None] = {
            level.id: (levels[i + 1].id, levels[i + 1].threshold) if i + 1 < len(levels) else None
            for i, level in enumerate(levels)
        }
        self.next[None] = (levels[0].id, levels[0].threshold)

    def following(self, tier: str | None) -> tuple[str, Decimal] | None:
        """The level after `tier` and its threshold (None at the top)."""
        return self.next.get(tier)

    def takes(self, event: Any) -> bool:
        """Whether `read(event)` takes it (below)."""
        return self.read(event) is not None

    def read(self, event: Any) -> Lines | None:
        """What `covers` and `decision` ask of the event alone, asked before a caller makes the
        state (engine/whole/path.py): a purchase with lines, no coupon, nothing paid with points,
        no custom attributes of the event or the basket (undeclared ones are RE413, the engine's),
        of this program's currency, each line's price with at most the currency's decimals (`320`,
        `180.5`, `180.50`: the engine rounds each line's amount to the currency's unit, and the
        step's ints are those units; a price with more decimals, even zeros, is the engine's), a
        whole quantity, and only custom attributes the engine takes as sent (`_plain`). Its lines
        as the step reads them (`Lines`), or None when not taken. Each line's fields are read from
        the model's `__dict__`, once: an event model's attribute costs several times more."""
        if event.__class__ is not Purchase:
            return None
        fields = event.__dict__
        items = fields["items"]
        if fields["coupons"] or fields["paid_with_points"] or not items:
            return None
        if fields["attributes"] or fields["basket_attributes"]:  # the engine's: declared, of their type
            return None
        currency = fields["currency"]
        if currency is not None and currency != self.currency:
            return None
        quantum, decimals = self.quantum, self.decimals
        lines: list[tuple[str, str | None, int, int, Any]] = []
        quantities: list[Decimal] = []
        total = 0
        for item in items:
            line = item.__dict__
            price, qty, attributes = line["price"], line["qty"], line["attributes"]
            if not (price.same_quantum(quantum) or price.same_quantum(_ONE)):  # the common two
                exponent = price.as_tuple().exponent
                if exponent.__class__ is not int or exponent < self.least:
                    return None
            if not qty.same_quantum(_ONE) or (attributes and not self._plain(attributes)):
                return None
            units, count = int(price.scaleb(decimals)), int(qty)
            lines.append((line["sku"], line["category"], units, count, item))
            quantities.append(qty)
            total += units * count
        return lines, quantities, total

    def _plain(self, attributes: dict[str, Any]) -> bool:
        """Whether a line's custom attributes are what the engine's context takes as they are: each
        declared under `attributes.item`, a text one's value text, any one's null. Anything else —
        an undeclared name, a number for a text attribute, a value of another type the engine
        normalizes — is the engine's, which refuses it (RE413) or normalizes it."""
        texts = self.texts
        for name, value in attributes.items():
            if value is None:
                if name not in self.declared:
                    return False
            elif value.__class__ is not str or name not in texts:
                return False
        return True

    def covers(self, event: Any, state: WholeState) -> bool:
        """Whether `step` may take `event`, which `read` takes, on `state`: a purchase of this
        state's customer, in order, not a redelivery, on a state with nothing a purchase's
        mechanics would have to say besides what the step decides (no birthday on file, no points
        tendered; messages waiting and the points-expiring reminder are the step's, reminder.py)."""
        base = state.base
        if state.customer is not None and state.customer != event.customer:
            return False
        if event.id in state.seen or state.pending is None:
            return False
        if base.tendered or base.profile.birthday is not None:
            return False
        last = state.last_event_at
        return last is None or event.time >= last

    def step(self, event: Any, state: WholeState, read: Lines | None = None) -> WholeResult | None:
        """Decide `event` on `state` and change `state` to the state after it; None (and `state` as
        it was) for a purchase the step does not decide. `read`: `read(event)`, when the caller
        asked it already (engine/whole/path.py), else asked here."""
        if read is None:
            read = self.read(event)
            if read is None:
                return None
        decided = self.decision(event, state, read)
        if decided is None:
            return None
        return self._settle(event, state, *decided)

    def decision(self, event: Any, state: WholeState, read: Lines) -> tuple[Any, ...] | None:
        """The decision without the state update: time passing looked at, the generated pricing
        and earning run on the lines `read` gave (on a copy of the counters); None when not
        decided."""
        if not self.covers(event, state):
            return None
        lines, quantities, total = read
        time = event.time
        now = seconds(time)
        local = time.astimezone(self.zone)
        day = local.toordinal()
        known = self.days.get(day)
        if known is None:  # the day's words, once per local day
            if len(self.days) >= 1024:
                self.days.clear()
            iso = local.isocalendar()
            known = self.days[day] = (f"day:{local.date().isoformat()}", f"{iso.year}-W{iso.week:02d}")
        # time passing: the pending lots whose wait ended, the lots that expired
        lots = state.lots
        pending = state.pending
        assert pending is not None
        count = len(pending)
        ended: list[Any] = []
        if count:
            if count > len(lots):
                return None
            first = len(lots) - count
            if not state.pending_tail:  # the ids not looked at yet: all at once, in C
                state.pending_tail = lot_ids(map(lots.__getitem__, range(first, len(lots)))) == pending
            for index in range(count):
                lot = lots[first + index]
                if not state.pending_tail and pending[index] != f"{lot[LOT_EVENT]}/{lot[LOT_RULE]}":
                    return None
                if lot[LOT_AVAILABLE] > now:
                    break
                ended.append(lot)
        # the lots due (in expiry order: a prefix, as `lifecycle.expiring_by` bisects them)
        expired = head_right(lots, now, 0, _EXPIRES) if lots and lots[0][LOT_EXPIRES] <= now else 0
        if expired:
            if min(map(_POINTS, islice(lots, expired))) <= 0:
                return None  # a spent lot kept for returns: the engine's way
            if expired > len(lots) - count + len(ended):
                return None  # a pending lot expiring
        after = self.expire_after
        if (
            len(lots) > expired
            and after is not None
            and lots[-1][LOT_EXPIRES] > seconds_after(now, time, after)
        ):
            # a lot earned now would expire before one earned earlier (a state made under a program
            # version with a longer `expire_after`): the engine's way puts it in its place
            # (`lifecycle.with_lot`); the step only appends
            return None
        # the notifications (reminder.py): the messages waiting whose moment came, then the
        # points-expiring reminder of the lots within its reach not reminded of yet
        notices = self.notices
        delivered = notices.delivered(state, time) if state.deferred else None
        told = None
        if notices.before is not None:
            reach = seconds_after(now, time, notices.before)
            found = in_reach(state, lots, expired, reach)  # whole/reminded.py
            if found is not None:
                soonest, record = found
                if delivered is None:
                    what = notices.remind(state, time, soonest, state.notified, state.deferred, local)
                else:
                    what = notices.remind(state, time, soonest, delivered.notified, delivered.deferred, local)
                if what is None:
                    return None  # a lot's time with no zone: the engine's way
                told = (record, what, reach)
        since = state.tier_since
        if state.tier is not None and since is not None and time >= since + self.review - self.review_notice:
            return None  # a tier review or its reminder due
        counters = dict(state.counters)
        made = self.decide(
            lines,
            total,
            local.hour,
            _WEEKDAYS[local.weekday()],
            day,
            state.bought,
            state.tier,
            counters,
            known[0],
        )
        if made is None:
            return None
        return lines, quantities, made, now, local, ended, expired, counters, known[1], delivered, told

    def _settle(
        self,
        event: Any,
        state: WholeState,
        lines: list[Any],
        quantities: list[Decimal],
        made: tuple[Any, ...],
        now: Any,
        local: dt.datetime,
        ended: list[Any],
        expired: int,
        counters: dict[str, Any],
        window: str,
        delivered: Delivered | None,
        told: tuple[Any, Told, Any] | None,
    ) -> WholeResult | None:
        paid, _, _, _, awards, mult, trace, _, held, parts, steps = made
        time = event.time
        decimals = self.decimals
        # the quests first (a quest the step cannot word keeps the engine's path)
        quests: list[Any] = []
        for number, quest in enumerate(self.quests):
            known = state.quests.get(quest.id)
            if known is not None and known[2]:
                return None  # completed: the engine's way
            reset = None
            if (
                known is not None
                and known[0] is not None
                and quest.within is not None
                and time >= known[0] + quest.within
            ):
                reset, known = known[0], None  # the attempt's time limit passed: progress reset
            matched = [i for i, hit in enumerate(steps) if hit]  # one quest: its steps
            done = list(known[1]) if known is not None else []
            new = [i for i in matched if i not in done]
            if len(done) + len(new) == len(quest.steps):
                return None  # the quest completes on a purchase: the engine's way
            quests.append((number, quest, known, done, new, reset))
        for challenge in self.challenges:
            known = state.challenges.get(challenge.id)
            if known is not None and known[0] > window:
                return None  # an event before the challenge's current window: the engine's way
        sums = state.sums
        if sums is not None and type(sums[1]) is not int:
            return None  # a spend with more decimals than the currency's: the engine's way
        # nothing declines from here on: the state moves on
        state.changed = True
        state.made = None
        # badges
        given: list[tuple[str, str]] = []
        holding = iter(held)
        for badge in self.engine.program.badges:
            if not badge.on:
                continue
            if "purchase" not in badge.on:
                trace.append((23, f"badge:{badge.id}", tuple(badge.on)))
                continue
            holds = next(holding)
            if badge.id in state.badge_set:
                trace.append((20, f"badge:{badge.id}"))
            elif holds:
                if badge.reward is not None:
                    return None
                given.append((f"badge:{badge.id}", badge.id))
                state.badge_set.add(badge.id)
                state.badges.append(badge.id)
                trace.append((21, f"badge:{badge.id}", badge.id))
            else:
                trace.append((22, f"badge:{badge.id}"))
        # challenges (count lines, calendar windows)
        for challenge, counted_parts in zip(self.challenges, parts, strict=True):
            rule = f"challenge:{challenge.id}"
            known = state.challenges.get(challenge.id)
            if known is None or known[0] != window:
                progress, completed, counted = 0, list(known[2]) if known else [], {}
            else:
                progress, completed, counted = known[1], known[2], known[3]
            added = sum(counted_parts)
            total = progress + added
            goal = int(challenge.goal)
            if window in completed:
                state.challenges[challenge.id] = [window, total, completed, counted]
                trace.append((30, rule, total, goal, window))
                continue
            if added:
                counted = {**counted, event.id: (lines, counted_parts, added)}
            if total >= goal:
                completed = [completed[0], window] if completed else [window]
                words = []
                reward = challenge.reward
                if reward.points:
                    awards.append((rule, int(reward.points), None, 4))
                    words.append(f"{reward.points} points")
                if reward.badge is not None and reward.badge not in state.badge_set:
                    given.append((rule, reward.badge))
                    state.badge_set.add(reward.badge)
                    state.badges.append(reward.badge)
                    words.append(f"badge {reward.badge}")
                state.challenges[challenge.id] = [window, total, completed, counted]
                trace.append((31, rule, total, goal, window, ", ".join(words), reward.points))
            else:
                state.challenges[challenge.id] = [window, total, completed, counted]
                trace.append((32, rule, total, goal, window, added))
        # quests (unordered purchase steps, not completing here)
        for _, quest, known, done, new, reset in quests:
            rule = f"quest:{quest.id}"
            started = known[0] if known is not None and known[1] else None
            if new:
                if started is None:
                    started = time
                done = [*done, *new]
            state.quests[quest.id] = [started, done, False]
            trace.append((40, rule, quest, done, new, started, self.zone, reset))
        trace.extend(self.constant)  # the streaks' and the birthday's verdicts: a purchase's are constant
        if told is not None:  # the points-expiring reminder: after the offers, before the tiers
            trace.append(told[1].verdict)
        # the awards in the engine's order: the rules', the multipliers', then the mechanics' rewards
        if mult:
            awards = [*[a for a in awards if a[3] != 4], *mult, *[a for a in awards if a[3] == 4]]
        earned = sum(map(_GIVEN, awards))
        # the tier: spend over the rolling window, up at once
        spend = sum(paid)
        entry = (now, spend, earned, 1, event.id, _Paid(paid, decimals), quantities, time.tzinfo, None)
        activity = state.activity
        start_at = instant(local - self.window)  # compared by instant (a wall time in a fold, a gap)
        start = seconds(start_at)  # exact: a window of an event with microseconds starts at them
        since_at = state.since_at  # where the sums' window starts in `activity`: a hint (`_moved`)
        if sums is None:
            totals = (spend, earned, 1)
            since_at = -1 if activity else 0  # (no sums yet: no entry yet, when the step is taken)
        else:
            totals = (sums[1] + spend, sums[2] + earned, sums[3] + 1)
            since = sums[0]
            if activity and activity[0][ACT_AT] < now - self.within:  # else surely inside twice the window
                horizon = seconds(instant(local - 2 * self.window))
                # no window needs them; in time order
                cut = head_left(activity, horizon, 0, _AT)
                if cut and (since is None or since < horizon):  # the sums count some (Samoa's day-long move)
                    left, _ = _moved(activity, since, horizon, totals, decimals, since_at)
                    if left is not None:
                        totals = left
                    since, since_at = horizon, cut
                _pop(activity, cut)
                since_at = max(since_at - cut, 0) if since_at >= 0 else -1
            if since is not None and start < since:  # moved back: a later wall time in a fold
                totals, since_at = returned_sums(activity, start, since, totals, decimals)
            elif since != start:
                left, since_at = _moved(activity, since, start, totals, decimals, since_at)
                if left is not None:
                    totals = left
        activity.append(entry)  # type: ignore[arg-type]  # `_Paid` is listed as the model is made
        state.sums = (start, *totals, start_at.tzinfo, None)
        state.since_at = since_at
        metric = totals[0]
        change = None
        for bound, level in self.levels:
            if bound <= metric:
                if state.tier not in self.index or self.index[level.id] > self.index[state.tier]:
                    change = (state.tier, level, metric)
                    state.tier, state.tier_since = level.id, time
                break
        # lots: those that expired leave, the awards' join
        lots = state.lots
        gone = _pop(lots, expired)
        if gone:  # the reminders of the lots that left go (whole/reminded.py)
            taken_off(state, gone)
        notifications: tuple[Any, ...] = ()
        if delivered is not None:  # sent before the event: first in the trace and the effects
            trace[:0] = delivered.verdicts
            notifications = (*delivered.sent,)
            state.deferred = delivered.deferred
            state.notified = delivered.notified
        if told is not None:  # the lots reminded of, the send the cap counts, a message waiting
            record, what, reach = told
            if what.reminded:
                recorded(state, record, reach)
            if what.notification is not None:
                notifications = (*notifications, what.notification)
            state.notified = what.notified
            state.deferred = what.deferred
        if ended:
            state.pending = (state.pending or [])[len(ended) :]
        result = WholeResult(self, event, state, lines, made, awards, given, change, ended, gone, quantities)
        result.notifications = notifications
        expires = NEVER if self.expire_after is None else seconds_after(now, time, self.expire_after)
        available = seconds_after(now, time, self.pending) if self.pending else now
        zone = time.tzinfo
        if awards:  # the list's memo of the reach (whole/reminded.py)
            awarded(state, awards, expires)
        for index, (rule, points, _, _) in enumerate(awards):
            lots.append(
                (expires, available, now, points, event.id, rule, result.later_lines(index), zone, None)
            )
        if available > now and awards:
            state.pending = [*(state.pending or []), *[f"{event.id}/{award[0]}" for award in awards]]
        # the rest of the state
        state.counters = counters
        state.visits += 1
        state.bought += len(lines)
        state.customer = event.customer
        if len(state.ids) == state.ids.maxlen:
            state.seen.discard(state.ids[0])
        state.ids.append(event.id)
        state.seen.add(event.id)
        # `settle.later`: an event at the same instant as the latest keeps the latest's text
        if state.last_event_at is None or time > state.last_event_at:
            state.last_event_at = time
        bought = history.Bought(
            state.purchases, event.items, local.date(), event.id, self.engine.plan.purchases_kept
        )
        if bought.depth >= history.CHAINED:  # a history no one read for a while: made and cut now,
            state.purchases, state.older = bought.kept(state.older)  # as the step in place does
        else:  # (a chain keeps every purchase's event lines alive until the public state is made)
            state.purchases = bought
        return result


def _pop(items: deque[Any], count: int) -> list[Any]:
    """The first `count` items of `items`, taken off it (in C: a dozen lots expire, and a few
    activities leave the window, at a long history's purchases)."""
    return list(starmap(items.popleft, repeat((), count))) if count else []


def _moved(activity: Any, since: Any, start: Any, totals: Any, decimals: int, hint: int) -> tuple[Any, int]:
    """`moved_sums(activity, 0, since, start, totals, decimals)` (mechanics/tiers_working.py): the
    sums less the entries in [since, start), None when none left; with them the index of the first
    entry at or after `start`, the next step's `hint`. The entries are found by bisection (the
    activity is in time order) and, when their spends are ints (the whole step's, and any made at
    the currency's decimals), summed in C. A long history's window leaves a few entries at every
    purchase.

    `hint` (-1: none) is where the previous step found the first entry at or after `since`, moved
    by the entries cut from the head since (`WholeState.since_at`): trusted only once the entries
    either side of it confirm it — exactly what a bisection would find — so that a step at a long
    history does not bisect ~700 entries for it."""
    end = len(activity)
    if since is None:
        index = 0
    elif (
        0 <= hint <= end
        and (hint == end or activity[hint][ACT_AT] >= since)
        and (hint == 0 or activity[hint - 1][ACT_AT] < since)
    ):
        index = hint
    elif end and activity[0][ACT_AT] < since:
        index = head_left(activity, since, 0, _AT)
    else:
        index = 0
    if index == end or activity[index][ACT_AT] >= start:  # the usual answer: one comparison
        return None, index
    stop = head_left(activity, start, index, _AT)
    left = list(map(activity.__getitem__, range(index, stop)))  # not walked from the head
    spend = sum(map(_SPEND, left))
    total = totals[0]
    if type(spend) is not int or type(total) is not int:  # a decimal: its exponent, as `moved_sums` keeps it
        return moved_sums(activity, 0, since, start, totals, decimals), stop
    return (total - spend, totals[1] - sum(map(_ACT_POINTS, left)), totals[2] - sum(map(_VISITS, left))), stop


class _Paid:
    """An activity's `paid` (each line's price after discounts) as the decimals its model holds,
    made when the model is (`activity_model` lists it): the step keeps the ints."""

    __slots__ = ("decimals", "units")

    def __init__(self, units: list[int], decimals: int) -> None:
        self.units = units
        self.decimals = decimals

    def __iter__(self) -> Iterator[Decimal]:
        decimals = -self.decimals
        return iter([Decimal(units).scaleb(decimals) for units in self.units])
