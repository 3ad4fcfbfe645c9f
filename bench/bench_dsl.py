"""How fast are compiled conditions? Against hand-written Python, and against peer engines.

    .venv/bin/python bench/bench_dsl.py            # the full run, about 30-40 s on 2 cores
    .venv/bin/python bench/bench_dsl.py --quick    # a few seconds, numbers only roughly right
    .venv/bin/python bench/bench_dsl.py --json     # the same results as one JSON document

Every engine evaluates the same three conditions over the same normalized `Context` (built once
by `Expression.context`). Each number is the best of several `timeit` repeats (garbage collection
off, as timeit does), divided by the iterations in one repeat. The peers (zen-engine, rule-engine,
cel-python) come from the optional `bench` extra; a missing one is reported and skipped. Where a
peer cannot read the Context as it is, its conversion runs inside the timed call, because a
service would pay it on every event; their evaluation alone is printed too, for reference.

A benchmark, not a test: it exits 0 whether or not the targets are met (see bench/README.md).
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import importlib.metadata
import json
import sys
import timeit
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from timing import FULL, QUICK, Settings, machine, machine_line

from rules_engine import Context, Expression, compile_expression

TARGET_HAND_RATIO = 1.5  # compiled may cost at most 1.5x the hand-written function
TARGET_PEER_FACTOR = 10.0  # compiled must be at least 10x faster than the fastest peer
TARGET_COMPILE_MS = 1.0  # parse + check + compile of one expression

CONDITIONS = {
    "C1": 'basket.total >= 50 and customer.tier in ["gold", "platinum"]',
    "C2": 'any(item.category == "coffee" and item.qty >= 2 for item in basket.items)',
    "C3": '(event.time.weekday in ["sat", "sun"] or event.time.hour < 10) and "vip" in customer.tags'
    " and basket.total - 5 > 40",
}

# What is evaluated. C1: both operands of `and` run (62.50 >= 50, "gold"). C2: ten lines, and only
# the LAST one matches (coffee, qty 2; two earlier coffee lines have qty 1), so every engine walks
# all ten lines, short-circuiting or not. C3: a Thursday at 08:30+03:00, so the weekday test fails
# and the hour test runs too; "vip" is the last tag; 62.50 - 5 > 40. All three are true.
_LINES = [
    ("4601", "Croissant", "pastry", "2.90", 2),
    ("1002", "Espresso", "coffee", "2.40", 1),
    ("7710", "Orange juice", "drinks", "3.50", 1),
    ("4605", "Pain au chocolat", "pastry", "3.10", 1),
    ("1007", "Flat white", "coffee", "3.60", 1),
    ("8800", "Gift card", "gift_card", "25.00", 1),
    ("3301", "Granola", "breakfast", "5.40", 1),
    ("9120", "Reusable cup", "merch", "8.00", 1),
    ("7712", "Still water", "drinks", "1.20", 2),
    ("1011", "Filter coffee", "coffee", "3.10", 2),
]
DATA: dict[str, Any] = {
    "event": {
        "id": "evt-20261203-0001",
        "type": "purchase",
        "time": "2026-12-03T08:30:00+03:00",
        "channel": "store",
        "store": "msk-007",
    },
    "basket": {
        "total": Decimal("62.50"),
        "currency": "RUB",
        "items": [
            {"sku": sku, "name": name, "category": category, "price": Decimal(price), "qty": qty}
            for sku, name, category, price, qty in _LINES
        ],
    },
    "customer": {
        "id": "c-000042",
        "tier": "gold",
        "points": 1200,
        "tags": ["newsletter", "coffee-lover", "vip"],
        "signup_date": "2024-03-01",
    },
}


def _variant(path: str, value: Any) -> dict[str, Any]:
    """DATA with one field replaced (`basket.total`, `basket.items.-1.qty`), for the agreement check."""
    data = copy.deepcopy(DATA)
    *parents, last = path.split(".")
    node: Any = data
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return data


# Contexts on which every engine must give the same truth value as the compiled expression.
VARIANTS: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "C1": [
        ("total 49.99", _variant("basket.total", Decimal("49.99"))),
        ("tier silver", _variant("customer.tier", "silver")),
        ("no tier", _variant("customer.tier", None)),
    ],
    "C2": [
        ("last line qty 1", _variant("basket.items.-1.qty", 1)),
        ("no lines", _variant("basket.items", [])),
    ],
    "C3": [
        ("thursday 12:00", _variant("event.time", "2026-12-03T12:00:00+03:00")),
        ("saturday 12:00", _variant("event.time", "2026-12-05T12:00:00+03:00")),
        ("friday 22:00-05:00 (saturday 03:00 UTC)", _variant("event.time", "2026-12-04T22:00:00-05:00")),
        ("not vip", _variant("customer.tags", ["newsletter"])),
        ("total 45", _variant("basket.total", 45)),
    ],
}


# -- hand-written baselines: what a careful engineer would write, reading the same Context ------------
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _c2_hand(ctx: Context) -> bool:
    for item in ctx["basket"]["items"]:  # noqa: SIM110  (the explicit loop is the baseline: no generator)
        if item["category"] == "coffee" and item["qty"] >= 2:
            return True
    return False


def _c3_hand(ctx: Context) -> bool:
    time = ctx["event"]["time"]
    return (
        (_WEEKDAYS[time.weekday()] in {"sat", "sun"} or time.hour < 10)
        and "vip" in ctx["customer"]["tags"]
        and ctx["basket"]["total"] - 5 > 40
    )


HAND: dict[str, Callable[[Context], bool]] = {
    "C1": lambda ctx: ctx["basket"]["total"] >= 50 and ctx["customer"]["tier"] in {"gold", "platinum"},
    "C2": _c2_hand,
    "C3": _c3_hand,
}


# -- peers ------------------------------------------------------------------------------------------
@dataclass
class Peer:
    """A peer engine: its condition texts, how it compiles one, and what it needs done to a Context."""

    name: str
    distribution: str
    texts: dict[str, str]
    notes: dict[str, str]
    conversion: str
    compile: Callable[[str], Callable[[Any], Any]]
    convert: Callable[[Mapping[str, Any]], Any] | None = None
    version: str = ""
    runner: str = ""


def _local_wall_clock(value: dt.datetime) -> dt.datetime:
    """The same wall-clock time, labelled UTC: a peer's UTC getters then give the local hour and weekday."""
    return value.replace(tzinfo=dt.UTC)


