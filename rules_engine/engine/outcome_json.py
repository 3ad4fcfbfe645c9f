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
explained condition) are written by a serializer of their own type, one call each, or (the
one-pass writer, `OutcomeTexts`) the rarer effects and the ledger entries by the writer's own
methods. A trace entry's text is kept by what it is written from, and by the entry's identity:
most entries are the same `Verdict` objects event after event (`OutcomeWriter.trace`). How a decimal,
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
import operator
from collections.abc import Callable, Sequence
from decimal import Decimal
from json.encoder import encode_basestring
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter

from rules_engine.engine.money import SMALL
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
from rules_engine.state.customer import LedgerEntry, LedgerLine

if TYPE_CHECKING:
    from rules_engine.engine.result import Award, Discount, Result

Models = Callable[[Any], Callable[[Any], str]]
"""Given a type, what writes a value of it as JSON text."""


class UnexpectedValueError(TypeError):
    """A value of a type the writer does not write as the model would (module docstring)."""


def _quoted_number(value: Decimal) -> str:
    """A decimal as pydantic writes it: its `str` quoted (by `str`, not an f-string's `format`:
    the same text for a `Decimal`, a third of the cost)."""
    if type(value) is not Decimal:
        raise UnexpectedValueError(f"{value!r} is not a Decimal")
    return '"' + str(value) + '"'


def _pydantic(kind: Any) -> Callable[[Any], str]:
    to_json = TypeAdapter(kind).serializer.to_json
    return lambda value: to_json(value).decode()


def _text(text: str) -> str:
    if type(text) is not str:
        raise UnexpectedValueError(f"{text!r} is not a str")
    return encode_basestring(text)


def _null(text: str | None) -> str:
    return "null" if text is None else _text(text)


def _model(value: Any, kind: type) -> None:
    """A model of exactly this class (a subclass the model's serializer may write otherwise)."""
    if type(value) is not kind:
        raise UnexpectedValueError(f"{value!r} is not a {kind.__name__}")


def _apart(kind: Any) -> Callable[[Any], str]:
    """A writer's `models` that writes nothing: a value only a model writes is written apart."""

    def refuse(value: Any) -> str:
        raise UnexpectedValueError(f"{value!r}: written by its model, apart")

    return refuse


_LEDGER_ENTRY = operator.itemgetter(*LedgerEntry.model_fields)
"""A ledger entry's fields from its `__dict__`, in their order (`ledger_entry` unpacks them)."""
_LEDGER_LINE = operator.itemgetter(*LedgerLine.model_fields)

_VERDICTS = 4096
"""The most trace entries' texts a writer keeps (`OutcomeWriter.verdict`)."""

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
_RARE_OF = operator.attrgetter(*_RARE)
"""The effects' lists of `_RARE` of a result, read in one call."""


