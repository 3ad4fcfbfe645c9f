"""PyYAML's errors in plain words: a `MarkedYAMLError` or `ReaderError` → one RE101 `Diagnostic`.

PyYAML says what its parser expected in token names (`expected <block end>, but found '-'`); a
marketer needs what is wrong with the line and how to fix it ("a list item is not expected here";
"list items go under a field"). The common cases (tabs, a missing space after a colon, unclosed
quotes, bad escapes, wrong indentation, characters YAML does not allow) get their own words and
hint, and the caret goes where the fix is; anything else keeps PyYAML's words, without its jargon.
"""

from __future__ import annotations

import re

import yaml
from yaml.reader import ReaderError

from rules_engine.errors import Diagnostic
from rules_engine.source import SourceFile, Span


def syntax_diagnostic(file: SourceFile, error: yaml.MarkedYAMLError) -> Diagnostic:
    """A PyYAML error as RE101: the problem in plain words, at its place, with a hint.

    PyYAML's marks carry 0-based line and column, counted with YAML 1.1's idea of a line break
    (also `\\x85`, `\\u2028`, `\\u2029` and a lone `\\r`) and skipping a byte-order mark; only
    `index` is used, and `SourceFile` computes the 1-based line and column from it.
    """
    text = file.text
    problem = error.problem or error.context or "this is not valid YAML"
    context = error.context or ""
    problem_mark = error.problem_mark or error.context_mark
    problem_at = problem_mark.index if problem_mark else 0
    context_at = error.context_mark.index if error.context_mark else problem_at
    at, width = problem_at, 1
    message, hint = _plain_words(problem), None

    line_start = text.rfind("\n", 0, problem_at) + 1
    line_end = text.find("\n", line_start)
    line = text[line_start : line_end if line_end >= 0 else len(text)]
    indentation = line[: len(line) - len(line.lstrip(" \t"))]
    if "\t" in indentation or text[problem_at : problem_at + 1] == "\t":
        message = "a tab cannot be used to indent or separate YAML"
        hint = "indent with spaces, not tabs"
        if text[problem_at : problem_at + 1] != "\t":
            at = line_start + indentation.find("\t")
    elif "mapping values are not allowed" in problem:
        message = "unexpected `:` — a value here cannot start a mapping"
        hint = _colon_hint(file, problem_at)
    elif "while scanning a quoted scalar" in context:
        quote = text[context_at] if context_at < len(text) else '"'
        message = "this quoted text is never closed"
        at, hint = context_at, f"add the closing `{quote}` at the end of the value"
    elif "unknown escape character" in problem or "expected escape sequence" in problem:
        at = max(0, text.rfind("\\", 0, problem_at))
        escape = re.match(r"\\(?:[xuU][0-9A-Fa-f]*|.)", text[at:])
        width = len(escape.group()) if escape else 2
        digits = re.search(r"of (\d+) hexadecimal", problem)
        if digits:
            message = f"`{text[at : at + 2]}` must be followed by {digits.group(1)} hexadecimal digits"
        else:
            message = f"`{text[at : at + 2]}` is not an escape sequence YAML knows"
        hint = "write `\\\\` for a backslash, or use single quotes, where `\\` has no special meaning"
    elif problem == NO_CHARACTER:
        at = max(0, text.rfind("\\", 0, problem_at))
        escape = re.match(r"\\(?:x[0-9A-Fa-f]{2}|u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8})", text[at:])
        width = len(escape.group()) if escape else 2
        message = f"`{text[at : at + width]}` names no Unicode character"
        hint = "characters go up to \\U0010FFFF; or write the character itself"
    elif "could not find expected ':'" in problem:
        at = context_at
        message = "this line is neither `field: value` nor a list item"
        hint = "write `field: value`, or indent the line to continue the value above"
    elif "while scanning an alias" in context or "while scanning an anchor" in context:
        at = context_at
        sign = text[at] if at < len(text) else "*"
        word = "an alias" if sign == "*" else "an anchor"
        message = f"`{sign}` at the start of a value begins {word} in YAML"
        hint = "quote the value if it is text, e.g. '*bold*'"
    elif "that cannot start any token" in problem:
        sign = text[problem_at] if problem_at < len(text) else "?"
        message = f"a value cannot start with `{sign}`"
        hint = f"quote the value: '{sign}…'"
    elif "while scanning a block scalar" in context:
        message = "after `|` or `>` only `-`, `+`, a digit or a comment may follow on the same line"
        hint = "start the text on the next line, indented"
    elif "expected <block end>" in problem:
        found = problem.rsplit("but found", 1)[-1].strip(" '")
        message, hint = _indentation_words(found)
    elif "expected ',' or ']'" in problem or "expected ',' or '}'" in problem:
        closer = "]" if "']'" in problem else "}"
        opened, _ = file.position(context_at)
        message = f"expected `,` or `{closer}`"
        hint = (
            f"separate the items with `,` and close the `{'[' if closer == ']' else '{'}` from line {opened}"
        )
    elif "expected the node content" in problem:
        if "<stream end>" in problem:
            message, hint = "the file ends before this value is complete", "close every `[` and `{`"
        else:
            message = f"a value cannot start with `{text[problem_at] if problem_at < len(text) else '?'}`"
            hint = "quote the value if it is text"
    elif "undefined tag handle" in problem:
        message, hint = "this tag is not defined", "remove the tag"
    elif "expected '<document start>'" in problem and re.search(r"^\.\.\.\s*$", text[:problem_at], re.M):
        message = "more YAML follows the end of the document"
        hint = "one program per file: remove the `...` line, or move the rest into a file of its own"
    elif "expected '<document start>'" in problem:
        message = "this line is indented less than the fields above it"
        hint = "start every top-level field in the same column, the first one"

    if at >= len(text.rstrip()):  # at the end of the file: point after the last thing written
        at, width = len(text.rstrip()), 0
    return Diagnostic("RE101", message, Span(file, at, min(at + width, len(text))), hint)