def _zen_value(value: Any) -> Any:
    kind = type(value)
    if kind is dict:
        return {key: _zen_value(item) for key, item in value.items()}
    if kind is tuple:
        return tuple(_zen_value(item) for item in value)
    if kind is Decimal:
        return float(value)
    if kind is dt.datetime:
        return value.replace(tzinfo=None).isoformat()  # zen's d() reads a text without offset as UTC
    if kind is dt.date:
        return value.isoformat()
    return value


def _zen_peer() -> Peer:
    import zen

    def compile_zen(text: str) -> Callable[[Any], Any]:
        return zen.compile_expression(text).evaluate  # type: ignore[no-any-return]

    return Peer(
        name="zen-engine",
        distribution="zen-engine",
        texts={
            "C1": CONDITIONS["C1"],
            "C2": 'some(basket.items, #.category == "coffee" and #.qty >= 2)',
            "C3": "(d(event.time).weekday() in [6, 7] or d(event.time).hour() < 10)"
            ' and "vip" in customer.tags and basket.total - 5 > 40',
        },
        notes={
            "C2": "`some(list, predicate on #)` is zen's any()",
            "C3": "weekday() is 1 (mon) .. 7 (sun), so the weekend is [6, 7]",
        },
        conversion=(
            "the binding refuses Decimal and datetime: numbers become float, times the local wall-clock"
            " time as ISO text without offset (d() reads it as UTC, so hour() and weekday() are local),"
            " dates ISO text; one recursive copy of the roots the condition reads"
        ),
        compile=compile_zen,
        convert=lambda ctx: {root: _zen_value(value) for root, value in ctx.items()},
    )


