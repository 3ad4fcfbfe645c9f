"""The example programs' sample events give what their marketers expect (programs/*.tests.yaml).

Each `programs/P.tests.yaml` lists cases: an event (`event_file`, relative to the tests file, or
an inline `event`), the customer's state before it (`customer` inline or `customer_file`), and the
expected outcome, worked out by hand in the file's comments. This test runs every case through
the engine directly (it does not use the `loyalty test` command, which reads the same files):

- `points`: the outcome's total points
- `rules`: exactly the points each rule gave ({rule: points} for every award, nothing else)
- `fired`: these rules (earn rules, discounts, `coupon:<code>`, `tier:<id>`) fired
- `not_fired`: these rules were decided and did not fire (they must appear in the trace)
- `discount`, `discounts`: total money off; exactly the money off per discount
- `free_shipping`: whether shipping was waived
- `to_pay`: lines after discounts plus shipping
- `tier`, `balance`, `badges`: the tier, the points in all lots, badges held after the event
- `available`: the points spendable at the event's time after it
- `lots`: the points left in each lot listed; `points_changes`: points moved per kind of change
- `coupons_issued`, `notifications`: exactly the coupons issued and the notifications sent
- `entries`: draw entries held after the event
- `trace`: some trace entry of each rule listed has the code and a reason containing the text
- `error`: the event is refused with this code (nothing else is checked)
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from rules_engine.engine.evaluator import Engine
from rules_engine.engine.reader import parse_event
from rules_engine.errors import EventError
from rules_engine.jsonio import loads
from rules_engine.program import loader
from tests.conftest import ROOT

PROGRAMS = ROOT / "programs"
TESTS_FILES = sorted(PROGRAMS.glob("*.tests.yaml"))
EXPECTATIONS = {
    "points",
    "rules",
    "fired",
    "not_fired",
    "discount",
    "discounts",
    "free_shipping",
    "to_pay",
    "tier",
    "balance",
    "badges",
    "available",
    "lots",
    "points_changes",
    "coupons_issued",
    "notifications",
    "entries",
    "trace",
    "error",
}

# Cases the engine gets wrong today, each reported with the reason; strict, so that a fix shows.
KNOWN_ENGINE_BUGS: dict[tuple[str, str], str] = {}


def _load(path: Path) -> Any:
    data, _ = loader.load_file(path)
    return data


def _plain(value: Any) -> Any:
    """The YAML loader's data as plain dicts and lists (for the state parser)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _params() -> Iterator[Any]:
    for path in TESTS_FILES:
        data = _load(path)
        program = data["program"]
        for case in data["cases"]:
            key = (Path(program).stem, case["name"])
            marks = []
            if key in KNOWN_ENGINE_BUGS:
                marks.append(pytest.mark.xfail(strict=True, reason=f"engine bug: {KNOWN_ENGINE_BUGS[key]}"))
            yield pytest.param(path, program, case, id=f"{key[0]}: {key[1]}", marks=marks)


@functools.cache
def _engine(path: Path) -> Engine:
    return Engine.from_file(path)


def _event(tests_file: Path, case: Mapping[str, Any]) -> Any:
    assert ("event_file" in case) != ("event" in case), "give exactly one of event_file and event"
    if "event_file" in case:
        return loads((tests_file.parent / case["event_file"]).read_text(encoding="utf-8"))
    return _plain(case["event"])


def _state(tests_file: Path, case: Mapping[str, Any]) -> Any:
    assert not ("customer" in case and "customer_file" in case), "give customer or customer_file"
    if "customer_file" in case:
        return loads((tests_file.parent / case["customer_file"]).read_text(encoding="utf-8"))
    return _plain(case.get("customer"))


def _money(value: Any) -> Decimal:
    return Decimal(str(value)) if not isinstance(value, Decimal) else value