NO_CHARACTER = "an escape beyond the last Unicode character"
"""The problem of the scanner error the loader raises for `"\\U00110000"` (PyYAML's own `chr()`
fails on it with a ValueError, or an OverflowError past `\\U7FFFFFFF`)."""

_JARGON = re.compile(r"'?<([a-z ]+)>'?")
_TOKEN_WORDS = {
    "block end": "the end of the indented block",
    "block mapping start": "a new indented mapping",
    "block sequence start": "a new list",
    "stream end": "the end of the file",
    "document start": "a new document",
    "scalar": "a value",
}


def _plain_words(problem: str) -> str:
    """PyYAML's problem text without token names: `<block end>` → "the end of the indented block"."""
    problem = _JARGON.sub(lambda m: _TOKEN_WORDS.get(m.group(1), m.group(1)), problem)
    return problem.replace("'", "`")


def _indentation_words(found: str) -> tuple[str, str]:
    if found == "-":
        return (
            "a list item is not expected here",
            "list items go under a field: write `field:` and indent the `- ` lines below it",
        )
    if found == "<scalar>":
        return "unexpected text after the value", "quote the whole value if it is text"
    if found in ("]", "}"):
        return (
            f"unexpected `{found}`",
            f"remove it, or add the `{'[' if found == ']' else '{'}` it should close",
        )
    if found == "?":
        return (
            "a field cannot follow list items at the same indentation",
            "indent the list under its field, or check this line's indentation",
        )
    return (
        "this line's indentation does not match the lines above it",
        "fields of one mapping start in the same column; indent with spaces",
    )


_MISSING_SPACE = re.compile(r"^\s*(?:-\s+)?([^\s#'\"{}\[\]][^\s:]*):(?=[^\s/])")


def _colon_hint(file: SourceFile, at: int) -> str:
    line, column = file.position(at)
    here = file.line_text(line)
    if column > 1024 and ": " not in here[: column - 1]:
        return "a key can be at most 1024 characters long"
    previous_line = next((n for n in range(line - 1, 0, -1) if file.line_text(n).strip()), None)
    if previous_line is not None:
        previous = file.line_text(previous_line)
        if _MISSING_SPACE.match(previous) and ": " not in previous:
            fixed = previous.strip().replace(":", ": ", 1)
            return f"put a space after the colon on line {previous_line}: `{fixed}`"
        indent = len(here) - len(here.lstrip())
        if indent > len(previous) - len(previous.lstrip()) and ": " in previous.strip():
            return "this line is indented more than the field above it; fields of one mapping line up"
    key, colon, value = here.partition(": ")
    if colon and ": " in value:
        quoted = value.strip().replace("'", "''")
        return f"quote the value, because it contains ': ' — {key.strip()}: '{quoted}'"
    return "put a space after the colon in `field: value`, or quote the value if it contains ': '"


def unprintable_diagnostic(file: SourceFile, error: ReaderError) -> Diagnostic:
    at = int(error.position)
    code = int(error.character) if isinstance(error.character, int) else 0
    escape = f"\\x{code:02X}" if code <= 0xFF else f"\\u{code:04X}"
    return Diagnostic(
        "RE101",
        f"the character U+{code:04X} is not allowed in a YAML file",
        Span(file, at, at + 1),
        f"delete it (it is often pasted invisibly); in double quotes it can be written `{escape}`",
    )
