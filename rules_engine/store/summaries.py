"""A customer's summary row (store/lists.py `summary`: the state's JSON without its long lists),
with its challenges written from what did not change since the customer's last summary.

Every event an SQL store writes rewrites the customer's summary: ~240k instructions through
pydantic for a coffee-club regular, ~7 % of an SQLite event, and 150k of them are the challenges:
each challenge's purchases of the current window with their lines (what a return takes back),
three decimals a line, each written by a Python call from pydantic's serializer. An event adds
one purchase to a window; the engine keeps the others' records — the same `CountedPurchase`
objects, frozen, never changed once made (the identity store/lists.py relies on for the long
lists). So a `Summaries` keeps per customer the text of each challenge progress and counted
purchase its last summary wrote, by identity, and writes the challenges from them: a record that
is the same object is its text again, a new one is written by pydantic's serializer of its class.
The rest of the summary is pydantic's, in two parts: the fields before the challenges (the
pending lots, counters, visits, the latest event's time: new at every event), and those after,
written again only when one of their values is not the same object as last time.

Not for a customer's first purchases: written in parts, a summary costs three pydantic calls and
one per counted purchase, each with a fixed cost well beyond its text's, and there is little to
reuse yet. With fewer than `FEW` counted purchases in all, the summary is pydantic's in one call,
and no texts are kept (counted with callgrind on the states the service's groups write, 400
coffee-club purchases of 300 customers, one or two counted purchases each: 126k instructions a
summary in one call against 194k in parts; with five, 236k against 151k).

Anything the writer does not expect (a progress whose values are not of the types it writes) is
written by pydantic. Byte-equal to `summary` (tests/store/test_summaries.py).
"""

from __future__ import annotations

import operator
from collections import OrderedDict
from decimal import Decimal
from json.encoder import encode_basestring
from typing import Any

from pydantic import TypeAdapter

from rules_engine.state.customer import ChallengeProgress, CountedPurchase, CustomerState
from rules_engine.store.lists import PARTS, summary

Memo = dict[int, tuple[Any, str]]
"""The texts of the records a summary held: id → (the record, kept alive so that its id stays its
own, its text); and the part after the challenges (`_TAIL`: its values, its text)."""

_FIELDS = [name for name in CustomerState.model_fields if name not in PARTS]
_AT = _FIELDS.index("challenges")
_BEFORE = set(_FIELDS[:_AT])
_AFTER_NAMES = tuple(_FIELDS[_AT + 1 :])
_AFTER = set(_AFTER_NAMES)
"""The summary's fields before the challenges and after them (pydantic writes both parts; the
part after, the quests, streaks, offers … that few events change, is its last text again when its
values are the same objects)."""
_TAIL = -1
"""The memo's key of the part after the challenges (no id: ids are never negative)."""

_PROGRESS = TypeAdapter(ChallengeProgress).serializer
_COUNTED = TypeAdapter(CountedPurchase).serializer
_WRITES = tuple(ChallengeProgress.model_fields) == ("window", "progress", "completed", "counted")
"""Whether a progress is written here (its fields as `_progress` writes them), else by pydantic."""


FEW = 3
"""Below this many counted purchases in all the challenges, the summary is pydantic's whole
(`summary`), and no texts are kept: the parts and records written one call each cost more than one
call for all of it, and a customer's first purchases have nothing to reuse yet (module
docstring)."""


class Summaries:
    """The challenges' texts of at most `size` customers' last summaries (the module docstring);
    a store object's, used by one thread at a time. Size 0: every summary pydantic's whole."""

    def __init__(self, size: int, *, few: int = FEW) -> None:
        self.size = size
        self.few = few
        """Below this many counted purchases, the summary is pydantic's whole (`FEW`; 0: never)."""
        self._memos: OrderedDict[str, Memo] = OrderedDict()

    def write(self, customer: str, state: CustomerState) -> str:
        """The state's summary (lists.py `summary`), its unchanged challenge records' texts reused."""
        challenges = state.challenges
        if self.size <= 0 or not challenges or not _WRITES:
            return summary(state)
        memos = self._memos
        if self.few and _records(challenges) < self.few:  # in one call it costs less (module docstring)
            memos.pop(customer, None)
            return summary(state)
        old = memos.pop(customer, {})
        new: Memo = {}
        parts = []
        for key, progress in challenges.items():
            found = old.get(id(progress))
            text = found[1] if found is not None and found[0] is progress else _progress(progress, old, new)
            new[id(progress)] = (progress, text)
            parts.append(encode_basestring(key) + ":" + text)
        values = state.__dict__
        after = tuple([values[name] for name in _AFTER_NAMES])
        kept = old.get(_TAIL)
        if kept is not None and all(map(operator.is_, kept[0], after)):
            tail = kept[1]
        else:
            tail = state.__pydantic_serializer__.to_json(state, include=_AFTER).decode()
        new[_TAIL] = (after, tail)
        memos[customer] = new
        if len(memos) > self.size:
            memos.popitem(last=False)
        head = state.__pydantic_serializer__.to_json(state, include=_BEFORE).decode()  # lists.summary
        return head[:-1] + ',"challenges":{' + ",".join(parts) + "}," + tail[1:]

    def drop(self, customer: str) -> None:
        """Forget the customer's texts (erased: nothing of theirs is kept)."""
        self._memos.pop(customer, None)


def _records(challenges: dict[str, Any]) -> int:
    """How many counted purchases the challenges hold (those of a type the writer writes)."""
    return sum(
        [
            len(progress.counted)
            for progress in challenges.values()
            if type(progress) is ChallengeProgress and type(progress.counted) is dict
        ]
    )


def _progress(progress: Any, old: Memo, new: Memo) -> str:
    """A challenge's progress as pydantic writes it, each counted purchase's text reused when it is
    the same record as one the customer's last summary wrote."""
    window, amount, completed, counted = (
        progress.window,
        progress.progress,
        progress.completed,
        progress.counted,
    )
    if (
        type(progress) is not ChallengeProgress
        or type(window) is not str
        or type(amount) is not Decimal
        or type(completed) is not list
        or type(counted) is not dict
        or not all(type(done) is str for done in completed)
        or not all(type(event) is str for event in counted)
    ):
        return _PROGRESS.to_json(progress).decode()
    records = []
    for event, record in counted.items():
        found = old.get(id(record))
        text = found[1] if found is not None and found[0] is record else _COUNTED.to_json(record).decode()
        new[id(record)] = (record, text)
        records.append(encode_basestring(event) + ":" + text)
    return (
        '{"window":'
        + encode_basestring(window)
        + ',"progress":"'
        + str(amount)
        + '","completed":['
        + ",".join(map(encode_basestring, completed))
        + '],"counted":{'
        + ",".join(records)
        + "}}"
    )