def _rule_engine_peer() -> Peer:
    import rule_engine

    def compile_rule(text: str) -> Callable[[Any], Any]:
        return rule_engine.Rule(text).matches  # type: ignore[no-any-return]

    return Peer(
        name="rule-engine",
        distribution="rule-engine",
        texts={
            "C1": CONDITIONS["C1"],
            "C2": '$any([item.category == "coffee" and item.qty >= 2 for item in basket.items])',
            "C3": '(event.time.weekday in ["Saturday", "Sunday"] or event.time.hour < 10)'
            ' and "vip" in customer.tags and basket.total - 5 > 40',
        },
        notes={
            "C2": "no short-circuit: the comprehension builds the whole list, then $any",
            "C3": "weekday is the English day name",
        },
        conversion="none outside the engine: Rule.matches reads the Context's dicts, Decimals, tuples"
        " and aware datetimes, and coerces each value it reads itself (inside the timed call)",
        compile=compile_rule,
    )


def _cel_value(value: Any) -> Any:
    from celpy import celtypes

    kind = type(value)
    if kind is dict:
        return celtypes.MapType({celtypes.StringType(key): _cel_value(item) for key, item in value.items()})
    if kind is tuple:
        return celtypes.ListType([_cel_value(item) for item in value])
    if kind is str:
        return celtypes.StringType(value)
    if kind is bool:
        return celtypes.BoolType(value)
    if kind is int or kind is Decimal:  # one number type, as in the language: CEL's double
        return celtypes.DoubleType(value)
    if kind is dt.datetime:
        return celtypes.TimestampType(_local_wall_clock(value))
    if kind is dt.date:
        return celtypes.StringType(value.isoformat())
    return value  # None


def _cel_peer() -> Peer:
    import celpy

    # celpy keeps ONE Lark parser for the process, built with the tree class of the first
    # Environment; the transpiling CompiledRunner needs its own tree class, so it must come first.
    env = celpy.Environment(runner_class=celpy.CompiledRunner)
    runner = "CompiledRunner"
    try:
        env.program(env.compile("1 + 1")).evaluate({})
    except Exception:  # a parser already built for the InterpretedRunner: fall back to it
        env = celpy.Environment()
        runner = "InterpretedRunner"

    def compile_cel(text: str) -> Callable[[Any], Any]:
        return env.program(env.compile(text)).evaluate  # type: ignore[no-any-return]

    peer = Peer(
        name="cel-python",
        distribution="cel-python",
        texts={
            "C1": 'basket.total >= 50.0 && customer.tier in ["gold", "platinum"]',
            "C2": 'basket.items.exists(item, item.category == "coffee" && item.qty >= 2.0)',
            "C3": "(event.time.getDayOfWeek() in [0, 6] || event.time.getHours() < 10)"
            ' && "vip" in customer.tags && basket.total - 5.0 > 40.0',
        },
        notes={
            "C1": "numbers are doubles, so the literal is 50.0",
            "C2": "`exists` macro; literal 2.0",
            "C3": "getDayOfWeek() is 0 (sun) .. 6 (sat); literals 5.0 and 40.0",
        },
        conversion="to celpy's value types: MapType, ListType, StringType, every number (int or Decimal)"
        " a DoubleType (CEL has no decimal and does not mix int and double in arithmetic), times a"
        " TimestampType of the local wall-clock time, dates text; one recursive copy of the roots the"
        " condition reads",
        compile=compile_cel,
        convert=lambda ctx: {root: _cel_value(value) for root, value in ctx.items()},
    )
    peer.runner = runner
    return peer


