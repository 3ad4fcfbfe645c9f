"""The ids of the events a state has processed (`CustomerState.processed`), as a set: the
duplicate check of every event in one look rather than a scan of up to 1,000 ids.

The state keeps the ids as a list (its JSON, and a store's rows, are a list in order: the latest
1,000). Looking an id up in it compares it with every id (~14 µs for 1,000 here, each event of a
long history). A set of the same ids is kept beside the list, keyed by the list's identity: a
state's lists are never changed once in a state, so a list and its set stay equal for as long as
both live. The next state's list (the ids less the oldest, plus the event's: `settle.kept`) takes
the set over, changed by those two ids, instead of building its own: an event of a customer whose
state came from the previous event pays two set operations. A state met for the first time (read
from JSON, or an older state used again) builds its set once, at about the cost of one scan.

Only long lists get a set (a short one is scanned as fast). The set is kept on the list itself
when the list is a `SharedList` (a long list the engine made: state/shared.py's `Memo`), and dies
with it: a set for the states in use, however many customers are interleaved, and none for a state
no longer in use; a plain list's goes to a table of at most `KEPT` sets. A lock
keeps a set from being changed while another thread reads it (`Engine.process` may run on many
threads, even on the same state).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from rules_engine.state.shared import Memo, SharedList

SHORT = 48
"""Lists shorter than this are scanned: as fast as a set's look-up, and no set to keep."""
KEPT = 256
"""At most this many sets of plain lists are kept (a set of 1,000 ids is about 32 KB)."""

# Each "set" is a dict of the ids to None: looked up as fast, and, holding only strings, not
# tracked by the garbage collector (a set always is: the collector's passes walked every long-lived
# customer's 1,000 ids, ~7k instructions an event of a long history in bench/instructions.py).
_SETS: Memo[dict[str, None]] = Memo("memo_ids", KEPT)
_LOCK = threading.Lock()


def seen(processed: Sequence[str], event: str) -> bool:
    """Whether `event` is among the ids `processed` (the same answer as `event in processed`)."""
    if type(processed) is not SharedList and len(processed) < SHORT:  # (a `SharedList`'s `len()`
        return event in processed  # is a Python call; it is long, or a set answers as well)
    with _LOCK:
        known = _SETS.get(processed)
        if known is not None:
            return event in known
        ids = dict.fromkeys(processed)
        _SETS.put(processed, ids)
        return event in ids


def carried(before: Sequence[str], after: Sequence[str], dropped: Sequence[str], event: str) -> None:
    """`after` is `before` less its first ids `dropped`, plus `event` (a new list: `settle.kept`):
    the set of `before`, if one is kept, becomes `after`'s, changed by those ids. Nothing is kept
    when the ids are not all distinct (a state written by hand may repeat one: taking an id out of
    the set would then lose it) or when `event` is among them already."""
    if type(after) is not SharedList and len(after) < SHORT:  # (as in `seen`)
        return
    with _LOCK:
        ids = _SETS.take(before)
        if ids is None or len(ids) != len(before) or event in ids:
            return
        for gone in dropped:  # (usually one: the oldest id)
            ids.pop(gone, None)
        ids[event] = None
        _SETS.put(after, ids)
