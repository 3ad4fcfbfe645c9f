"""JSON in and out with exact numbers: read numbers as Decimal, write Decimals digit for digit.

The standard library reads `19.99` as a binary float and cannot write a Decimal as a number;
money must never pass through float, so both directions go through here.

Reading is also where hostile input stops. `loads` refuses, with a `JsonError` that knows the
character where the text went wrong: a text of more than `MAX_TEXT` characters, nesting deeper
than `MAX_DEPTH` (checked by a linear scan before the standard library's recursive parser sees
it), a key that appears twice in one object (as the YAML loader does), a lone UTF-16 surrogate
(`"caf\\ud800"`, which no UTF-8 output can print), the NUL character (`"\\u0000"`, which
PostgreSQL refuses in text: a customer id holding it stopped `run --db` for good), NaN and
Infinity, and a number of more than `MAX_DIGITS` digits. `value_span` finds where a value sits in
the text, for a caret under the field a validator refused.

Every event of `loyalty run` passes here, so the common text takes a cheaper road: when a C pass
(`_short_numbers`) proves that no number in it can be too long, the numbers are read without the
Python hooks that count their digits; anything that goes wrong on that road is read again the
careful way, whose error is the one raised (tests/test_jsonio.py holds the two equal).

An event's text can go cheaper still (`loads_counting_keys`): without the Python hook that looks
for a repeated key in each object (as costly as the C scanner's reading), the caller that builds
the event (engine/event_text.py) counting the keys it finds against the keys written in the text.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, NoReturn

from rules_engine.dsl.values import to_json

MAX_DEPTH = 64
"""Objects and arrays nested deeper than this are refused: an event is four levels deep."""
MAX_TEXT = 8 * 1024 * 1024
"""The most characters one JSON document (one event, one state, one line) may hold: 8 MiB,
far above a basket of 10,000 lines."""
MAX_DIGITS = 40
"""The most digits one number may have: far above any amount or count, and far below the 4,300
at which Python refuses to read an integer (a ValueError that would otherwise stop a stream)."""
MAX_FILE = 256 * 1024 * 1024
"""The most bytes a file of many documents (customer states, a tests file) may hold: 256 MiB."""

# One token of a JSON text as far as nesting and positions go: a string (maybe unterminated), a
# bracket, a separator, or a run of anything else (a number, true, false, null, white space).
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}:,]|[^"\[\]{}:,\s]+', re.DOTALL)

JsonPath = tuple[str | int, ...]
_LONE_CHARACTER = re.compile("[\ud800-\udfff]")
_CHECKED_ESCAPE = re.compile(r"\\u(?:[dD][89a-fA-F]|0000)")  # a surrogate's, or NUL's


class JsonError(ValueError):
    """Why a text is not JSON we accept, and the character offset where it shows."""

    def __init__(self, message: str, position: int, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.position = position
        self.hint = hint


_CONTROL_NAMES = {"\t": "a tab (U+0009)", "\n": "a line break (U+000A)", "\r": "a carriage return (U+000D)"}


def _decode_error(text: str, problem: json.JSONDecodeError) -> JsonError:
    """The standard library's complaint as a `JsonError`. Two of its messages end in "at", the
    position meant to follow (`Invalid control character at`): those say what they found."""
    if problem.msg == "Invalid control character at":
        found = text[problem.pos] if problem.pos < len(text) else ""
        what = _CONTROL_NAMES.get(found, f"the control character U+{ord(found or chr(0)):04X}")
        return JsonError(
            f"not valid JSON: {what} cannot stand in a string as it is",
            problem.pos,
            "write it escaped (\\t a tab, \\n a line break), or delete it: it is often pasted invisibly",
        )
    if problem.msg == "Unterminated string starting at":
        return JsonError(
            "not valid JSON: the string that starts here is not closed",
            problem.pos,
            'end it with a double quote on the same line; a " inside it is written \\"',
        )
    return JsonError(f"not valid JSON: {problem.msg}", problem.pos)


def loads(text: str, *, limit: int = MAX_TEXT) -> Any:
    """Parse JSON; non-integral numbers become `Decimal`, never `float`.

    Raises:
        JsonError: the text is not JSON, or not JSON we accept (see the module docstring).
    """
    if len(text) > limit:
        raise JsonError(
            f"the JSON text is longer than {_size(limit)}",
            0,
            f"one document may hold at most {_size(limit)}; split the input",
        )
    _check_structure(text)
    if _short_numbers(text):
        try:
            return _decoder("fast").decode(text)
        except Exception:  # the hooked parse below says what is wrong, in its own words
            pass
    try:
        if text.startswith("\ufeff"):  # refused by `json.loads` itself, in its own words
            return json.loads(text, **_HOOKS)
        return _decoder("careful").decode(text)
    except json.JSONDecodeError as problem:
        raise _decode_error(text, problem) from None
    except _LongNumberError as problem:
        raise JsonError(
            f"a number has more than {MAX_DIGITS} digits",
            _value_position(text, problem.text),
            "no amount, count or id needs that many; write an id as text, in quotes",
        ) from None
    except _OutOfRangeError as problem:
        raise JsonError(
            f"the number {problem.text} is out of range: its exponent is too large",
            _value_position(text, problem.text),
            "write amounts and counts as plain digits (no exponent)",
        ) from None
    except _DuplicateKeyError as problem:
        raise JsonError(
            f"the key {json.dumps(problem.key, ensure_ascii=False)} appears twice in one object",
            _duplicate_position(text, problem.key),
            "keep one of the two; a later one would silently replace the first",
        ) from None
    except _ConstantError as problem:
        raise JsonError(
            f"{problem.name} is not a number JSON allows",
            _value_position(text, problem.name),
            "write numbers as plain digits",
        ) from None
    except ValueError as problem:  # a backstop: no ValueError from the standard library escapes
        raise JsonError(f"not JSON we can read: {problem}", 0) from None


def loads_counting_keys(text: str) -> tuple[Any, int] | None:
    """`loads(text)` read by the C scanner alone, and the number of keys written in the text: if
    the value's objects hold that many keys in all and it nests at most `MAX_DEPTH` deep, it is
    what `loads` gives (else `loads` refuses the text, or gives another value). None for a text
    this road does not read: one `loads` refuses early or is not sure of, or one with a backslash
    or a quote followed by white space.

    Why the count is exact: without a backslash every quote opens or closes a string, and without
    white space after a quote the closing quote of every key is followed by its colon, so `":`
    appears once for each key and once for each string that starts with a colon. A key given
    twice in one object is kept once in the value (the scanner keeps the last value), one key
    fewer than the count; so is a string starting with a colon, one more: either way the caller
    compares, finds fewer keys and reads the text with `loads`, which refuses the repeated key.
    The Python hook `loads` calls on each object to find a repeated key costs about as much as
    the C scanner itself; the caller, which walks the value anyway, counts its keys for less.
    """
    if not plain(text):
        return None
    value = loads_plain(text)
    return None if value is None else (value, text.count('":'))


def plain(text: str) -> bool:
    """Whether `loads_counting_keys` may read the text (its checks before the scanner): at most
    `MAX_TEXT` characters, no byte order mark, backslash, quote followed by white space, number
    of more than `MAX_DIGITS` digits or lone surrogate."""
    if len(text) > MAX_TEXT or text.startswith("\ufeff"):
        return False
    marks = text.encode("utf-8", "surrogatepass").translate(_MARKS)
    if b"\\" in marks or b'" ' in marks or _TOO_LONG in marks:
        return False
    return text.isascii() or _LONE_CHARACTER.search(text) is None


def loads_plain(text: str) -> Any:
    """The value the C scanner alone reads from a text `plain` accepts (Decimals for fractions, no
    hook on each object), or None if it does not read it."""
    try:
        return _decoder("plain").decode(text)
    except Exception:  # RecursionError (nested too deep), NaN, a broken text: `loads`' to say
        return None


def raw_decoder() -> Callable[[str, int], tuple[Any, int]]:
    """`raw_decode` of the decoder `loads_plain` reads with: the value at an offset of a text and
    where it ends (JSONDecodeError, or another exception, if there is none)."""
    return _decoder("plain").raw_decode


def read_text(path: str | Path, *, limit: int = MAX_TEXT) -> str:
    """A UTF-8 file's text (a byte order mark dropped), at most `limit` bytes of it.

    Raises:
        OSError: the file cannot be read.
        UnicodeDecodeError: it is not UTF-8.
        JsonError: it is larger than `limit` (read no further than that: `/dev/zero` is no file).
    """
    with open(path, "rb") as file:
        data = file.read(limit + 1)
    if len(data) > limit:
        raise JsonError(
            f"the file is larger than {_size(limit)}",
            0,
            f"a file read whole may hold at most {_size(limit)}",
        )
    return data.decode("utf-8-sig")


def _size(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MiB" if limit >= 1024 * 1024 else f"{limit:,} bytes"


class _DuplicateKeyError(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


class _ConstantError(Exception):
    def __init__(self, name: str) -> None:
        self.name = name


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data = dict(pairs)
    if len(data) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKeyError(key)
            seen.add(key)
    return data


def _refuse_constant(name: str) -> Any:
    raise _ConstantError(name)


class _LongNumberError(Exception):
    def __init__(self, text: str) -> None:
        self.text = text


def _digits(text: str) -> str:
    # Digits (the exponent's too) are counted only in a number of more characters than the limit:
    # every number of every event passes here, and counting costs about a microsecond.
    if len(text) > MAX_DIGITS and sum(character.isdigit() for character in text) > MAX_DIGITS:
        raise _LongNumberError(text)
    return text


def _integer(text: str) -> int:
    return int(_digits(text))


class _OutOfRangeError(Exception):
    def __init__(self, text: str) -> None:
        self.text = text


def _decimal(text: str) -> Decimal:
    try:
        return Decimal(_digits(text))
    except ArithmeticError:  # an exponent beyond what decimals hold: 1e1111…1 (39 digits)
        raise _OutOfRangeError(text) from None


_HOOKS: dict[str, Any] = {
    "parse_float": _decimal,
    "parse_int": _integer,
    "parse_constant": _refuse_constant,
    "object_pairs_hook": _unique_keys,
}
_FAST_HOOKS: dict[str, Any] = {
    "parse_float": Decimal,
    "parse_constant": _refuse_constant,
    "object_pairs_hook": _unique_keys,
}
"""`loads`' hooks for a text `_short_numbers` proves has no number of more than `MAX_DIGITS`
digits: numbers are read by the C scanner itself (an int) or by the `Decimal` type (a C call),
not by a Python hook that counts their digits first; the duplicate keys are still refused."""
_PLAIN_HOOKS: dict[str, Any] = {"parse_float": Decimal, "parse_constant": _refuse_constant}
"""`loads_counting_keys`' hooks: `_FAST_HOOKS` without the one called on every object."""
_DECODERS = threading.local()
_KINDS = {"careful": _HOOKS, "fast": _FAST_HOOKS, "plain": _PLAIN_HOOKS}


