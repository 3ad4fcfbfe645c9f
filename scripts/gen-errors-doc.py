"""Write docs/errors.md, the index of every diagnostic code, from rules_engine/codes.py.

    .venv/bin/python scripts/gen-errors-doc.py          # or: make docs
    .venv/bin/python scripts/gen-errors-doc.py --check  # exit 1 if docs/errors.md is stale

It reads only the registry, `rules_engine.codes` (a module that imports nothing else of the
project), and needs neither the `loyalty` command nor a program. tests/test_codes.py fails when
the committed file differs from what this writes.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rules_engine.codes import CODES, RETIRED, Code  # noqa: E402

TARGET = ROOT / "docs" / "errors.md"

RANGES = {
    "1": "Program files: YAML, structure, model, references",
    "2": "Condition syntax and limits",
    "3": "Names and types in conditions",
    "4": "Runtime input: contexts, files, events, states, redemptions, returns, time",
    "5": "Lint warnings",
    "6": "Stores",
    "7": "The command line",
    "8": "The HTTP service",
}

HEAD = """\
# Error codes

<!-- Generated from rules_engine/codes.py by `make docs` (scripts/gen-errors-doc.py): edit those,
not this file. tests/test_codes.py fails when the two differ. -->

Every problem the engine and `loyalty` report carries a stable code, `RE` and three digits, so that
a search, a test (`expect: {error: RE411}` in a tests file) or a tool can rely on it. The message and
the hint may be reworded; a code keeps its meaning, and a retired code is never given a new one.

```text
programs/gold.yaml:14:26: error[RE303]: cannot compare number with text
```

This page is the index: each code's meaning in one line, the stage of the pipeline that finds it,
its severity, the exit status of a command that stops on it, and the page that explains it with
examples. The JSON forms (`validate --json`, `run --problems`) carry the same `code` and
`severity`.

- **Severity**: an error stops what it is about (a program does not load, an event is refused and
  nothing of it applied); a warning is reported and changes nothing. `validate --strict` fails on
  warnings too (exit 1).
- **Exit**: `1` a problem in a program, an expression, an input or a store; `2` a usage error
  (click's own, such as an unknown option, and the `RE7xx` codes); `130` a run interrupted with
  Ctrl-C; `0` for a warning. Conventions for every command: [cli.md](cli.md#conventions).
- From Python, each code is an error class's `diagnostics[i].code`; `rules_engine.codes.CODES`
  holds this table (`CODES["RE411"].stage`).
"""


def _row(entry: Code) -> str:
    page = entry.docs.split("#")[0]
    return (
        f"| {entry.code} | {entry.title} | {entry.stage} | {entry.severity} | {entry.exit_status} "
        f"| [{page}]({entry.docs}) |"
    )


def render() -> str:
    lines = [HEAD]
    for digit, title in RANGES.items():
        entries = [entry for code, entry in CODES.items() if code[2] == digit]
        lines += [
            f"## RE{digit}xx: {title}",
            "",
            "| code | meaning | stage | severity | exit | details |",
            "| --- | --- | --- | --- | --- | --- |",
            *(_row(entry) for entry in entries),
            "",
        ]
    lines += [
        "## Retired codes",
        "",
        "No longer given, and never to be given another meaning:",
        "",
        "| code | was | now |",
        "| --- | --- | --- |",
    ]
    for code, (was, now) in sorted(RETIRED.items()):
        lines.append(f"| {code} | {was} | {now} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    text = render()
    if "--check" in sys.argv[1:]:
        if TARGET.read_text(encoding="utf-8") != text:
            sys.exit(f"{TARGET.relative_to(ROOT)} is stale: run `make docs`")
        return
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET.relative_to(ROOT)}: {len(CODES)} codes, {len(RETIRED)} retired")


if __name__ == "__main__":
    main()