class OutcomeWriter:
    """Writes a `Result`'s outcome without its state (module docstring).

    Args:
        number: a decimal as JSON.
        moment: an aware datetime as JSON.
        models: what writes values of a type (a list of models, an optional model): the rare ones.
        ledger_by_model: the ledger entries written by `models` (one call for all: pydantic's own
            serializer is cheaper than this module's Python), else by `ledger_entry`.
        rare_by_model: the rarer effects (free shipping, the lists of `_RARE`) written by
            `models`, else by this writer's own methods (`badge` …), which write what the models
            write: where `models` is two writers (the service's answer's, slow, and pydantic's)
            or none (`OutcomeTexts`).
    """

    def __init__(
        self,
        number: Callable[[Decimal], str],
        moment: Callable[[dt.datetime], str],
        models: Models,
        *,
        ledger_by_model: bool,
        rare_by_model: bool = True,
    ) -> None:
        self.number = number
        self.moment = moment
        self._verdicts: dict[tuple[Any, ...], str] = {}
        """The texts of the trace entries written last, by what they are written from: most of
        an event's entries are one of a few (a rule whose condition is false, a badge already
        earned), the same from event to event; at most `_VERDICTS` of them."""
        self._entries: dict[int, tuple[Verdict, str]] = {}
        """The texts of `Verdict`s by identity, each kept with its entry (so that no other object
        has its id while it is here): a generated stage records the same `Verdict` object at every
        event for a rule that did not fire (condition false, wrong event, badge earned already)."""
        self._rules: dict[str, tuple[Any, ...]] = {}
        """The parts of a ledger entry its rule decides, written, by the rule (`ledger_entry`)."""
        self._event: tuple[object, str] = (None, "")
        """The event of the ledger entry written last, and its text."""
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
        if rare_by_model:
            shipping = models(FreeShipping)
            self._shipping: Callable[[Any], str] = lambda value: "null" if value is None else shipping(value)
            self._lists: tuple[tuple[str, Callable[[Any], str]], ...] = tuple(
                (name, models(list[kind]))  # type: ignore[valid-type]
                for name, kind in zip(_RARE, kinds, strict=True)
            )
        else:
            self._shipping = self.free_shipping
            own: tuple[Callable[[Any], str], ...] = (
                self.coupon_issued,
                _text,
                self.badge,
                self.tier_change,
                self.notification,
                self.draw_entry,
                self.points_change,
                self.budget_release,
            )
            self._lists = tuple((name, self._each(write)) for name, write in zip(_RARE, own, strict=True))

    def head(self, result: Result) -> list[str]:
        """The outcome's JSON up to its trace (the fields before it, the ledger last), in parts."""
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
        return parts

    def write(self, result: Result, *, trace: bool = True) -> str:
        """The outcome's JSON without the state (and without the trace unless `trace`)."""
        parts = self.head(result)
        if trace:
            parts += [',"trace":[', self.trace(result.recorded_trace()), "]"]
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
            self._shipping(result.free_shipping),
        ]
        rare = _RARE_OF(result)
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

    # -- the rarer effects, as their models write them (`rare_by_model` False) ----------------------

    @staticmethod
    def _each(write: Callable[[Any], str]) -> Callable[[Any], str]:
        return lambda values: f"[{','.join(map(write, values))}]"

    def free_shipping(self, value: FreeShipping | None) -> str:
        if value is None:
            return "null"
        _model(value, FreeShipping)
        return f'{{"rule":{_text(value.rule)},"amount":{self.number(value.amount)}}}'

    def coupon_issued(self, value: CouponIssued) -> str:
        _model(value, CouponIssued)
        return (
            f'{{"rule":{_text(value.rule)},"coupon":{_text(value.coupon)},"code":{_text(value.code)},'
            f'"expires_at":{self.moment(value.expires_at)}}}'
        )

    def badge(self, value: BadgeAwarded) -> str:
        _model(value, BadgeAwarded)
        return f'{{"rule":{_text(value.rule)},"badge":{_text(value.badge)}}}'

    def tier_change(self, value: TierChange) -> str:
        _model(value, TierChange)
        return f'{{"old":{_null(value.old)},"new":{_null(value.new)},"reason":{_text(value.reason)}}}'

    def notification(self, value: Notification) -> str:
        _model(value, Notification)
        at = value.at
        return (
            f'{{"rule":{_text(value.rule)},"channel":{_text(value.channel)},'
            f'"template":{_text(value.template)},"at":{"null" if at is None else self.moment(at)}}}'
        )

    def draw_entry(self, value: DrawEntry) -> str:
        _model(value, DrawEntry)
        count = value.count
        if type(count) is not int:
            raise UnexpectedValueError(f"{count!r} is not an int")
        return f'{{"rule":{_text(value.rule)},"draw":{_text(value.draw)},"count":{count}}}'

    def points_change(self, value: PointsChange) -> str:
        _model(value, PointsChange)
        return (
            f'{{"kind":{_text(value.kind)},"lot":{_text(value.lot)},'
            f'"points":{self.number(value.points)},"at":{self.moment(value.at)}}}'
        )

    def budget_release(self, value: BudgetRelease) -> str:
        _model(value, BudgetRelease)
        return (
            f'{{"rule":{_text(value.rule)},"period":{_text(value.period)},'
            f'"points":{self.number(value.points)}}}'
        )

    def _ledger_entries(self, entries: list[LedgerEntry]) -> str:
        return f"[{','.join(map(self.ledger_entry, entries))}]"

    def ledger_entry(self, entry: LedgerEntry) -> str:
        """One ledger entry. Its fields are read from the model's `__dict__` in one call (each
        attribute read of a pydantic model passes its `__getattr__` hook), and the parts its rule
        decides (`rule` and `kind`, `version` and `rule_hash`: the same objects at every event)
        are written once and kept (`_rules`); the event's text is kept from the entry before."""
        if type(entry) is not LedgerEntry:
            raise UnexpectedValueError(f"{entry!r} is not a LedgerEntry")
        event, rule, kind, points, lot, at, version, rule_hash, lines = _LEDGER_ENTRY(entry.__dict__)
        held = self._rules.get(rule)
        if (
            held is None
            or held[0] is not rule
            or held[1] is not kind
            or held[2] is not rule_hash
            or held[3] is not version
        ):
            if type(version) is not int:
                raise UnexpectedValueError(f"{version!r} is not an int")
            held = (
                rule,
                kind,
                rule_hash,
                version,
                f',"rule":{_text(rule)},"kind":{_text(kind)},"points":',
                f',"version":{version},"rule_hash":{_null(rule_hash)},"lines":[',
            )
            if len(self._rules) >= _VERDICTS:
                self._rules.clear()
            self._rules[rule] = held
        if self._event[0] is not event:
            self._event = (event, _text(event))
        number = self.number
        written = []
        for line in lines:
            if type(line) is not LedgerLine:
                raise UnexpectedValueError(f"{line!r} is not a LedgerLine")
            index, share = _LEDGER_LINE(line.__dict__)
            if type(index) is not int:
                raise UnexpectedValueError(f"{index!r} is not an int")
            written.append(f'{{"line":{index},"points":{number(share)}}}')
        return (
            f'{{"event":{self._event[1]}{held[4]}{number(points)},"lot":{_text(lot)},'
            f'"at":{self.moment(at)}{held[5]}{",".join(written)}]}}'
        )

    def trace(self, entries: Sequence[Verdict | RuleTrace]) -> str:
        """The trace's entries, comma-separated: those kept by identity (`_entries`) found here."""
        known = self._entries.get
        written = self._written
        texts = []
        for entry in entries:
            held = known(id(entry))
            if held is not None and held[0] is entry and not entry[5]:  # `failing` still empty
                texts.append(held[1])
            else:
                texts.append(written(entry))
        return ",".join(texts)

    def verdict(self, entry: Verdict | RuleTrace) -> str:
        """One trace entry: a `Verdict` as the `RuleTrace` it stands for would be written."""
        held = self._entries.get(id(entry))
        found = held is not None and held[0] is entry and not entry[5]  # `failing` still empty
        return held[1] if found and held is not None else self._written(entry)

    def _written(self, entry: Verdict | RuleTrace) -> str:  # `verdict`, not found by identity
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
        hint = (str(hint) if type(hint) is Text else hint) if given & 2 and hint is not None else None
        number = "null" if not given & 4 or amount is None else self.number(amount)
        if not given & 8:
            unit = None
        key = None
        if not (given & 1 and failing):  # no failing conditions: the text's only inputs are these
            key = (rule, kind, fired, code, reason, hint, number, unit)
            text = self._verdicts.get(key)
            if text is not None:
                return text  # not kept by identity (`_by_identity`)
        failed = ",".join(map(encode_basestring, failing)) if given & 1 and failing else ""
        text = (
            f'{{"rule":{encode_basestring(rule)},"kind":{encode_basestring(kind)},'
            f'"fired":{"true" if fired else "false"},"code":{encode_basestring(code)},'
            f'"reason":{encode_basestring(reason)},"failing":[{failed}],'
            f'"hint":{"null" if hint is None else encode_basestring(hint)},'
            f'"amount":{number},"unit":{_null(unit)},"condition":null}}'
        )
        if key is not None:
            if len(self._verdicts) >= _VERDICTS:
                self._verdicts.clear()
            self._verdicts[key] = text
            self._by_identity(entry, text)
        return text

    def _by_identity(self, entry: Verdict, text: str) -> None:
        """Keep `text` for `entry` itself (`_entries`): a verdict without failing conditions or an
        explained condition, whose fields (strings, a bool, a decimal) change no more, but for a
        `failing` list given empty (a generated stage's constant `failing=[]`), checked still
        empty. Only one of new values (a constant one, at its first event): one found by its values
        is most likely made anew at every event (a fired rule's), never seen again: keeping those
        filled `_entries` to `_VERDICTS` every ~600 purchases (bench/README.md, session 31)."""
        entries = self._entries
        if len(entries) >= _VERDICTS:
            entries.clear()
        entries[id(entry)] = (entry, text)