PEERS: list[tuple[str, str, Callable[[], Peer]]] = [
    ("zen-engine", "zen", _zen_peer),
    ("rule-engine", "rule_engine", _rule_engine_peer),
    ("cel-python", "celpy", _cel_peer),
]


def load_peers() -> tuple[list[Peer], list[str]]:
    """The installed peers, and a line for each one that is not."""
    peers: list[Peer] = []
    missing: list[str] = []
    for distribution, module, factory in PEERS:
        try:
            __import__(module)
        except ImportError:
            missing.append(
                f"{distribution} is not installed: skipped (pip install -e '.[bench]' to compare with it)"
            )
            continue
        try:
            peer = factory()
        except Exception as error:  # a peer that breaks is reported, not fatal
            missing.append(f"{distribution} failed to start: {type(error).__name__}: {error}: skipped")
            continue
        peer.version = importlib.metadata.version(distribution)
        peers.append(peer)
    return peers, missing


# -- timing -----------------------------------------------------------------------------------------


def best_ns(function: Callable[[Any], Any], argument: Any, settings: Settings) -> float:
    """Nanoseconds per `function(argument)`: the best of `repeat` timeit runs."""
    timer = timeit.Timer("f(a)", globals={"f": function, "a": argument})
    number = 1
    while True:
        elapsed = timer.timeit(number)
        if elapsed >= settings.budget / 20 or number >= 10**8:
            break
        number *= 10 if elapsed < settings.budget / 200 else 2
    number = max(1, round(number * settings.budget / max(elapsed, 1e-9)))
    return min(timer.repeat(settings.repeat, number)) / number * 1e9


@dataclass
class PeerResult:
    text: str
    ns: float | None = None
    eval_only_ns: float | None = None
    note: str = ""
    error: str | None = None
    disagreements: list[str] = field(default_factory=list)


@dataclass
class Result:
    id: str
    text: str
    compiled_ns: float
    function_ns: float
    hand_ns: float
    compile_ms: float
    peers: dict[str, PeerResult]
    hand_disagreements: list[str]

    @property
    def hand_ratio(self) -> float:
        return self.compiled_ns / self.hand_ns

    @property
    def fastest_peer(self) -> tuple[str, float] | None:
        timed = [(name, p.ns) for name, p in self.peers.items() if p.ns is not None]
        return min(timed, key=lambda pair: pair[1]) if timed else None


def measure(cid: str, peers: list[Peer], settings: Settings) -> Result:
    text = CONDITIONS[cid]
    expression: Expression = compile_expression(text)
    context = expression.context(DATA)
    hand = HAND[cid]
    hand_disagreements = disagreements(expression, hand)
    compiled_ns = best_ns(expression.evaluate, context, settings)
    function_ns = best_ns(expression._function, context, settings)
    hand_ns = best_ns(hand, context, settings)
    compile_ms = best_ns(compile_expression, text, Settings(settings.budget / 2, settings.repeat)) / 1e6

    # Each peer reads only the roots this condition reads, as a service would pass them.
    roots = sorted(expression.roots)
    results: dict[str, PeerResult] = {}
    for peer in peers:
        outcome = PeerResult(text=peer.texts[cid], note=peer.notes.get(cid, ""))
        results[peer.name] = outcome
        convert = peer.convert
        try:
            evaluate = peer.compile(peer.texts[cid])

            run = evaluate
            if convert is not None:

                def run(ctx: Mapping[str, Any], evaluate: Any = evaluate, convert: Any = convert) -> Any:
                    return evaluate(convert(ctx))

            outcome.disagreements = disagreements(expression, run)
            subset = {root: context[root] for root in roots}
            outcome.ns = best_ns(run, subset, settings)
            if convert is not None:
                outcome.eval_only_ns = best_ns(evaluate, convert(subset), settings)
        except Exception as error:
            outcome.error = f"{type(error).__name__}: {error}"
            outcome.ns = outcome.eval_only_ns = None
    return Result(cid, text, compiled_ns, function_ns, hand_ns, compile_ms, results, hand_disagreements)