@pytest.mark.parametrize(("tests_file", "program", "case"), list(_params()))
def test_example_case(tests_file: Path, program: str, case: Mapping[str, Any]) -> None:
    expect = case["expect"]
    assert set(expect) <= EXPECTATIONS, f"unknown expectations: {sorted(set(expect) - EXPECTATIONS)}"
    engine = _engine(tests_file.parent / program)
    event, state = _event(tests_file, case), _state(tests_file, case)
    for earlier in case.get("before", []):  # a scenario's history, processed first
        state = engine.process(loads((tests_file.parent / earlier).read_text(encoding="utf-8")), state).state

    if "error" in expect:
        with pytest.raises(EventError) as refused:
            engine.process(event, state)
        assert expect["error"] in [d.code for d in refused.value.diagnostics], refused.value.diagnostics
        return

    outcome = engine.process(event, state)
    fired = {t.rule for t in outcome.trace if t.fired}
    decided = {t.rule for t in outcome.trace}
    summary = {
        "points": {p.rule: p.points for p in outcome.effects.points},
        "discounts": {d.rule: d.amount for d in outcome.effects.discounts},
        "trace": [(t.rule, t.code, t.reason) for t in outcome.trace],
    }
    if "points" in expect:
        assert outcome.totals.points == _money(expect["points"]), summary
    if "rules" in expect:
        wanted = {rule: _money(points) for rule, points in expect["rules"].items()}
        assert summary["points"] == wanted, summary
    for rule in expect.get("fired", []):
        assert rule in fired, (rule, summary)
    for rule in expect.get("not_fired", []):
        assert rule in decided, f"{rule} is not in the trace (a typo?): {summary}"
        assert rule not in fired, (rule, summary)
    if "discount" in expect:
        assert outcome.totals.discount == _money(expect["discount"]), summary
    if "discounts" in expect:
        wanted = {rule: _money(amount) for rule, amount in expect["discounts"].items()}
        assert summary["discounts"] == wanted, summary
    if "free_shipping" in expect:
        assert (outcome.effects.free_shipping is not None) is expect["free_shipping"], summary
    if "to_pay" in expect:
        assert outcome.totals.to_pay == _money(expect["to_pay"]), summary
    if "tier" in expect:
        assert (outcome.state.tier or "none") == expect["tier"], summary
    if "balance" in expect:
        assert sum(lot.points for lot in outcome.state.lots) == _money(expect["balance"]), summary
    for badge in expect.get("badges", []):
        assert badge in outcome.state.badges, (badge, summary)
    if "available" in expect:
        assert outcome.state.available(parse_event(event).time) == _money(expect["available"]), summary
    lots = {lot.id: lot.points for lot in outcome.state.lots}
    for lot, points in expect.get("lots", {}).items():
        assert lots.get(lot) == _money(points), (lot, lots)
    changes: dict[str, Decimal] = {}
    for change in outcome.effects.points_changes:
        changes[change.kind] = changes.get(change.kind, Decimal(0)) + change.points
    for kind, points in expect.get("points_changes", {}).items():
        assert changes.get(kind, Decimal(0)) == _money(points), (kind, outcome.effects.points_changes)
    if "coupons_issued" in expect:
        issued = sorted(c.coupon for c in outcome.effects.coupons_issued)
        assert issued == sorted(expect["coupons_issued"]), outcome.effects.coupons_issued
    if "notifications" in expect:
        sent = sorted(n.template for n in outcome.effects.notifications)
        assert sent == sorted(expect["notifications"]), summary
    for draw, count in expect.get("entries", {}).items():
        assert outcome.state.entries.get(draw, 0) == _money(count), outcome.state.entries
    for rule, wanted in expect.get("trace", {}).items():
        said = [(t.code, t.reason) for t in outcome.trace if t.rule == rule]
        assert any(
            ("code" not in wanted or code == wanted["code"])
            and ("reason" not in wanted or wanted["reason"] in reason)
            for code, reason in said
        ), (rule, wanted, said)


def test_every_example_program_has_expectations() -> None:
    programs = {p.name for p in PROGRAMS.glob("*.yaml") if not p.name.endswith(".tests.yaml")}
    covered = {_load(path)["program"] for path in TESTS_FILES}
    assert programs <= covered, f"programs without a .tests.yaml: {sorted(programs - covered)}"


def test_every_sample_event_and_state_is_used_by_a_case() -> None:
    referenced: set[Path] = set()
    for path in TESTS_FILES:
        for case in _load(path)["cases"]:
            for key in ("event_file", "customer_file"):
                if key in case:
                    referenced.add((path.parent / case[key]).resolve())
            referenced |= {(path.parent / name).resolve() for name in case.get("before", [])}
    samples = {p.resolve() for folder in ("events", "states") for p in (PROGRAMS / folder).glob("**/*.json")}
    assert samples, "no sample events found"
    unused = sorted(str(p.relative_to(PROGRAMS)) for p in samples - referenced)
    assert unused == [], f"sample files no case uses: {unused}"
    missing = sorted(str(p) for p in referenced - samples if not p.exists())
    assert missing == [], f"cases name files that do not exist: {missing}"
