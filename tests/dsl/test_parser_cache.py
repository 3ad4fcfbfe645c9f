"""The condition grammar's parse tables are kept in the user's cache folder and read back
(dsl/parser.py): a process that finds them parses exactly as one that built them, and a cache that
is missing, unwritable or damaged only costs the time to build them again."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from rules_engine.dsl import parser

EXPRESSIONS = [
    'basket.total >= 50 and customer.tier in ["gold", "platinum"]',
    'any(item.category == "coffee" and item.qty >= 2 for item in basket.items)',
    "(event.time.hour < 10 or not customer.tags) and basket.total - 5 > 40",
]


def _parses(lark: object) -> list[object]:
    return [lark.parse(text) for text in EXPRESSIONS]  # type: ignore[attr-defined]


def _fresh(monkeypatch: pytest.MonkeyPatch, folder: str) -> object:
    """The parser as a new process builds it, with the cache folder `folder`."""
    monkeypatch.setenv(parser.CACHE_DIR, folder)
    return parser._lark.__wrapped__()


def test_the_tables_are_kept_and_read_back_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "cache"
    built = _fresh(monkeypatch, str(folder))
    (kept,) = folder.iterdir()
    assert kept.name.startswith("condition-grammar-") and kept.stat().st_size > 0
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700  # the user's own: a pickle is read from it
    written = kept.stat().st_mtime_ns
    read = _fresh(monkeypatch, str(folder))
    assert kept.stat().st_mtime_ns == written  # read back, not built and written again
    assert _parses(read) == _parses(built)
    assert [t.name for t in read.terminals] == [t.name for t in built.terminals]  # type: ignore[attr-defined]
    assert read.grammar is not None  # type: ignore[attr-defined]  # what hypothesis's from_lark reads


def test_a_damaged_cache_file_is_built_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "cache"
    built = _fresh(monkeypatch, str(folder))
    (kept,) = folder.iterdir()
    kept.write_bytes(kept.read_bytes()[:100])  # a write cut short, say by a full disk
    again = _fresh(monkeypatch, str(folder))
    assert _parses(again) == _parses(built)
    assert kept.stat().st_size > 100  # and written whole again


def test_no_cache_folder_still_parses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reference = _parses(_fresh(monkeypatch, ""))  # empty: keep none
    assert list(tmp_path.iterdir()) == []
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    assert _parses(_fresh(monkeypatch, str(blocked / "cache"))) == reference  # cannot be made


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder")
def test_a_read_only_cache_folder_still_parses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "cache"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        assert _parses(_fresh(monkeypatch, str(folder))) == _parses(_fresh(monkeypatch, ""))
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o700)


def test_the_default_folder_is_the_users_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(parser.CACHE_DIR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    kept = parser._cache_file("grammar")
    assert kept is not None and kept.parent == tmp_path / "xdg" / "rules-engine"
    assert kept != parser._cache_file("another grammar")  # each version keeps its own


def test_a_folder_others_can_write_to_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Lark reads the cache back with pickle: a file another user could have put there is never read."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)  # as /tmp is (without its sticky bit)
    monkeypatch.setenv(parser.CACHE_DIR, str(shared))
    assert parser._cache_file("grammar") is None
    assert _parses(parser._lark.__wrapped__()) == _parses(_fresh(monkeypatch, ""))
    assert list(shared.iterdir()) == []
    shared.chmod(0o700)
    monkeypatch.setenv(parser.CACHE_DIR, str(shared))
    assert parser._cache_file("grammar") is not None
