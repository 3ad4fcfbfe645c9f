"""Each applied event's outcome, as a store keeps it: compressed JSON.

A store keeps every event's outcome (without the state) to answer a redelivery with exactly what
the first delivery got, and for `void`, which reads what an event did. It is the one row written
per event that is never read again in the common case, and the largest: ~2.9 KB of JSON for a
coffee-club event, most of it the trace's repeated keys and reasons, about half of the database.
zlib (the standard library's, level 1) keeps it in ~0.8 KB for ~25-55 µs per event, a few percent
of an event's cost in a store; reading one back (a redelivery, a void) costs ~10 µs more. Level 6
and up save 7 % more bytes for 15 % more time: not worth it on the write path.

Rows written before migration 10 keep their outcome as text and read as before.
"""

from __future__ import annotations

import zlib

LEVEL = 1


def pack(outcome: str) -> bytes:
    return zlib.compress(outcome.encode(), LEVEL)


def unpack(text: str | None, packed: bytes | memoryview | None) -> str:
    """The outcome JSON of a row: `packed` when the row has it (migration 10 on), else its text."""
    if packed is None:
        return str(text)
    return zlib.decompress(packed).decode()
