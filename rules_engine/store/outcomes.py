"""Each applied event's outcome, as a store keeps it: compressed JSON.

A store keeps every event's outcome (without the state) to answer a redelivery with exactly what
the first delivery got, and for `void`, which reads what an event did. It is the one row written
per event that is never read again in the common case, and the largest: ~2.9-3.9 KB of JSON for a
coffee-club event, most of it the trace's repeated keys and reasons, about half of the database.

**zstd against a trained dictionary (migration 14 on).** An outcome is packed by Zstandard
(`zstandard`, the reference library's binding: C, wheels for every platform we run on) at level 1
against `outcomes.zdict`, a 16 KB dictionary trained by zstd's trainer on the stored outcomes of
the five example programs (scripts/outcome-dictionary.py, deterministic). Measured on the service
bench's coffee-club purchases (CPU a pack, best of rounds, and bytes an outcome): zlib as below
25.2 µs, 817 bytes; zstd with this dictionary 4.5 µs, 459 bytes. A program of a user's does not
share the examples' rule names: a dictionary trained without one example program still packed
that program's outcomes 4-7× faster than zlib, in 3-36 % fewer bytes (bench/README.md, "zstd").
Reading one back is faster too. Each frame names its dictionary (zstd's dictionary id, written by
the trainer into the dictionary and by the compressor into each frame's header) and carries its
content size and a checksum; `unpack` finds the dictionary by that id among `ZSTD_DICTIONARIES`,
so a better dictionary is a new file with a new id beside the old one, never a change of one. A
version before migration 14 cannot read such a row: the migration keeps it from opening the
database. zstd's contexts are not safe for two threads at once: each thread packs and unpacks with
its own (`_contexts`).

**Rows packed before (migrations 10-13): zlib, read as they were.** zlib (the standard
library's) at level 2, for an outcome of up to ~5.9 KB in an 8 KB window (`wbits` 13, `memLevel`
6), from migration 13 against `DICTIONARY`, a preset dictionary (zlib's `zdict`) of an outcome's
common text, which the row's zlib header names by its Adler-32 (RFC 1950's FDICT flag and DICTID)
and `unpack` finds among `DICTIONARIES`; rows packed before it have no FDICT flag and are plain
zlib. (What was measured then: the dictionary 1,131 → 794 bytes an outcome and ~10 % less CPU; the
small window 779.5 → 734.2 bytes and 294k → 249k instructions a pack, most of the difference the
hash table's clearing; every other level, window, `memLevel`, strategy and a primed `copy()` of a
compressor measured and none paying: the pack was deflate's own work, ~25 µs.)

**The trace, measured (2026-12-06): kept as text.** A coffee-club purchase's trace is 2,247 of
its 3,589 bytes of JSON and 400 of its 738 packed by zlib; packing it was 75k of a pack's 252k
instructions. Two compact forms were measured and not kept: the entries as arrays without their
keys (−7 % a pack: zlib's long matches over the repeated keys were cheap, its cost the rule names
and reasons), and the keys replaced by control characters (ten passes over the text costing more
than they saved). A trained dictionary holds the keys, codes and reasons a trace repeats; a trace
of rule indices and reason codes rendered from the deciding version would need that version's
engine for every reader of a stored outcome: not done.

Rows written before migration 10 keep their outcome as text and read as before.
"""

from __future__ import annotations

import threading
import zlib
from importlib import resources

import zstandard

ZSTD_LEVEL = 1

TRAINED = resources.files(__package__).joinpath("outcomes.zdict").read_bytes()
"""The dictionary outcomes are packed against (`outcomes.zdict`; the module docstring). Never
changed once shipped: rows name it by its id (`TRAINED_ID`; a test pins its bytes)."""

TRAINED_ID = zstandard.ZstdCompressionDict(TRAINED).dict_id()

ZSTD_DICTIONARIES: dict[int, zstandard.ZstdCompressionDict] = {
    TRAINED_ID: zstandard.ZstdCompressionDict(TRAINED, dict_type=zstandard.DICT_TYPE_FULLDICT)
}
"""Every zstd dictionary a packed outcome may name, by its id (each frame's header names it)."""

LARGEST = 64 << 20
"""The most bytes a packed outcome may unpack to (64 MB; an explained outcome is tens of KB): a
damaged row claiming more is refused before anything is allocated for it (`pack` always writes
the content size in the frame)."""

_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
"""The first four bytes of a zstd frame (RFC 8878); never a zlib stream's (whose first two bytes,
read as a number, are a multiple of 31: 0x28B5 is not)."""

