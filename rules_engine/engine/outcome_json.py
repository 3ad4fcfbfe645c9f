"""An event's outcome written as JSON straight from the slim `Result`, without the pydantic `Outcome`.

A store keeps every applied event's outcome (without the state) as JSON, and the service answers
the event with the same outcome, written with exact numbers (http/answers.py). Both used to build
the `Outcome` first (`Result.outcome()`: ~40 models, a dozen of them the trace's) and then have
pydantic write it: building it was most of the cost, ~0.3 ms of a profiled request's 3.4.

An `OutcomeWriter` writes the same text from the result's own values: its awards and discounts
and their line shares (tuples), its trace entries as the stages recorded them (`Verdict`s,
engine/trusted.py), the strings escaped as pydantic's serializer escapes them (only `"`, `\\` and
control characters; the C encoder of the standard library's `json` does the same, the same way).
What are models already (the totals, the ledger entries, the rarer effects, a trace entry with an
explained condition) are written by a serializer of their own type, one call each. How a decimal,
a moment and a model are written is the writer's: `STORED` writes what `Outcome.model_dump_json`
writes (a decimal as a string, pydantic's own moments); the service's answer writer writes
numbers as numbers (http/answers.py). tests/engine/test_outcome_json.py holds both byte-equal to
the pydantic writers on example programs' events and random purchases.

A value of a type the writer does not expect (a number that is no `Decimal`, which a model would
have written its own way) raises `UnexpectedValueError`: `Result.stored_json` then writes through the
`Outcome` as before.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from decimal import Decimal
from json.encoder import encode_basestring
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter

from rules_engine.engine.outcome import (
    BadgeAwarded,
    BudgetRelease,
    CouponIssued,
    DrawEntry,
    FreeShipping,
    Notification,
    PointsChange,
    RuleTrace,
    TierChange,
    TierProgress,
    Totals,
)
from rules_engine.engine.trusted import Text, Verdict
from rules_engine.state.customer import LedgerEntry

if TYPE_CHECKING:
    from rules_engine.engine.result import Award, Discount, Result

Models = Callable[[Any], Callable[[Any], str]]
"""Given a type, what writes a value of it as JSON text."""


class UnexpectedValueError(TypeError):
    """A value of a type the writer does not write as the model would (module docstring)."""


def _quoted_number(value: Decimal) -> str:
    if type(value) is not Decimal:
        raise UnexpectedValueError(f"{value!r} is not a Decimal")
    return f'"{value}"'


def _pydantic(kind: Any) -> Callable[[Any], str]:
    to_json = TypeAdapter(kind).serializer.to_json
    return lambda value: to_json(value).decode()


def _text(text: str) -> str:
    if type(text) is not str:
        raise UnexpectedValueError(f"{text!r} is not a str")
    return encode_basestring(text)


def _null(text: str | None) -> str:
    return "null" if text is None else _text(text)


_RARE = (
    "coupons_issued",
    "coupons_redeemed",
    "badges",
    "tier_changes",
    "notifications",
    "draw_entries",
    "points_changes",
    "budgets_released",
)
"""The effects' lists that most events leave empty, in the fields' order."""
_NONE_OF_THE_RARE = "".join(f',"{name}":[]' for name in _RARE)


class OutcomeWriter:
    """Writes a `Result`'s outcome without its state (module docstring).

    Args:
        number: a decimal as JSON.
        moment: an aware datetime as JSON.
        models: what writes values of a type (a list of models, an optional model): the rare ones.
        ledger_by_model: the ledger entries written by `models` (one call for all: pydantic's own
            serializer is cheaper than this module's Python), else by `ledger_entry`.
    """

    def __init__(
        self,
        number: Callable[[Decimal], str],
        moment: Callable[[dt.datetime], str],
        models: Models,
        *,
        ledger_by_model: bool,
    ) -> None:
        self.number = number
        self.moment = moment
        self._shipping = models(FreeShipping)
        self._ledger = models(list[LedgerEntry]) if ledger_by_model else self._ledger_entries
        self._trace = models(RuleTrace)
        kinds = (
            CouponIssued,
            str,
            BadgeAwarded,
            TierChange,
            Notification,
            DrawEntry,
            PointsChange,
            BudgetRelease,
        )
        self._lists: tuple[tuple[str, Callable[[Any], str]], ...] = tuple(
            (name, models(list[kind]))  # type: ignore[valid-type]
            for name, kind in zip(_RARE, kinds, strict=True)
        )

    def write(self, result: Result, *, trace: bool = True) -> str:
        """The outcome's JSON without the state (and without the trace unless `trace`)."""
        program = encode_basestring(result.program)
        event = encode_basestring(result.event)
        customer = encode_basestring(result.customer)
        version = result.version
        if type(version) is not int:
            raise UnexpectedValueError(f"{version!r} is not an int")
        parts = [
            f'{{"program":{program},"version":{version},"event":{event},"customer":{customer},"effects":',
            self.effects(result),
            ',"totals":',
            self.totals(result.totals),
            ',"ledger":',
            self._ledger(list(result.ledger)) if result.ledger else "[]",
        ]
        if trace:
            parts += [',"trace":[', ",".join(map(self.verdict, result.recorded_trace())), "]"]
        parts += [',"tier_progress":', self.progress(result.tier_progress), "}"]
        return "".join(parts)

    def effects(self, result: Result) -> str:
        """The outcome's `effects`."""
        parts = [
            '{"points":[',
            ",".join(map(self.award, result.awards)),
            '],"discounts":[',
            ",".join(map(self.discount, result.discounts)),
            '],"free_shipping":',
            "null" if result.free_shipping is None else self._shipping(result.free_shipping),
        ]
        rare = [getattr(result, name) for name, _ in self._lists]
        if any(rare):
            for (name, write), values in zip(self._lists, rare, strict=True):
                parts.append(f',"{name}":{write(list(values)) if values else "[]"}')
        else:  # the usual purchase: none of them
            parts.append(_NONE_OF_THE_RARE)
        parts += [',"referral_owed":', _null(result.referral_owed), "}"]
        return "".join(parts)

    def award(self, award: Award) -> str:
        at = award.available_at
        available = "null" if at is None else self.moment(at)
        return (
            f'{{"rule":{encode_basestring(award.rule)},"points":{self.number(award.points)},'
            f'"lines":{self.shares(award.lines)},"available_at":{available}}}'
        )

    def discount(self, discount: Discount) -> str:
        return (
            f'{{"rule":{encode_basestring(discount.rule)},"amount":{self.number(discount.amount)},'
            f'"lines":{self.shares(discount.lines)}}}'
        )

    def shares(self, shares: Sequence[tuple[int, str, Decimal]]) -> str:
        number = self.number
        written = []
        for line, sku, amount in shares:
            if type(line) is not int:
                raise UnexpectedValueError(f"{line!r} is not an int")
            written.append(f'{{"line":{line},"sku":{encode_basestring(sku)},"amount":{number(amount)}}}')
        return f"[{','.join(written)}]"

    def totals(self, totals: Totals) -> str:
        number = self.number
        return (
            f'{{"basket":{number(totals.basket)},"discount":{number(totals.discount)},'
            f'"shipping":{number(totals.shipping)},"to_pay":{number(totals.to_pay)},'
            f'"earning_base":{number(totals.earning_base)},"points":{number(totals.points)}}}'
        )

    def progress(self, progress: TierProgress | None) -> str:
        if progress is None:
            return "null"
        needed = progress.needed
        return (
            f'{{"tier":{_null(progress.tier)},"metric":{self.number(progress.metric)},'
            f'"window":{_text(progress.window)},"next":{_null(progress.next)},'
            f'"needed":{"null" if needed is None else self.number(needed)}}}'
        )

    def _ledger_entries(self, entries: list[LedgerEntry]) -> str:
        return f"[{','.join(map(self.ledger_entry, entries))}]"

    def ledger_entry(self, entry: LedgerEntry) -> str:
        number = self.number
        version = entry.version
        if type(version) is not int:
            raise UnexpectedValueError(f"{version!r} is not an int")
        lines = []
        for line in entry.lines:
            if type(line.line) is not int:
                raise UnexpectedValueError(f"{line.line!r} is not an int")
            lines.append(f'{{"line":{line.line},"points":{number(line.points)}}}')
        return (
            f'{{"event":{_text(entry.event)},"rule":{_text(entry.rule)},"kind":{_text(entry.kind)},'
            f'"points":{number(entry.points)},"lot":{_text(entry.lot)},"at":{self.moment(entry.at)},'
            f'"version":{version},"rule_hash":{_null(entry.rule_hash)},"lines":[{",".join(lines)}]}}'
        )

    def verdict(self, entry: Verdict | RuleTrace) -> str:
        """One trace entry: a `Verdict` as the `RuleTrace` it stands for would be written."""
        if type(entry) is not Verdict:
            return self._trace(entry)
        rule, kind, fired, code, reason, failing, hint, amount, unit, condition, given = entry
        if given & 16 and condition is not None:  # an explained condition: the model writes its tree
            return self._trace(entry.model())
        if type(fired) is not bool:
            raise UnexpectedValueError(f"{fired!r} is not a bool")
        reason = str(reason) if type(reason) is Text else reason
        if type(reason) is not str:
            raise UnexpectedValueError(f"{reason!r} is not a str")
        if given & 2 and hint is not None:
            hint = encode_basestring(str(hint) if type(hint) is Text else hint)
        else:
            hint = "null"
        failed = ",".join(map(encode_basestring, failing)) if given & 1 and failing else ""
        number = "null" if not given & 4 or amount is None else self.number(amount)
        units = _null(unit) if given & 8 else "null"
        return (
            f'{{"rule":{encode_basestring(rule)},"kind":{encode_basestring(kind)},'
            f'"fired":{"true" if fired else "false"},"code":{encode_basestring(code)},'
            f'"reason":{encode_basestring(reason)},"failing":[{failed}],"hint":{hint},'
            f'"amount":{number},"unit":{units},"condition":null}}'
        )


STORED = OutcomeWriter(_quoted_number, _pydantic(dt.datetime), _pydantic, ledger_by_model=True)
"""What a store keeps: `Outcome.model_dump_json(exclude={"state"})`, byte for byte."""