def _decoder(kind: str) -> json.JSONDecoder:
    """This thread's decoder with the hooks of `kind` (`_KINDS`). `json.loads` with hooks builds
    a decoder and its scanner on every call: a sixth of reading a 6-line purchase (59 -> 46 µs).
    One per thread: a decoder's scanner keeps a memo of keys while it reads, and the hooks it
    calls are Python."""
    decoder: json.JSONDecoder | None = getattr(_DECODERS, kind, None)
    if decoder is None:
        decoder = json.JSONDecoder(**_KINDS[kind])
        setattr(_DECODERS, kind, decoder)
    return decoder


# Every character a JSON number is written with becomes "0", every other byte a space: a number of
# more than `MAX_DIGITS` digits is then a run of more than `MAX_DIGITS` zeros (a run may also come
# from text, a long id of digits: then the text is just read the careful way).
_NUMBER_BYTES = bytes(0x30 if chr(byte) in "0123456789.eE+-" else 0x20 for byte in range(256))
_TOO_LONG = b"0" * (MAX_DIGITS + 1)
# As `_NUMBER_BYTES` (a number's characters "0"), but quotes and backslashes kept, JSON's white
# space a space and any other byte an "x": one C pass finds what `loads_counting_keys` does not
# read (a backslash, a quote followed by white space, a number of too many digits).
_MARKS = bytes(
    byte
    if chr(byte) in '"\\'
    else 0x20
    if chr(byte) in " \t\n\r"
    else 0x30
    if _NUMBER_BYTES[byte] == 0x30
    else 0x78
    for byte in range(256)
)


