"""The stored outcomes (store/outcomes.py): packed by zstd against a trained dictionary that
frames name by its id, so that the dictionary never changes under rows written with it; read back
exactly, from any thread; rows packed by zlib before (against its preset dictionary, or plain) and
rows kept as text read as they did."""

from __future__ import annotations

import hashlib
import sqlite3
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import zstandard
from hypothesis import given
from hypothesis import strategies as st

from rules_engine.engine.evaluator import Engine
from rules_engine.service import Loyalty
from rules_engine.store import open_store
from rules_engine.store.outcomes import (
    DICTIONARIES,
    DICTIONARY,
    DICTIONARY_ID,
    LARGEST,
    TRAINED,
    TRAINED_ID,
    ZSTD_DICTIONARIES,
    pack,
    unpack,
)

PROGRAM = Path(__file__).resolve().parents[2] / "programs" / "coffee-club.yaml"


def test_the_dictionaries_are_the_ones_rows_were_packed_with() -> None:
    """Rows name a dictionary by its id (zstd's, in each frame; zlib's Adler-32): changing its
    bytes would make every row packed with it unreadable. A better one is a new entry, this one
    kept."""
    assert TRAINED_ID == 0x4C4F5931 == ZSTD_DICTIONARIES[TRAINED_ID].dict_id()
    assert hashlib.sha256(TRAINED).hexdigest() == (
        "077eed760cb6e9b8a5d4efac8941f9e39ccf1daaa421c7216042c142ee40b5b5"
    )
    assert DICTIONARY_ID == 0x8A238EA0 == zlib.adler32(DICTIONARY)
    assert hashlib.sha256(DICTIONARY).hexdigest() == (
        "6757803e8c54a92a83bc9ef359b74296be4925200afc04fd439057f4184a9608"
    )
    assert DICTIONARIES[DICTIONARY_ID] is DICTIONARY
    assert all(zlib.adler32(known) == named for named, known in DICTIONARIES.items())


@given(st.text())
def test_a_packed_outcome_reads_back_exactly(text: str) -> None:
    packed = pack(text)
    assert packed[:4] == b"\x28\xb5\x2f\xfd"  # a zstd frame (RFC 8878)
    assert zstandard.get_frame_parameters(packed).dict_id == TRAINED_ID
    assert unpack("", packed) == text
    assert unpack(None, memoryview(packed)) == text  # as a driver may hand a blob


@given(st.integers(min_value=0, max_value=40_000), st.sampled_from(["ab", '"trace":[é', "\x00\u2028"]))
def test_small_and_large_outcomes_read_back(size: int, unit: str) -> None:
    text = (unit * size)[:size]
    assert unpack(None, pack(text)) == text


def test_threads_pack_and_unpack_at_once() -> None:
    """A zstd context serves one thread at a time: each thread has its own, and outcomes packed
    and read on 8 threads at once come back exactly."""
    texts = [f'{{"event":"e{n}","trace":[{"x" * (n % 97)}]}}' * (1 + n % 40) for n in range(2_000)]
    with ThreadPoolExecutor(8) as threads:
        assert list(threads.map(lambda text: unpack(None, pack(text)), texts)) == texts


def test_a_damaged_frame_is_refused_not_misread() -> None:
    packed = bytearray(pack('{"some":"outcome","points":"15"}'))
    packed[-6] ^= 0x01  # a bit of the content flipped: the frame's checksum no longer matches
    with pytest.raises(zstandard.ZstdError):
        unpack(None, bytes(packed))


def test_a_frame_claiming_more_than_any_outcome_is_refused_before_it_is_unpacked() -> None:
    huge = zstandard.ZstdCompressor(dict_data=ZSTD_DICTIONARIES[TRAINED_ID]).compress(b" " * (LARGEST + 1))
    with pytest.raises(ValueError, match="damaged"):
        unpack(None, huge)
    unsized = zstandard.ZstdCompressor(write_content_size=False).compress(b"{}")
    with pytest.raises(ValueError, match="damaged"):
        unpack(None, unsized)


def _zlib_pack(text: str, wbits: int) -> bytes:
    """An outcome as migrations 13's `pack` wrote it: zlib level 2 against `DICTIONARY`."""
    packer = zlib.compressobj(2, zlib.DEFLATED, wbits, 6 if wbits == 13 else 8, zdict=DICTIONARY)
    return packer.compress(text.encode()) + packer.flush()


@given(st.text(), st.sampled_from([13, 15]))
def test_rows_packed_by_zlib_against_its_dictionary_read_as_before(text: str, wbits: int) -> None:
    """Migration 13's rows: in an 8 KB window (an outcome of up to ~5.9 KB) or zlib's 32 KB."""
    packed = _zlib_pack(text, wbits)
    assert packed[1] & 0x20 and int.from_bytes(packed[2:6], "big") == DICTIONARY_ID  # RFC 1950 FDICT
    assert unpack("", packed) == text
    assert unpack(None, memoryview(packed)) == text


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
    trained = zstandard.train_dictionary(
        2048, [f'{{"n":{n},"other":"dictionary"}}'.encode() for n in range(400)]
    )
    framed = zstandard.ZstdCompressor(dict_data=trained).compress(b'{"some":"outcome"}')
    with pytest.raises(ValueError, match="dictionary"):
        unpack("", framed)


def test_an_outcome_packs_smaller_than_zlib_packed_it() -> None:
    """What the trained dictionary is for: an engine's outcome (a coffee-club purchase, its trace)
    packs into fewer bytes than zlib against its preset dictionary (the pack before)."""
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
    assert len(pack(text)) < 0.8 * len(_zlib_pack(text, 13))


def test_an_event_stored_before_the_dictionary_answers_its_redelivery_as_first_answered(
    tmp_path: Path,
) -> None:
    """A database written by the versions before (outcomes packed with plain zlib, or with zlib
    against its dictionary): a redelivery of one of its events gets the outcome it got then; a new
    event's is packed by zstd."""
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
    with sqlite3.connect(path) as db:
        (packed,) = db.execute("SELECT packed FROM events WHERE event = 'old'").fetchone()
        assert packed[:4] == b"\x28\xb5\x2f\xfd"
        text = unpack("", packed)
    for before in (zlib.compress(text.encode(), 1), _zlib_pack(text, 13)):
        with sqlite3.connect(path) as db:  # as a version before wrote it
            db.execute("UPDATE events SET packed = ? WHERE event = 'old'", (before,))
        with open_store(str(path), "coffee-club") as store:
            again = Loyalty(Engine.from_file(PROGRAM), store, horizon=None).handle(event)
        assert again.duplicate and again.outcome.model_dump_json() == first.outcome.model_dump_json()
