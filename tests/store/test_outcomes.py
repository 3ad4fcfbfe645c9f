"""The stored outcomes (store/outcomes.py): packed against a preset dictionary that rows name by
its Adler-32, so that the dictionary never changes under rows written with it; read back exactly;
rows packed before the dictionary (plain zlib) and rows kept as text read as they did."""

from __future__ import annotations

import hashlib
import sqlite3
import zlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules_engine.engine.evaluator import Engine
from rules_engine.service import Loyalty
from rules_engine.store import open_store
from rules_engine.store.outcomes import DICTIONARIES, DICTIONARY, DICTIONARY_ID, SMALL, pack, unpack

PROGRAM = Path(__file__).resolve().parents[2] / "programs" / "coffee-club.yaml"


def test_the_dictionary_is_the_one_rows_were_packed_with() -> None:
    """Rows name the dictionary by its Adler-32: changing its bytes would make every row packed
    with it unreadable. A better one is a new entry of `DICTIONARIES`, this one kept."""
    assert DICTIONARY_ID == 0x8A238EA0 == zlib.adler32(DICTIONARY)
    assert hashlib.sha256(DICTIONARY).hexdigest() == (
        "6757803e8c54a92a83bc9ef359b74296be4925200afc04fd439057f4184a9608"
    )
    assert DICTIONARIES[DICTIONARY_ID] is DICTIONARY
    assert all(zlib.adler32(known) == named for named, known in DICTIONARIES.items())


@given(st.text())
def test_a_packed_outcome_reads_back_exactly(text: str) -> None:
    packed = pack(text)
    assert packed[1] & 0x20 and int.from_bytes(packed[2:6], "big") == DICTIONARY_ID  # RFC 1950 FDICT
    assert unpack("", packed) == text
    assert unpack(None, memoryview(packed)) == text  # as a driver may hand a blob


def _window(packed: bytes) -> int:
    """The window a zlib stream was deflated with, from its header's CINFO (RFC 1950): 2**(8+CINFO)."""
    return 1 << (8 + (packed[0] >> 4))


@given(st.integers(min_value=0, max_value=3 * SMALL), st.sampled_from(["ab", '"trace":[é', "\x00\u2028"]))
def test_small_and_large_outcomes_read_back_in_their_windows(size: int, unit: str) -> None:
    """An outcome of at most `SMALL` bytes is packed in an 8 KB window (zlib's smaller state), a
    larger one in zlib's default 32 KB: both read back exactly, by `unpack` and by what a version
    before this one reads with (`decompressobj` with the dictionary and the default window)."""
    text = (unit * size)[:size]
    packed = pack(text)
    assert _window(packed) == (8192 if len(text.encode()) <= SMALL else 32768)
    assert unpack(None, packed) == text
    older = zlib.decompressobj(zdict=DICTIONARY)
    assert (older.decompress(packed) + older.flush()).decode() == text


@given(st.text())
def test_rows_packed_before_the_dictionary_and_rows_of_text_read_as_before(text: str) -> None:
    assert unpack("", zlib.compress(text.encode(), 1)) == text
    assert unpack("", zlib.compress(text.encode(), 9)) == text
    assert unpack(text, None) == text


def test_a_row_naming_a_dictionary_this_version_lacks_is_refused_not_misread() -> None:
    other = b'{"some":"other dictionary"}'
    packer = zlib.compressobj(1, zlib.DEFLATED, 15, 8, zdict=other)
    packed = packer.compress(b'{"some":"outcome"}') + packer.flush()
    with pytest.raises(ValueError, match="dictionary"):
        unpack("", packed)


def test_an_outcome_packs_smaller_with_the_dictionary() -> None:
    """What the dictionary is for: an engine's outcome (a coffee-club purchase, its trace) packs
    into fewer bytes than zlib alone at the same level."""
    engine = Engine.from_file(PROGRAM)
    result = engine.process(
        {
            "id": "e1",
            "type": "purchase",
            "time": "2026-02-20T09:30:00+00:00",
            "customer": "c1",
            "items": [{"sku": "LATTE", "category": "coffee", "price": 250, "qty": 2}],
        },
        None,
    )
    text = result.outcome().model_dump_json()
    assert len(pack(text)) < 0.85 * len(zlib.compress(text.encode(), 1))


def test_an_event_stored_before_the_dictionary_answers_its_redelivery_as_first_answered(
    tmp_path: Path,
) -> None:
    """A database written by the version before (outcomes packed with plain zlib): a redelivery of
    one of its events gets the outcome it got then; a new event's is packed with the dictionary."""
    path = tmp_path / "store.db"
    event = {
        "id": "old",
        "type": "purchase",
        "time": "2026-02-20T09:30:00+00:00",
        "customer": "c1",
        "items": [{"sku": "LATTE", "category": "coffee", "price": 250, "qty": 2}],
    }
    with open_store(str(path), "coffee-club") as store:
        first = Loyalty(Engine.from_file(PROGRAM), store, horizon=None).handle(event)
    with sqlite3.connect(path) as db:  # as the version before wrote it
        (packed,) = db.execute("SELECT packed FROM events WHERE event = 'old'").fetchone()
        assert packed[1] & 0x20
        text = unpack("", packed)
        db.execute("UPDATE events SET packed = ? WHERE event = 'old'", (zlib.compress(text.encode(), 1),))
    with open_store(str(path), "coffee-club") as store:
        again = Loyalty(Engine.from_file(PROGRAM), store, horizon=None).handle(event)
    assert again.duplicate and again.outcome.model_dump_json() == first.outcome.model_dump_json()
