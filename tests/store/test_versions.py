"""The version guard (issue 16, item 8): a store records each program version's content hash and
refuses a program that would blur what its ledger says — the same version with other content, an
older version without `--allow-downgrade`, a removed tier its customers hold without
`removed_tiers` — and the engine moves the members of a removed tier by the program's rule."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rules_engine.cli import app
from rules_engine.engine.evaluator import Engine
from rules_engine.errors import StoreError
from rules_engine.program.model import Program
from rules_engine.program.validate import load_program_text
from rules_engine.service import Loyalty
from rules_engine.store import open_store
from rules_engine.store.base import ProgramVersion
from rules_engine.store.versions import _legacy_digest, check_version, program_digest, short
from tests.store.conftest import OpenStore

PROGRAM = """program: store-test
version: 2
timezone: UTC
currency: EUR
points: {value: 0.01}
tiers:
  qualify_on: spend
  window: lifetime
  levels:
    - {id: member, threshold: 0}
    - {id: silver, threshold: 100}
    - {id: gold, threshold: 300}
earn:
  - {id: base, rate: 1 per 1}
"""
AT = dt.datetime(2026, 12, 2, 9, tzinfo=dt.UTC)
START = dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC)


def program(version: int = 2, rate: str = "1 per 1", levels: str | None = None, extra: str = "") -> str:
    text = PROGRAM.replace("version: 2", f"version: {version}").replace("rate: 1 per 1", f"rate: {rate}")
    if levels is not None:
        text = text.replace("    - {id: gold, threshold: 300}\n", levels)
    return text.replace("earn:\n", extra + "earn:\n")


def engine(text: str) -> Engine:
    return Engine(load_program_text(text, "shop.yaml"), secret=b"versions")


def purchase(n: int, price: str = "350.00", customer: str = "ann") -> dict[str, object]:
    return {
        "id": f"p{n}",
        "type": "purchase",
        "customer": customer,
        "time": (START + dt.timedelta(days=n)).isoformat(),
        "items": [{"sku": "coat", "price": price, "qty": 1}],
    }


def codes(error: pytest.ExceptionInfo[StoreError]) -> list[str]:
    return [d.code for d in error.value.diagnostics]


def test_the_same_version_with_other_content_is_refused_naming_both_hashes(
    open_test_store: OpenStore,
) -> None:
    store = open_test_store()
    first = engine(program()).program
    check_version(store, first, AT)
    check_version(store, first, AT)  # the same content again: nothing to say
    check_version(store, engine(program() + "# a comment is not content\n").program, AT)
    changed = engine(program(rate="2 per 1")).program
    with pytest.raises(StoreError) as refused:
        check_version(store, changed, AT)
    assert codes(refused) == ["RE611"]
    [problem] = refused.value.diagnostics
    assert (
        short(program_digest(first)) in problem.message and short(program_digest(changed)) in problem.message
    )
    assert problem.hint is not None and "version: 3" in problem.hint
    assert [(v.version, v.digest) for v in store.versions()] == [(2, program_digest(first))]


def test_of_two_processes_recording_one_version_at_once_the_first_record_stands(
    open_test_store: OpenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two processes (a service's upload and a command, two workers) check the same version with
    other content at once: both read the store's versions before either records its own. The
    second to record is refused (RE611), as it would be a moment later. Until 2026-12-07 both
    went on, two programs under one number."""
    store, other = open_test_store(), open_test_store()
    first, changed = engine(program()).program, engine(program(rate="2 per 1")).program
    read = type(store).versions

    def raced(reading: object) -> list[ProgramVersion]:
        found: list[ProgramVersion] = read(reading)  # type: ignore[arg-type]
        if reading is store:  # the other process records its version meanwhile
            monkeypatch.setattr(type(store), "versions", read)
            check_version(other, first, AT)
        return found

    monkeypatch.setattr(type(store), "versions", raced)
    with pytest.raises(StoreError) as refused:
        check_version(store, changed, AT)
    assert codes(refused) == ["RE611"]
    assert [(v.version, v.digest) for v in store.versions()] == [(2, program_digest(first))]


def test_an_older_version_needs_allow_downgrade(open_test_store: OpenStore) -> None:
    store = open_test_store()
    check_version(store, engine(program(version=3)).program, AT)
    older = engine(program(version=2, rate="3 per 1")).program
    with pytest.raises(StoreError) as refused:
        check_version(store, older, AT)
    assert codes(refused) == ["RE612"] and "--allow-downgrade" in (refused.value.diagnostics[0].hint or "")
    assert [v.version for v in store.versions()] == [3]
    check_version(store, older, AT, allow_downgrade=True)
    assert [v.version for v in store.versions()] == [2, 3]


