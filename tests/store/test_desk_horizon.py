"""The desk's operations from the Python API are held to the horizon as `advance` is: an adjustment
or a void first lets time pass to its moment (expiry, pending points), so a typo'd year would
expire a customer's points for good; it is refused (RE442), nothing changed. Arguments of the wrong
type are refused by name (TypeError), not an AttributeError from deep inside; `erase` wants a time
with its offset. `loyalty adjust` books at the present, which is its horizon's reference: a store
idle for weeks still takes it."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from rules_engine.engine.evaluator import Engine
from rules_engine.errors import EventError
from rules_engine.service import Loyalty
from rules_engine.store import open_store
from rules_engine.tools.adjustments import Adjustment
from rules_engine.tools.voids import Void
from tests.conftest import ROOT

ENGINE = Engine.from_file(ROOT / "programs" / "coffee-club.yaml")
NOW = dt.datetime(2026, 11, 2, 12, 0, tzinfo=dt.UTC)
DESK = ["--points", "5", "--reason", "goodwill", "--id", "adj-1", "--operator", "desk"]


def _bought(url: str, now: dt.datetime | None = NOW) -> Loyalty:
    loyalty = Loyalty(ENGINE, open_store(url, "coffee-club"), now=now)
    loyalty.process(
        {
            "id": "p1",
            "type": "purchase",
            "time": NOW.isoformat(),
            "customer": "vic",
            "items": [{"sku": "BEANS", "category": "beans", "price": "100", "qty": 1}],
        }
    )
    return loyalty


def _adjustment(at: dt.datetime) -> Adjustment:
    return Adjustment(id="adj-1", customer="vic", points=Decimal(5), reason="a slip", operator="desk", at=at)


@pytest.mark.parametrize("url", ["memory:", "sqlite"])
@pytest.mark.parametrize("now", [NOW, None], ids=["now", "latest-event"])
def test_an_adjustment_or_void_dated_years_ahead_is_refused_and_changes_nothing(
    url: str, now: dt.datetime | None, tmp_path: Path
) -> None:
    loyalty = _bought(str(tmp_path / "desk.db") if url == "sqlite" else url, now)
    before = loyalty.store.state("vic")
    typo = NOW.replace(year=2036)
    with pytest.raises(EventError) as refused:
        loyalty.adjust(_adjustment(typo))
    assert refused.value.diagnostics[0].code == "RE442"
    assert "adjustment adj-1: 2036-11-02" in refused.value.diagnostics[0].message
    void = Void(id="void-1", customer="vic", voided="p1", reason="a slip", operator="desk", at=typo)
    with pytest.raises(EventError) as refused:
        loyalty.void(void)
    assert refused.value.diagnostics[0].code == "RE442"
    assert "void void-1" in refused.value.diagnostics[0].message
    assert loyalty.store.state("vic") == before  # nothing expired, nothing booked
    booked = loyalty.adjust(_adjustment(NOW + dt.timedelta(hours=1)))  # within the horizon: booked
    assert not booked.duplicate and sum(lot.points for lot in booked.state.lots) > sum(
        lot.points for lot in before.lots
    )


def test_wrong_arguments_are_refused_by_name(tmp_path: Path) -> None:
    loyalty = _bought("memory:")
    with pytest.raises(
        TypeError, match=r"adjust: a rules_engine\.tools\.adjustments\.Adjustment is wanted, not dict"
    ):
        loyalty.adjust({"id": "adj-1"})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"advance's moment: a datetime\.datetime is wanted, not str"):
        loyalty.advance("vic", "2026-12-01T00:00:00Z")  # type: ignore[arg-type]
    with pytest.raises(EventError) as refused:
        loyalty.erase("vic", operator="desk", at=dt.datetime(2026, 11, 3, 12, 0))
    assert refused.value.diagnostics[0].code == "RE410"
    assert loyalty.store.state("vic") is not None  # not erased


def test_loyalty_adjust_on_a_store_idle_for_weeks_is_booked(tmp_path: Path) -> None:
    db = tmp_path / "idle.db"
    _bought(str(db)).store.close()  # its latest event: 2026-11-02, weeks before any run of this test
    program = str(ROOT / "programs" / "coffee-club.yaml")
    done = subprocess.run(
        [sys.executable, "-m", "rules_engine.cli", "adjust", program, "vic", "--db", str(db), *DESK],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1"},
    )
    assert done.returncode == 0, done.stderr
    store = open_store(str(db), "coffee-club")
    assert [row.entry.points for row in store.ledger(customer="vic") if row.entry.kind == "adjust"] == [5]
    store.close()
