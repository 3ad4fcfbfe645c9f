"""The states a store object holds, so that it does not read again what it read or wrote last.

An SQL store keeps, for the customers it saw most recently, the state it handed out or wrote and
the revision of the customer's row at that moment (lists.Held). Under the customer's lock it then
reads the revision only: the same revision is the same state (every write of a state raises it,
whichever process writes), and the held state is used as it is; another revision, and the state is
read from the database. So workers and processes sharing a database stay correct; a worker that
sees the same customers again and again reads a few bytes per event instead of a state.

Bounded, so that a process's memory does not grow with the number of customers a store has: at
most `size` customers, least recently used first out, and at most `size × ELEMENTS` elements of
their long lists in all (the customer used last is held whatever its size). A state's memory is
about its list elements': a coffee-club customer with a year of 1,000 purchases holds about 11,700
of them, ~26 MB of Python objects (~2.2 KB each); one with 15 purchases ~180, 0.3 MB. So by default
(256 customers, 256,000 elements) a store object holds at most about 600 MB of states, and much less
for ordinary customers. `size=0` holds nothing.

What a transaction rolled back wrote must not stay held: the SQL store puts a state here only once
its write is committed (a group's states once the group commits), never what a transaction or group
rolled back wrote (sql_writing.py, batch.py).

**Working states.** With a held state the cache may hold the customer's working state
(state/working.py) that stands for it, so that the customer's next event is decided on it in place
(`Stream.step`) instead of making one from the state again. The step changes a working state in
place, so it is handed out only once (`take`: it leaves the cache) and given back only with the
state it then stands for, once that is committed (`put`): a transaction or group that fails after
the step never leaves a working state ahead of the held state behind. It costs the tuples of its
lots, activity and ids (the models are the held state's, shared) and its cold state: counted in the
bound as many elements again as the held state's, and `WORKING` more (measured on the coffee-club
year: a replay holding working states beside its states, not counted, grew to 836 MB of RSS over
100,000 lines, against 248 MB without them; counted by their lists alone, still ~28 KB more per
customer held, most customers being small early in the year). And a working state the cache lets
go of is freed at once (`let_go`), not left to the cyclic collector. Put with the state it stands
for, it adopts that state (`Working.adopt`): the held state's long lists are on storages of their
own (lists.py `owned`), and the next event's public state must move those windows on for the store
to write the rows that changed by the windows' bounds, not copy and compare the lists again. A
change that writes a state of its own (an `advance`, a `put`, an event decided by `Engine.process`)
does not let go of the customer's working state: it is made to stand for that state
(sql_writing.py `_carried_on`), loaded by what moved since the state it adopted.
"""

from __future__ import annotations

from collections import OrderedDict

from rules_engine.state.customer import CustomerState
from rules_engine.state.working import Working
from rules_engine.store.lists import Held

DEFAULT_SIZE = 256
"""Customers held per store object by default (`open_store(..., cache=N)`, `?cache=N`)."""

REPLAY_SIZE = 8_192
"""Customers held by a replay's store object (`loyalty run --db`) unless `?cache=N` says otherwise;
what bounds its memory is `REPLAY_ELEMENTS`. A replay's customers interleave: in the coffee-club
year of 12,500 customers an event's customer was last seen ~2,000-5,000 events earlier (a day is
~2,800 events), so a cache of 64 or 256 customers found ~5-8 % of them, and only one of thousands
finds most (an LRU of 3,000 customers ~56 %, 5,000 ~86 %, simulated on events 150,000-200,000)."""

REPLAY_ELEMENTS = 150_000
"""List elements a replay's store object holds in all, unless `?cache=N` says otherwise (then
`N × ELEMENTS`): ~160 MB at the ~1.1 KB a read element takes (lists.py, `_share_fields`), so that
the replay stays well under issue 14's 500 MB whatever its number of customers."""

WORKING = 25
"""List elements a working state counts for besides as many as its held state's: its cold state,
sets and deques, ~28 KB measured, at the ~1.1 KB an element of a state read takes."""

ELEMENTS = 1_000
"""List elements held per customer of `size`, on average: the bound on memory (module docstring)."""


class Cache:
    def __init__(self, size: int = DEFAULT_SIZE, budget: int | None = None) -> None:
        """At most `size` customers and `budget` list elements (default `size × ELEMENTS`)."""
        self.size = size
        self.budget = size * ELEMENTS if budget is None else budget
        self.elements = 0
        """List elements held, in all."""
        self._held: OrderedDict[str, Held] = OrderedDict()
        self._working: dict[str, Working] = {}
        """The working states that stand for held states, by customer (the module docstring)."""

    def get(self, customer: str, revision: int) -> Held | None:
        """The held state of the customer if it is still the database's (same revision)."""
        held = self._held.get(customer)
        if held is None:
            return None
        if held.revision != revision:
            self.drop(customer)
            return None
        self._held.move_to_end(customer)
        return held

    def take(self, customer: str, revision: int) -> Working | None:
        """The working state that stands for the customer's held state at this revision, handed
        out: it leaves the cache (the step changes it in place) until `put` gives it back."""
        working = self._working.pop(customer, None)
        held = self._held.get(customer)
        if working is not None and held is not None:
            self.elements -= held.weight + WORKING  # its share of the bound (`put`)
        if held is not None and held.revision == revision:
            return working
        if working is not None:
            let_go(working)
        return None

    def put(self, customer: str, held: Held, working: Working | None = None) -> None:
        """Hold the customer's state (committed), and the working state that stands for it, if any."""
        if self.size <= 0:
            return
        self.drop(customer, keep=working)
        self._held[customer] = held
        self.elements += held.weight
        if working is not None:
            working.adopt(held.state)  # its lists on the held state's storage: the next event's
            self._working[customer] = working  # public state moves their windows on
            self.elements += held.weight + WORKING
        while len(self._held) > 1 and (len(self._held) > self.size or self.elements > self.budget):
            out_customer, out = self._held.popitem(last=False)
            gone = self._working.pop(out_customer, None)
            self.elements -= _counted(out, gone)
            if gone is not None:
                let_go(gone)

    def drop(self, customer: str, *, keep: Working | None = None) -> None:
        """Hold nothing of the customer (their working state let go of, unless it is `keep`)."""
        out = self._held.pop(customer, None)
        working = self._working.pop(customer, None)
        if out is not None:
            self.elements -= _counted(out, working)
        if working is not None and working is not keep:
            let_go(working)

    def __len__(self) -> int:
        return len(self._held)


def _counted(held: Held, working: Working | None) -> int:
    """The elements a held state counts for in the bound, with its working state if any."""
    return held.weight if working is None else 2 * held.weight + WORKING


_NOTHING = CustomerState()


def let_go(working: Working) -> None:
    """Break the reference cycles a working state is part of, so that it is freed when its last
    reference goes: the step's view of its lots (engine/step.py `_Lots`, `Working.lots_view`) reads
    the working state, and the working state's cold state reads the lots through the view. Left to
    the cyclic collector, which a replay runs rarely (collector.py), the working states a cache
    lets go of piled up: a replay's RSS grew to 1 GB over 75,000 lines of the coffee-club year
    (429 MB against 170 MB over 45,000 lines, the collector tuned or not). The working state is
    not used afterwards: `defer` lets go of its cold state (its compact parts stashed: deques
    with no cycle), and the view is dropped."""
    working.defer(_NOTHING)
    working.lots_view = None