def _short_numbers(text: str) -> bool:
    """Whether no run of `MAX_DIGITS + 1` characters of numbers is in the text: then no number has
    more than `MAX_DIGITS` digits, and `loads` reads it with `_FAST_HOOKS`. A C pass (encode,
    translate, find: ~2 µs a 10-line purchase), where the digit-counting hooks cost more. A text
    with a byte order mark is left to the careful path (the standard library's own words)."""
    if text.startswith("\ufeff"):
        return False
    return _TOO_LONG not in text.encode("utf-8", "surrogatepass").translate(_NUMBER_BYTES)


def _value_position(text: str, value: str) -> int:
    """Where a scalar written as `value` first appears as a value in the text; 0 if nowhere."""
    return next((at for kind, _, at, end in _walk(text) if kind == "value" and text[at:end] == value), 0)


def _check_structure(text: str) -> None:
    """Refuse nesting deeper than MAX_DEPTH, lone surrogates and NUL (`\\u0000`; a raw NUL is
    no JSON), in one pass without recursion."""
    if not text.isascii():  # known without a scan: no surrogate in an ASCII text
        raw = _LONE_CHARACTER.search(text)
        if raw is not None:
            _lone(raw.start())
    escapes = "\\u" in text and _CHECKED_ESCAPE.search(text) is not None
    if text.count("[") + text.count("{") <= MAX_DEPTH and not escapes:
        return  # most events: too few brackets to nest too deep, no escape to check
    depth = 0
    for token in _TOKEN.finditer(text):
        first = text[token.start()]
        if first in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise JsonError(
                    f"objects and arrays are nested more than {MAX_DEPTH} deep",
                    token.start(),
                    "an event, a state or a context is a few levels deep; this is not one",
                )
        elif first in "]}":
            depth -= 1
        elif first == '"' and _CHECKED_ESCAPE.search(token.group()):
            try:
                decoded = json.loads(token.group())
            except json.JSONDecodeError:
                continue  # json.loads reports it, at its place
            if _LONE_CHARACTER.search(decoded) is not None:
                escape = _CHECKED_ESCAPE.search(token.group())
                _lone(token.start() + (escape.start() if escape else 0))
            if "\x00" in decoded:
                escape = re.search(r"\\u0000", token.group())
                raise JsonError(NUL, token.start() + (escape.start() if escape else 0), NUL_HINT)