DICTIONARY = (
    b'"dry_run":false,"explain":null,"state":null,"warnings":[],"errors":[],'
    b'"kind":"redeem","kind":"expire","kind":"adjust","kind":"void","kind":"return",'
    b'"code":"budget_exhausted","code":"not_yet","code":"cooldown","code":"expired",'
    b'"unit":"percent","unit":"money","unit":"points","unit":"coupon",'
    b'"kind":"coupon","kind":"tier","kind":"referral","kind":"birthday","kind":"streak","kind":"quest",'
    b'"kind":"challenge","kind":"badge",'
    b'"code":"wrong_event","code":"capped","code":"nothing_eligible","reason":"no birthday on file",'
    b'"reason":"already earned","reason":"purchase is not one of: ",'
    b'{"tier":"","metric":"","window":"rolling 365d","next":"","needed":""}'
    b'"tier_progress":{"tier":null,"metric":"0","window":null,"next":null,"needed":null},'
    b'"fired":true,"code":"fired","reason":" off","reason":" points",'
    b'"amount":"","unit":"money","condition":null},{"rule":"'
    b'"amount":"","unit":"points","condition":null},{"rule":"'
    b'"ledger":[{"event":"","rule":"","kind":"earn","points":"","lot":"","at":"T:Z","version":,'
    b'"rule_hash":"","lines":[{"line":0,"points":""},{"line":1,"points":""}]}],'
    b'"totals":{"basket":".00","discount":"0","shipping":"0","to_pay":".00","earning_base":".00","points":""},'
    b'"discounts":[{"rule":"","amount":".00","lines":[{"line":,"sku":"","amount":".00"}]}],'
    b'{"program":"","version":,"event":"","customer":"","effects":{"points":[{"rule":"","points":"",'
    b'"lines":[{"line":0,"sku":"","amount":""},{"line":1,"sku":"","amount":""}],"available_at":"2026-T:Z"}],'
    b'"discounts":[],"free_shipping":null,"coupons_issued":[],"coupons_redeemed":[],"badges":[],"tier_changes":[],'
    b'"notifications":[],"draw_entries":[],"points_changes":[],"budgets_released":[],"referral_owed":null},'
    b'"trace":[{"rule":"","kind":"discount","fired":false,"code":"condition_false",'
    b'"reason":"condition is false",'
    b'"failing":[],"hint":null,"amount":null,"unit":null,"condition":null},{"rule":"","kind":"earn","fired":false,'
    b'"code":"condition_false","reason":"condition is false","failing":[],"hint":null,'
    b'"amount":null,"unit":null,'
    b'"condition":null},{"rule":"'
)
"""The preset dictionary outcomes were packed against by zlib from migration 13 to 14 (the module
docstring): kept to read those rows, which name it by its Adler-32 (`DICTIONARY_ID`; a test pins
it)."""

DICTIONARY_ID = zlib.adler32(DICTIONARY)

DICTIONARIES: dict[int, bytes] = {DICTIONARY_ID: DICTIONARY}
"""Every dictionary a packed outcome may name, by its Adler-32 (the zlib header's DICTID)."""

_FDICT = 0x20
"""The zlib header's flag (its second byte) of a stream deflated against a preset dictionary."""


class _Contexts(threading.local):
    """This thread's zstd compressor and decompressors (a context serves one thread at a time)."""

    def __init__(self) -> None:
        self.packer = zstandard.ZstdCompressor(
            level=ZSTD_LEVEL, dict_data=ZSTD_DICTIONARIES[TRAINED_ID], write_checksum=True
        )
        self.unpackers: dict[int, zstandard.ZstdDecompressor] = {}

    def unpacker(self, named: int) -> zstandard.ZstdDecompressor:
        unpacker = self.unpackers.get(named)
        if unpacker is None:
            dictionary = ZSTD_DICTIONARIES.get(named)
            if dictionary is None:
                raise ValueError(
                    f"a packed outcome names a dictionary this version does not have ({named:#010x})"
                )
            unpacker = self.unpackers[named] = zstandard.ZstdDecompressor(dict_data=dictionary)
        return unpacker


_contexts = _Contexts()


def pack(outcome: str) -> bytes:
    """The outcome's JSON as a zstd frame packed against `TRAINED` (its id, size and checksum in it)."""
    return _contexts.packer.compress(outcome.encode())


def unpack(text: str | None, packed: bytes | memoryview | None) -> str:
    """The outcome JSON of a row: `packed` when the row has it (migration 10 on), else its text.
    A zstd frame (migration 14 on): unpacked against the dictionary its header names
    (`ZSTD_DICTIONARIES`). A zlib stream: against the preset dictionary its header names
    (`DICTIONARIES`, migration 13), or plain zlib (before it)."""
    if packed is None:
        return str(text)
    if packed[:4] == _ZSTD_MAGIC:
        frame = zstandard.get_frame_parameters(packed)
        if not 0 <= frame.content_size <= LARGEST:
            raise ValueError(
                f"a packed outcome claims {frame.content_size} bytes, more than any outcome "
                f"({LARGEST}): the row is damaged"
            )
        return _contexts.unpacker(frame.dict_id).decompress(packed).decode()
    if len(packed) >= 6 and packed[1] & _FDICT:
        named = int.from_bytes(packed[2:6], "big")
        dictionary = DICTIONARIES.get(named)
        if dictionary is None:
            raise ValueError(
                f"a packed outcome names a dictionary this version does not have ({named:#010x})"
            )
        unpacker = zlib.decompressobj(zdict=dictionary)
        return (unpacker.decompress(packed) + unpacker.flush()).decode()
    return zlib.decompress(packed).decode()
