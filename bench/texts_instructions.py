"""Instructions of `OutcomeTexts.write` per service purchase result, counted by callgrind.

    .venv/bin/python bench/texts_instructions.py                 # as the service writes (~4 min a run)
    .venv/bin/python bench/texts_instructions.py --made          # lazily made fields made before
    .venv/bin/python bench/texts_instructions.py --made --words  # and the trace's words formatted before
    .venv/bin/python bench/texts_instructions.py --part trace --made --words   # one part of the write

The service writes an applied event's outcome twice in one pass (engine/outcome_json.py
`OutcomeTexts.write`: the stored text and the answer's). Its time in `bench/profile_service.py
--parts` is not the writer's alone: `Engine.process` returns a result whose ledger, totals, tier
progress, trace, badges and the rest are made when first read (engine/later.py), and a trace's
words (`verdicts.Text`: a challenge's or a quest's progress) are formatted when first read; the
write is their first reader. A child makes bench_service's coffee-club purchases (half as many
customers as events, each event parsed as the service parses it and processed on the customer's
state), writes 200 of them to warm the writer's caches, and callgrind counts the writing of the
next 400 (counting.py `window`). `--made` reads every lazily made field first, `--words` formats
the trace's words first, so that what is left is the writer's own work; `--part` counts one part
of it (`head`, `effects`, `totals`, `trace`, `stored`: the stored text from the marked one,
`answered`: the answer's). Without valgrind it says so and exits 0.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))  # run from a checkout
sys.path.insert(0, str(BENCH))

from counting import count, spread, window  # noqa: E402

WARM, COUNTED = 200, 400
MADE_LATER = (
    "ledger",
    "totals",
    "tier_progress",
    "points_changes",
    "awards",
    "discounts",
    "badges",
    "tier_changes",
)


def results(how_many: int) -> list[Any]:
    """The service's purchases' results: bench_service's events, parsed as the service parses a
    body, each processed on its customer's state after the one before."""
    from bench_service import PROGRAM, events

    from rules_engine import jsonio
    from rules_engine.engine.evaluator import Engine
    from rules_engine.http.routes.events import parse_text

    engine = Engine.from_file(PROGRAM)
    states: dict[str, Any] = {}
    made = []
    for raw in events(how_many, how_many // 2, "r0000000"):
        event = parse_text(jsonio.dumps(raw).encode())
        assert not isinstance(event, str), event  # the service's purchases: all read
        result = engine.process(event, states.get(event.customer))
        states[result.customer] = result.state
        made.append(result)
    return made


def child(part: str, made: bool, words: bool) -> None:
    from rules_engine.engine import outcome_json
    from rules_engine.engine.verdicts import Text

    every = results(WARM + COUNTED)
    texts = outcome_json.OutcomeTexts()
    for result in every[:WARM]:
        texts.write(result)
    counted = every[WARM:]
    for result in counted if made else ():
        for name in MADE_LATER:
            getattr(result, name)
        result.recorded_trace()
        for award in result.awards:
            tuple(award.lines)
    for result in counted if words else ():
        for entry in result.recorded_trace():
            for value in entry if isinstance(entry, tuple) else ():
                if type(value) is Text:
                    str(value)
    marked = texts._marked
    works: dict[str, Callable[[], object]] = {
        "write": lambda: [texts.write(r) for r in counted],
        "head": lambda: [marked.head(r) for r in counted],
        "effects": lambda: [marked.effects(r) for r in counted],
        "totals": lambda: [marked.totals(r.totals) for r in counted],
        "trace": lambda: [outcome_json.STORED.trace(r.recorded_trace()) for r in counted],
    }
    if part in ("stored", "answered"):
        heads = [
            "".join(marked.head(r)) + f',"tier_progress":{marked.progress(r.tier_progress)}}}'
            for r in counted
        ]
        write = outcome_json.stored_text if part == "stored" else outcome_json.answered_text
        works[part] = lambda: [write(h) for h in heads]
    window(works[part])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--part",
        default="write",
        choices=("write", "head", "effects", "totals", "trace", "stored", "answered"),
    )
    parser.add_argument("--made", action="store_true", help="the lazily made fields made before the window")
    parser.add_argument("--words", action="store_true", help="the trace's words formatted before the window")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.part, args.made, args.words)
        return
    if shutil.which("valgrind") is None:
        print("valgrind is not installed: nothing counted")
        return
    flags = [f"--part={args.part}", *(["--made"] if args.made else []), *(["--words"] if args.words else [])]
    counts = count(__file__, flags, " ".join(flags), args.runs)
    print(f"OutcomeTexts {' '.join(flags)}: {spread([c / COUNTED for c in counts])} instructions a result")


if __name__ == "__main__":
    main()