NUL = "the NUL character (\\u0000) is not text a store can keep"
NUL_HINT = "remove it: PostgreSQL refuses it in text, and an id holding it stopped `run --db`"


def nul_path(data: Any) -> JsonPath | None:
    """Where JSON-like data built in Python holds the NUL character, in a key or a text: the path
    of the first such value (of a key's value, for a key), or None.

    For data that no text read by `loads` (which refuses NUL) gave: a caller's dict. Each list
    and dict is looked into once, however often it appears (a dict may hold itself)."""
    if not _holds_nul(data):  # the common answer, without a path made for every value
        return None
    seen: set[int] = set()
    stack: list[tuple[JsonPath, Any]] = [((), data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return path
            continue
        if isinstance(value, Mapping):
            items: list[tuple[Any, Any]] = list(value.items())
        elif isinstance(value, list | tuple):
            items = list(enumerate(value))
        else:
            continue
        if id(value) in seen:
            continue
        seen.add(id(value))
        for key, item in reversed(items):  # popped in the data's order
            if isinstance(key, str) and "\x00" in key:
                stack.append(((*path, key), key))
            else:
                stack.append(((*path, key), item))
    return None


# The types of a caller's values that hold no text: passed over at once.
_NO_TEXT = frozenset({int, float, bool, Decimal, type(None), dt.datetime, dt.date})


def _holds_nul(data: Any) -> bool:
    """Whether `nul_path` finds a NUL in `data`: the same walk, without the paths. Every event a
    caller gives as a dict is walked (`Loyalty.handle`), and making a path for each of its values
    cost ~4 % of the event; only data with a NUL needs them."""
    seen: set[int] = set()
    stack = [data]
    while stack:
        value = stack.pop()
        kind = type(value)
        if kind in _NO_TEXT:
            continue
        if kind is str or isinstance(value, str):
            if "\x00" in value:
                return True
        elif id(value) in seen:
            continue
        elif kind is list or kind is tuple or isinstance(value, list | tuple):
            seen.add(id(value))
            stack.extend(value)
        elif kind is dict or isinstance(value, Mapping):
            seen.add(id(value))
            for key in value:
                if isinstance(key, str) and "\x00" in key:
                    return True
            stack.extend(value.values())
    return False


def _lone(position: int) -> NoReturn:
    raise JsonError(
        "a lone UTF-16 surrogate (\\ud800 to \\udfff without its pair) is not a character",
        position,
        "write the character itself, or its full surrogate pair",
    )


def _walk(text: str) -> Iterator[tuple[str, JsonPath, int, int]]:
    """Every key, value and bracket of a JSON text with its path, in text order, no recursion.

    Yields `(kind, path, start, end)`: kind "key" (path: to the value that follows), "value" (a
    scalar), "open" or "close" (a bracket of the object or array at `path`). Tolerant of broken
    text: it serves messages about text that already parsed, or failed to.
    """
    stack: list[list[Any]] = []  # [bracket, current key or index, expecting a key]
    for token in _TOKEN.finditer(text):
        start, end = token.span()
        first = text[start]
        if first in "[{":
            yield "open", _steps(stack), start, end
            stack.append([first, None if first == "{" else 0, first == "{"])
        elif first in "]}":
            if stack:
                stack.pop()
            yield "close", _steps(stack), start, end
        elif first == ":" and stack:
            stack[-1][2] = False
        elif first == "," and stack:
            if stack[-1][0] == "{":
                stack[-1][2] = True
            else:
                stack[-1][1] += 1
        elif first == '"' and stack and stack[-1][0] == "{" and stack[-1][2]:
            try:
                stack[-1][1] = str(json.loads(token.group()))
            except json.JSONDecodeError:
                stack[-1][1] = token.group().strip('"')
            yield "key", _steps(stack), start, end
        elif first not in ":,":
            yield "value", _steps(stack), start, end


def _steps(stack: list[list[Any]]) -> JsonPath:
    return tuple(entry[1] for entry in stack if entry[1] is not None)


def value_span(text: str, path: Sequence[str | int]) -> tuple[int, int] | None:
    """The [start, end) offsets of the value at `path` in a JSON text; None if it has none.

    For a path that names no value (a missing field), the object that should hold it: the
    longest prefix of the path that exists. For many paths in one text, `value_spans` walks it once.
    """
    return value_spans(text).find(path)


@dataclass(frozen=True)
class ValueSpans:
    """Where every value and every object or array of one JSON text sits: one walk, many lookups."""

    values: dict[JsonPath, tuple[int, int]]
    containers: dict[JsonPath, tuple[int, int]]

    def find(self, path: Sequence[str | int]) -> tuple[int, int] | None:
        """As `value_span`: the value at `path`, or the innermost object or array that holds it."""
        wanted = tuple(path)
        if wanted in self.values:
            return self.values[wanted]
        for length in range(len(wanted), -1, -1):
            if wanted[:length] in self.containers:
                return self.containers[wanted[:length]]
        return None


def value_spans(text: str) -> ValueSpans:
    """The spans of every value and container of a JSON text, found in one walk of it.

    Placing a caret for each of 10,000 refused fields with `value_span` walked a long line 10,000
    times (an hour); look them all up here instead.
    """
    values: dict[JsonPath, tuple[int, int]] = {}
    containers: dict[JsonPath, tuple[int, int]] = {}
    opened: dict[JsonPath, int] = {}
    for kind, at, start, end in _walk(text):
        if kind == "open":
            opened[at] = start
        elif kind == "value":
            values.setdefault(at, (start, end))
        elif kind == "close" and at in opened:
            containers.setdefault(at, (opened.pop(at), end))
    return ValueSpans(values, containers)


def _duplicate_position(text: str, key: str) -> int:
    """Where a key first appears a second time in one object (the first such repeat)."""
    seen: dict[JsonPath, set[str]] = {}
    for kind, at, start, _ in _walk(text):
        if kind == "open":
            seen[at] = set()
        elif kind == "key":
            keys = seen.setdefault(at[:-1], set())
            if at[-1] == key and key in keys:
                return start
            keys.add(str(at[-1]))
    return 0


def dumps(value: Any, *, indent: int | None = None) -> str:
    """Serialize; Decimals, dates and durations are written exactly (Decimal as a JSON number)."""
    return _dump(to_json(value), indent, 0)


# json.dumps(text, ensure_ascii=False) without building an encoder per string (the C function
# json.dumps itself ends in): the service writes every answer through here.
_string = json.encoder.encode_basestring


def _dump(value: Any, indent: int | None, level: int) -> str:
    if isinstance(value, Decimal):
        text = format(value, "f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    if isinstance(value, str):
        return _string(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        raise TypeError("binary floats are not written; use Decimal")
    pad, inner, sep = "", "", ", "
    if indent is not None:
        pad = "\n" + " " * (indent * level)
        inner = "\n" + " " * (indent * (level + 1))
        sep = ","
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{inner}{_string(str(k))}: {_dump(v, indent, level + 1)}" for k, v in value.items()]
        return "{" + sep.join(items) + pad + "}"
    if isinstance(value, list | tuple):
        if not value:
            return "[]"
        return "[" + sep.join(f"{inner}{_dump(v, indent, level + 1)}" for v in value) + pad + "]"
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