def disagreements(expression: Expression, run: Callable[[Any], Any]) -> list[str]:
    """Where a peer's truth value differs from the compiled expression's, over DATA and the variants."""
    roots = sorted(expression.roots)
    cid = next(key for key, text in CONDITIONS.items() if text == expression.text)
    found = []
    for label, data in [("the bench context", DATA), *VARIANTS[cid]]:
        normalized = expression.context(data)
        want = expression.evaluate(normalized) is True
        try:
            value = run({root: normalized[root] for root in roots})
        except Exception as error:
            value = error
        if isinstance(value, BaseException):  # celpy also returns its errors as values
            found.append(f"{label}: {type(value).__name__} {str(value)[:100]}")
        elif bool(value) is not want:
            found.append(f"{label}: {bool(value)} where compiled gives {want}")
    return found


def cold_compile_ms() -> float:
    """The first compile in a process also builds the parser tables; measured once, before any other."""
    start = timeit.default_timer()
    compile_expression(CONDITIONS["C1"])
    return (timeit.default_timer() - start) * 1e3


# -- report -----------------------------------------------------------------------------------------
def _ns(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def targets(results: list[Result], peers: list[Peer]) -> list[tuple[str, bool | None, str]]:
    """(what, met or None when nothing to compare with, the numbers behind it)."""
    out: list[tuple[str, bool | None, str]] = []
    worst = max(results, key=lambda r: r.hand_ratio)
    out.append(
        (
            f"compiled <= {TARGET_HAND_RATIO}x hand-written on every condition",
            all(r.hand_ratio <= TARGET_HAND_RATIO for r in results),
            ", ".join(f"{r.id} {r.hand_ratio:.2f}x" for r in results) + f" (worst {worst.id})",
        )
    )
    factors = []
    for r in results:
        fastest = r.fastest_peer
        if fastest is not None:
            factors.append((r.id, fastest[0], fastest[1] / r.compiled_ns))
    out.append(
        (
            f"compiled >= {TARGET_PEER_FACTOR:g}x faster than the fastest peer on every condition",
            all(f >= TARGET_PEER_FACTOR for _, _, f in factors) if factors else None,
            ", ".join(f"{cid} {f:.1f}x ({name})" for cid, name, f in factors) or "no peer installed",
        )
    )
    out.append(
        (
            f"compile < {TARGET_COMPILE_MS:g} ms per expression",
            all(r.compile_ms < TARGET_COMPILE_MS for r in results),
            ", ".join(f"{r.id} {r.compile_ms:.3f} ms" for r in results),
        )
    )
    return out


def render(results: list[Result], peers: list[Peer], missing: list[str], cold_ms: float, quick: bool) -> str:
    lines: list[str] = [*missing]
    head = ["cond", "compiled", "gen. fn", "hand", "comp/hand"]
    head += [f"{p.name} (x)" for p in peers]
    head += ["peer/comp", "compile ms"]
    rows = [head]
    for r in results:
        mark = "!" if r.hand_disagreements else ""
        row = [r.id, _ns(r.compiled_ns), _ns(r.function_ns), _ns(r.hand_ns) + mark, f"{r.hand_ratio:.2f}x"]
        for p in peers:
            pr = r.peers[p.name]
            mark = "!" if pr.disagreements else ""
            row.append("failed" if pr.ns is None else f"{pr.ns:,.0f} ({pr.ns / r.compiled_ns:.0f}x){mark}")
        fastest = r.fastest_peer
        row.append("-" if fastest is None else f"{fastest[1] / r.compiled_ns:.1f}x")
        row.append(f"{r.compile_ms:.3f}")
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines.append("ns per evaluation (best of N, lower is better); (x) = peer ns / compiled ns")
    for number, row in enumerate(rows):
        lines.append(
            "  ".join(
                cell.rjust(w) if i else cell.ljust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if number == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.append("")
    for r in results:
        lines.append(f"{r.id}  {r.text}")
        for disagreement in r.hand_disagreements:
            lines.append(f"    {'hand':<12} DISAGREES on {disagreement}")
        for p in peers:
            pr = r.peers[p.name]
            detail = f"; {pr.note}" if pr.note else ""
            lines.append(f"    {p.name:<12} {pr.text}{detail}")
            if pr.error:
                lines.append(f"    {'':<12} FAILED: {pr.error}")
            for disagreement in pr.disagreements:
                lines.append(f"    {'':<12} DISAGREES on {disagreement}")
    if any(p.convert is not None for p in peers):
        lines.append("")
        lines.append("peer evaluation alone, context converted once outside the timed loop (ns, x compiled):")
        for r in results:
            cells = []
            for p in peers:
                pr = r.peers[p.name]
                if pr.eval_only_ns is not None:
                    cells.append(f"{p.name} {pr.eval_only_ns:,.0f} ({pr.eval_only_ns / r.compiled_ns:.1f}x)")
            lines.append(f"    {r.id}  " + ", ".join(cells))
    lines.append("")
    lines.append("columns: compiled = Expression.evaluate(ctx); gen. fn = the generated function alone,")
    lines.append(
        "  without evaluate()'s Context check; hand = hand-written Python; peer/comp = fastest peer /"
    )
    lines.append("  compiled; compile = compile_expression (parse + check + compile), parser tables built")
    lines.append(f"first compile in the process (also builds the parser tables): {cold_ms:.1f} ms")
    for p in peers:
        runner = f", {p.runner}" if p.runner else ""
        lines.append(f"{p.name} {p.version}{runner}: conversion in the timed call: {p.conversion}")
    lines.append("")
    lines.append("targets:")
    for what, met, numbers in targets(results, peers):
        verdict = "n/a" if met is None else ("met" if met else "MISSED")
        lines.append(f"  [{verdict}] {what}: {numbers}")
    lines.append("")
    lines.append(machine_line(quick))
    return "\n".join(lines)


def as_json(results: list[Result], peers: list[Peer], missing: list[str], cold_ms: float, quick: bool) -> str:
    document = {
        "machine": machine(),
        "quick": quick,
        "settings": (QUICK if quick else FULL).__dict__,
        "cold_compile_ms": cold_ms,
        "peers": {
            p.name: {"version": p.version, "runner": p.runner or None, "conversion": p.conversion}
            for p in peers
        },
        "skipped": missing,
        "conditions": [
            {
                "id": r.id,
                "text": r.text,
                "compiled_ns": r.compiled_ns,
                "generated_function_ns": r.function_ns,
                "hand_ns": r.hand_ns,
                "hand_disagreements": r.hand_disagreements,
                "ratio_compiled_hand": r.hand_ratio,
                "compile_ms": r.compile_ms,
                "peers": {
                    name: {
                        "text": pr.text,
                        "note": pr.note or None,
                        "ns": pr.ns,
                        "eval_only_ns": pr.eval_only_ns,
                        "ratio_vs_compiled": None if pr.ns is None else pr.ns / r.compiled_ns,
                        "error": pr.error,
                        "disagreements": pr.disagreements,
                    }
                    for name, pr in r.peers.items()
                },
            }
            for r in results
        ],
        "targets": [
            {"target": what, "met": met, "numbers": numbers} for what, met, numbers in targets(results, peers)
        ],
    }
    return json.dumps(document, indent=2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a short run with rough numbers (smoke test)")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON document")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL

    cold_ms = cold_compile_ms()
    peers, missing = load_peers()
    results = []
    for cid in CONDITIONS:
        print(f"measuring {cid} ...", file=sys.stderr, flush=True)
        results.append(measure(cid, peers, settings))
    if args.json:
        print(as_json(results, peers, missing, cold_ms, args.quick))
    else:
        print(render(results, peers, missing, cold_ms, args.quick))
    return 0


if __name__ == "__main__":
    sys.exit(main())
