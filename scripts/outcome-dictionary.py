"""Write the zstd dictionary stored outcomes are packed against (rules_engine/store/outcomes.py).

    .venv/bin/python scripts/outcome-dictionary.py OUT.zdict

Trains a 16 KB dictionary (zstd's trainer, deterministic for the same samples) on the stored
outcomes of the five example programs over the streams the differential tests draw (hypothesis,
derandomized: the same streams every run for the same code): every kind of event, sign-ups to
redemptions, over months. The outcomes share what any program's do — the keys, the trace's codes
and reasons, the effects' empty lists — and each program's rule names, which a program of a
user's does not share: a dictionary trained without one example program packs that program's
outcomes 4-7x faster than zlib and in 3-36 % fewer bytes (bench/README.md, "zstd").

A shipped dictionary never changes: rows name it by its id (`DICTIONARY_ID`, written into the
dictionary and each frame). A better one is written to a new file with a new id (`--id`) and
added beside it in outcomes.py, the old one kept for the rows packed with it.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import zstandard  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402

from rules_engine.engine.evaluator import Engine  # noqa: E402
from rules_engine.errors import EventError  # noqa: E402
from tests.engine.random_programs import Drawn, streams  # noqa: E402
from tests.engine.two_paths import EXAMPLES, products  # noqa: E402

SIZE = 16_384
STREAMS = 60  # a program: ~600 outcomes each


def outcomes() -> list[bytes]:
    """The stored outcomes of `STREAMS` drawn streams through each example program."""
    made: list[bytes] = []
    for path in EXAMPLES:
        engine = Engine.from_file(path)
        currency = engine.program.currency
        drawn = Drawn(path.read_text(encoding="utf-8"), currency, 0 if currency == "JPY" else 2)

        @settings(
            max_examples=STREAMS,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(streams(drawn, customers=3, events=24, products=products(path.stem)))
        def run(events: list[dict[str, Any]]) -> None:
            states: dict[str, Any] = {}
            for event in events:
                try:
                    result = engine.process(event, states.get(event["customer"]))  # noqa: B023 (run now)
                except EventError:
                    continue
                states[event["customer"]] = result.state
                made.append(result.stored_json().encode())

        run()
    return made


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument(
        "--id", type=lambda text: int(text, 0), default=0x4C4F5931, help="the dictionary's id"
    )
    args = parser.parse_args()
    warnings.filterwarnings("ignore")  # hypothesis outside a test run
    samples = outcomes()
    dictionary = zstandard.train_dictionary(SIZE, samples, dict_id=args.id)
    args.out.write_bytes(dictionary.as_bytes())
    print(f"{args.out}: {len(samples)} outcomes, {len(dictionary.as_bytes())} bytes, id {args.id:#010x}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