def test_a_removed_tier_its_customers_hold_needs_removed_tiers(open_test_store: OpenStore) -> None:
    store = open_test_store()
    first = engine(program())
    check_version(store, first.program, AT)
    shop = Loyalty(first, store, horizon=None)
    shop.process(purchase(1))  # 350: gold
    shop.process(purchase(2, "20.00", "bob"))  # member
    assert store.tiers_held() == {"gold": 1, "member": 1}
    without_gold = program(version=3, levels="")
    with pytest.raises(StoreError) as refused:
        check_version(store, engine(without_gold).program, AT)
    assert codes(refused) == ["RE613"] and "gold" in refused.value.diagnostics[0].message
    assert "removed_tiers" in (refused.value.diagnostics[0].hint or "")
    moved = engine(program(version=3, levels="", extra="  removed_tiers: {move_to: silver}\n"))
    assert moved.program.tiers is not None and moved.program.tiers.removed_tiers is not None
    check_version(store, moved.program, AT)
    outcome = Loyalty(moved, store, horizon=None).process(purchase(3, "1.00"))
    assert store.state("ann").tier == "silver"  # type: ignore[union-attr]
    [change] = outcome.effects.tier_changes
    assert (change.old, change.new) == ("gold", "silver") and "removed_tiers" in change.reason
    traced = [t.reason for t in outcome.trace if t.kind == "tier"]
    assert traced == [change.reason] and "reaches" not in change.reason


def test_removed_tiers_must_name_a_level() -> None:
    from rules_engine.program.validate import validate_text

    text = program(levels="").replace("earn:\n", "  removed_tiers: {move_to: platinum}\nearn:\n")
    result = validate_text(text, "shop.yaml")
    assert not result.ok() and "platinum" in result.errors[0].message


# -- the command line ---------------------------------------------------------------------------------
def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stderr


def test_commands_that_write_refuse_what_the_guard_refuses(tmp_path: Path) -> None:
    db = str(tmp_path / "shop.db")
    events = tmp_path / "events.jsonl"
    events.write_text(
        '{"id": "p1", "type": "purchase", "customer": "ann", "time": "2026-03-02T09:00:00+00:00", '
        '"items": [{"sku": "coat", "price": 20, "qty": 1}]}\n'
    )
    v3 = tmp_path / "v3.yaml"
    v3.write_text(program(version=3))
    assert invoke("run", str(v3), str(events), "--db", db, "-q")[0] == 0
    changed = tmp_path / "changed.yaml"
    changed.write_text(program(version=3, rate="2 per 1"))
    status, err = invoke("run", str(changed), str(events), "--db", db, "-q")
    assert status == 1 and "error[RE611]" in err
    v2 = tmp_path / "v2.yaml"
    v2.write_text(program(version=2))
    status, err = invoke("advance", str(v2), "--db", db, "--to", "2026-03-03T00:00:00+00:00")
    assert status == 1 and "error[RE612]" in err
    status, err = invoke(
        "advance", str(v2), "--db", db, "--to", "2026-03-03T00:00:00+00:00", "--allow-downgrade"
    )
    assert status == 0, err
    with open_store(db, "store-test") as store:
        assert [v.version for v in store.versions()] == [2, 3]


class _LaterProgram(Program):
    """The program model as a later release of the engine may have it: one option more, with a default."""

    a_later_option: int = 0


def test_an_engine_release_that_adds_an_option_keeps_every_program_hash() -> None:
    """The hash covers what the author wrote, not the defaults the engine fills in: otherwise
    upgrading the engine would make every store refuse every unchanged program (RE611)."""
    today = engine(program()).program
    later = _LaterProgram.model_validate(today.model_dump(mode="json", exclude_unset=True))
    assert program_digest(later) == program_digest(today)
    assert _legacy_digest(later) != _legacy_digest(today)  # what the hash was before: it broke


def test_a_record_hashed_the_old_way_accepts_the_same_program_and_is_rewritten(
    open_test_store: OpenStore,
) -> None:
    store = open_test_store()
    first = engine(program()).program
    store.add_version(ProgramVersion(2, _legacy_digest(first), AT))  # as recorded before the change

    check_version(store, first, AT)

    assert [(v.version, v.digest) for v in store.versions()] == [(2, program_digest(first))]
    with pytest.raises(StoreError) as refused:  # other content is still other content
        check_version(store, engine(program(rate="2 per 1")).program, AT)
    assert codes(refused) == ["RE611"]