STORED = OutcomeWriter(_quoted_number, _pydantic(dt.datetime), _pydantic, ledger_by_model=True)
"""What a store keeps: `Outcome.model_dump_json(exclude={"state"})`, byte for byte."""


# -- the stored text and the service's answer written in one pass -------------------------------
#
# The service stores an event's outcome (`STORED`) and answers with it (numbers as numbers, moments
# as `isoformat` writes them, no trace: http/answers.py), two texts that differ only in how a value
# is written. Writing each on its own walked the result twice (~52 + ~44 µs of a request at
# concurrency 64). `OutcomeTexts` walks it once, writing each such value in both forms between
# marks: `_MARK`, the stored form, `_MARK`, the answered form, `_MARK`. Split at the marks, the
# text is its pieces in threes — the text between two values, a value's stored form, its answered
# form — so that each text is the join of every third piece dropped (`_joined`: a split, a slice
# deleted and a join, all C; deleting the marks with `str.replace` and stripping each number's
# trailing zeros after a split cost four times as much, counted; a mark a differing character,
# replaced by `str.replace`, `str.translate` or `bytes.translate`, 67k, 126k or 57k: more than the
# split's ~49k). The rarer effects, which the two writers wrote by their models (the answer's
# slowly: http/answers.py `Writer`), are written by the writer's own methods with the same marks.
# JSON text holds no raw control character (every writer here escapes them): no mark is mistaken.

