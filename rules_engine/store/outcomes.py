"""Each applied event's outcome, as a store keeps it: compressed JSON.

A store keeps every event's outcome (without the state) to answer a redelivery with exactly what
the first delivery got, and for `void`, which reads what an event did. It is the one row written
per event that is never read again in the common case, and the largest: ~2.9-3.7 KB of JSON for a
coffee-club event, most of it the trace's repeated keys and reasons, about half of the database.
zlib (the standard library's, level 1 then: level 2 now, below) keeps it in ~1.1 KB for ~30 µs of
the worker's CPU per event; reading one back (a redelivery, a void) costs ~10 µs more. Level 6 and
up save 7 % more bytes for 15 % more time: not worth it on the write path.

**A preset dictionary.** An outcome's first occurrence of each key and of the usual values (the
empty effects, the trace's `"fired":false,"code":"condition_false",…`) are literals to zlib: a
third of its output. Deflated against `DICTIONARY` (zlib's preset dictionary, `zdict`), they are
matches instead: measured on 600 outcomes of the service bench's coffee-club purchases, 1,131 →
794 bytes an outcome (−30 %) and ~10 % less CPU (28.8 → 26.0 µs, thread time, best of 30 rounds
alternated, glibc's heap trimming off as in a long-running worker; fewer literals to code, longer
matches to skip), reading one back 12.2 → 10.8 µs. The dictionary is generic (the outcome's
structure, no program's rule names), written once here and never changed: a packed outcome names
its dictionary in its zlib header (the FDICT flag and the dictionary's Adler-32, RFC 1950), and
`unpack` finds it by that id among `DICTIONARIES`, so a better dictionary is a new entry beside
the old ones, never a change of one. A version before this one cannot read such a row (zlib asks
for a dictionary it does not have): going back to it means a store written by this one is read
by this one. A row packed without a dictionary (before this) has no FDICT flag and reads as
before. (A program's own dictionary, its rule names and reasons, would pack an outcome in ~250
bytes; it would need the dictionaries kept in the database: a migration, not done.)

**A small window for a small outcome.** zlib's defaults (a 32 KB window, `memLevel` 8) allocate
~270 KB of state for every `compressobj` and clear its 64 KB hash table; an outcome and the
dictionary fit in an 8 KB window (`wbits` 13, `memLevel` 6: ~64 KB of state, a 16 KB table). Level
2 rather than 1: a longer hash chain, the same work (fewer literals to code). Measured on 300 of
the service bench's coffee-club outcomes (3.7 KB of JSON): 779.5 → **734.2 bytes** an outcome
(−6 %), **294k → 249k instructions** a pack (cachegrind; most of the difference the hash table's
clearing, which valgrind counts a byte an instruction through `rep stosb`: in time less), the same
thread time (31 µs) where no page of the state faults, and none of its pages to fault again when
glibc gives the heap's top back (the defaults' 256 KB freed past its 128 KB threshold: ~20 faults
and twice the time a pack in a process where that happens). An outcome too large for the small
window (`SMALL`: a long trace, an explained one) is packed with the defaults: in 8 KB its later
parts would lose the dictionary and their matches further back (22 KB of outcomes: +33 % bytes).
The window a stream was packed with is in its zlib header (CINFO); `unpack` (and any version's,
whose `decompressobj` takes the largest window) reads both.

**The trace, measured (2026-12-06): kept as text.** A coffee-club purchase's trace is 2,247 of
its 3,589 bytes of JSON and 400 of its 738 packed; packing it is 75k of a pack's 252k
instructions (cachegrind, 200 of the service bench's outcomes; 8.5 of 24.2 µs thread time, best
of 7 alternated rounds), writing its text 2.1 µs (most entries' texts are kept:
engine/outcome_json.py): ~1.8 % of a worker's request. Two compact forms were measured and not
kept. The entries as arrays without their keys (`["base","earn",true,"fired","15 points",[],
null,"15","points"]`, rendered back as objects when read): 2,533 bytes, 660 packed, 235.5k
instructions (−7 %), 22.5 µs: zlib's long matches over the repeated keys are cheap, its cost is
the rule names and reasons, which any such form keeps. The keys replaced by control characters
in `pack` (`str.replace`, put back in `unpack`): 691 bytes packed but 396.2k instructions and
55.3 µs a pack, ten passes over the text costing more than they save. What would pay is a trace
of rule indices and reason codes rendered from the program version that decided (~100 bytes, estimated),
for which every reader of a stored outcome would need that version's engine.

Rows written before migration 10 keep their outcome as text and read as before.
"""

from __future__ import annotations

import zlib

LEVEL = 2

WBITS = 13
MEM_LEVEL = 6

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
"""The preset dictionary outcomes are packed against (the module docstring): what most outcomes
hold, the most common last (a match's distance costs fewer bits the nearer it is). Never changed
once shipped: rows name it by its Adler-32 (`DICTIONARY_ID`; a test pins it)."""

DICTIONARY_ID = zlib.adler32(DICTIONARY)

SMALL = (1 << WBITS) - 262 - len(DICTIONARY)
"""The largest outcome (bytes of JSON) packed in the small window (5,925 bytes): 8 KB less zlib's
look-ahead (262 bytes) and the dictionary, so that every byte of it can match all of the
dictionary."""

DICTIONARIES: dict[int, bytes] = {DICTIONARY_ID: DICTIONARY}
"""Every dictionary a packed outcome may name, by its Adler-32 (the zlib header's DICTID)."""

_FDICT = 0x20
"""The zlib header's flag (its second byte) of a stream deflated against a preset dictionary."""


def pack(outcome: str) -> bytes:
    """The outcome's JSON deflated against `DICTIONARY`, with zlib's header and checksum."""
    data = outcome.encode()
    if len(data) <= SMALL:
        packer = zlib.compressobj(LEVEL, zlib.DEFLATED, WBITS, MEM_LEVEL, zdict=DICTIONARY)
    else:
        packer = zlib.compressobj(LEVEL, zdict=DICTIONARY)
    return packer.compress(data) + packer.flush()


def unpack(text: str | None, packed: bytes | memoryview | None) -> str:
    """The outcome JSON of a row: `packed` when the row has it (migration 10 on), else its text.
    Packed with a dictionary (its header's FDICT flag): the one its header names (`DICTIONARIES`);
    without (rows packed before it): plain zlib."""
    if packed is None:
        return str(text)
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