_MARK = "\x01"
_MINUTE = dt.timedelta(minutes=1)

_KEPT = 4096
"""The most numbers' and moments' marked texts kept (`_MARKED`, `_MOMENTS`, `_DAYS`)."""

_MARKED: dict[str, str] = {}
"""Marked numbers by their decimal's `str`: an event's numbers are mostly a few amounts and
points seen before (`3`, `991.00`), and the marks cost more than the lookup."""


def _marked_number(value: Decimal) -> str:
    """A decimal in both forms: `"320.00"` stored, `320` answered (as `jsonio` writes it). One of
    the money module's small whole numbers (`SMALL`: most line shares and awards' points, about
    half an event's numbers) by its identity, written once; another by its text (`_MARKED`)."""
    known = _SMALL_MARKED.get(id(value))
    if known is not None:
        return known
    if type(value) is not Decimal:  # first: an int's or a float's `str` may be a decimal's
        raise UnexpectedValueError(f"{value!r} is not a Decimal")
    text = str(value)
    known = _MARKED.get(text)
    if known is not None:
        return known
    if "E" in text or "N" in text or "n" in text:  # an exponent, NaN, Infinity: the writers' own way
        raise UnexpectedValueError(f"{value!r} is written apart")
    answered = text.rstrip("0").rstrip(".") if "." in text else text
    marked = f'{_MARK}"{text}"{_MARK}{answered}{_MARK}'
    if len(_MARKED) >= _KEPT:
        _MARKED.clear()
    _MARKED[text] = marked
    return marked


_SMALL_MARKED = {id(number): f'{_MARK}"{number}"{_MARK}{number}{_MARK}' for number in SMALL}
"""The marked text of each of `money.SMALL`'s decimals (whole, no exponent: no trailing zeros) by
its identity: they live as long as the process, so no other object ever has one of their ids."""

_MOMENTS: dict[int, tuple[dt.datetime, str]] = {}
"""Marked moments by identity, each kept with its moment (so that no other object has its id
while it is here): an event's awards share one `available_at`, its ledger entries one `at`."""

_TWO = tuple(f"{n:02}" for n in range(100))
_THREE = tuple(f"{n:03}" for n in range(1000))
_DAYS: dict[dt.date, str] = {}
"""Days' `isoformat()` by the day: an event's moments fall on a few days."""


def _at_utc(value: dt.datetime) -> str:
    """`value.isoformat()` without its `+00:00`, for a moment at UTC: its day's text kept
    (`_DAYS`), its time's from tables. `isoformat` formats each of its seven numbers by `sprintf`
    (~11.8k instructions a moment, counted); this costs less than half of it."""
    day = value.date()
    date = _DAYS.get(day)
    if date is None:
        if len(_DAYS) >= _KEPT:
            _DAYS.clear()
        date = _DAYS[day] = day.isoformat()
    two = _TWO
    time = f"{date}T{two[value.hour]}:{two[value.minute]}:{two[value.second]}"
    micro = value.microsecond
    return f"{time}.{_THREE[micro // 1000]}{_THREE[micro % 1000]}" if micro else time


def _marked_moment(value: dt.datetime) -> str:
    """An aware moment in both forms: pydantic's (`…Z` at UTC) stored, `isoformat`'s answered.
    The two differ only by the UTC offset's spelling for an offset of whole minutes; another
    (seconds in the offset) is written apart."""
    held = _MOMENTS.get(id(value))
    if held is not None and held[0] is value:
        return held[1]
    if type(value) is not dt.datetime:
        raise UnexpectedValueError(f"{value!r} is not a datetime")
    if value.tzinfo is dt.UTC:  # the usual case (engine/events.py `fixed_offset`)
        text = _at_utc(value)
        marked = f'{_MARK}"{text}Z"{_MARK}"{text}+00:00"{_MARK}'
    else:
        offset = value.utcoffset()
        if offset is None or offset % _MINUTE:
            raise UnexpectedValueError(f"{value!r}: its offset is written apart")
        text = value.isoformat()
        marked = f'{_MARK}"{text[:-6]}Z"{_MARK}"{text}"{_MARK}' if not offset else f'"{text}"'
    if len(_MOMENTS) >= _KEPT:
        _MOMENTS.clear()
    _MOMENTS[id(value)] = (value, marked)
    return marked


def _joined(pieces: list[str], dropped: int) -> str:
    """The text of `pieces` (a marked text split at its marks) with each value's other form (every
    third piece from `dropped`: 2 the answered forms, 1 the stored ones) left out."""
    kept = pieces.copy()
    del kept[dropped::3]
    return "".join(kept)


def stored_text(marked: str) -> str:
    """What `STORED` writes, from `OutcomeTexts`' marked text."""
    return _joined(marked.split(_MARK), 2)


def answered_text(marked: str) -> str:
    """What the answer's writer writes (http/answers.py `OUTCOME`), from the marked text."""
    return _joined(marked.split(_MARK), 1)


class OutcomeTexts:
    """A result's outcome as a store keeps it (`STORED.write`) and as the service answers it
    (without the trace), written in one pass (the marks above)."""

    def __init__(self) -> None:
        self._marked = OutcomeWriter(
            _marked_number, _marked_moment, _apart, ledger_by_model=False, rare_by_model=False
        )

    def write(self, result: Result) -> tuple[str, str]:
        """(`STORED.write(result)`, the answer's outcome without its trace). Raises
        `UnexpectedValueError` as the writers do, and for a value the two write apart (a number
        with an exponent, an offset with seconds): write each on its own then."""
        marked = self._marked
        pieces = "".join(marked.head(result)).split(_MARK)
        trace = STORED.trace(result.recorded_trace())
        pieces += (f',"trace":[{trace}]', "")  # a value of the stored text alone, in the threes
        pieces += f',"tier_progress":{marked.progress(result.tier_progress)}}}'.split(_MARK)
        return _joined(pieces, 2), _joined(pieces, 1)
