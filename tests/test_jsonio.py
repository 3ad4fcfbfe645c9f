"""The one JSON reader: exact numbers, and hostile text refused with the place it went wrong."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from rules_engine import jsonio
from rules_engine.cli import app
from rules_engine.jsonio import JsonError
from tests.conftest import ROOT

runner = CliRunner()


def problem(text: str) -> JsonError:
    with pytest.raises(JsonError) as caught:
        jsonio.loads(text)
    return caught.value


def test_numbers_are_exact() -> None:
    assert jsonio.loads('{"price": 19.99, "qty": 2}') == {"price": Decimal("19.99"), "qty": 2}


def test_nesting_a_thousand_deep_is_refused_without_recursion() -> None:
    # json.loads itself raises RecursionError here, which aborted `loyalty run` (issue 11)
    refused = problem("[" * 1000 + "]" * 1000)
    assert "nested more than 64 deep" in refused.message
    assert refused.position == jsonio.MAX_DEPTH
    assert jsonio.loads("[" * 64 + "]" * 64) is not None
    assert jsonio.loads('"[[[[' + "[" * 1000 + '"') == "[[[[" + "[" * 1000  # brackets in text


def test_a_duplicate_key_is_refused_at_its_second_place() -> None:
    text = '{"x": {"a": 1}, "y": {"a": 1, "b": 2, "a": 3}}'
    refused = problem(text)
    assert '"a" appears twice' in refused.message
    assert refused.position == text.rindex('"a"')


@pytest.mark.parametrize("text", ['"caf\\ud800"', '"\\udc00x"', '{"caf\\ud800": 1}', '"caf\ud800"'])
def test_a_lone_surrogate_is_refused(text: str) -> None:
    assert "surrogate" in problem(text).message


def test_a_surrogate_pair_and_an_escaped_backslash_are_text() -> None:
    assert jsonio.loads('"caf\\ud83d\\ude00"') == "caf\U0001f600"
    assert jsonio.loads('"caf\\\\ud800"') == "caf\\ud800"


def test_nan_and_infinity_are_refused() -> None:
    assert "NaN" in problem('{"a": NaN}').message
    assert problem("[Infinity]").position == 1


LONG = "1" + "0" * 5000  # past the 4,300 digits at which int() raises a bare ValueError


@pytest.mark.parametrize("number", [LONG, "1" * 41, "-" + LONG, "1." + "0" * 5000, "1e" + "9" * 41])
def test_a_number_of_too_many_digits_is_refused_at_its_place(number: str) -> None:
    text = '{"qty": 1, "price": ' + number + "}"
    refused = problem(text)
    assert "more than 40 digits" in refused.message
    assert refused.position == text.index(number)


def test_a_number_of_forty_digits_is_read() -> None:
    assert jsonio.loads("[" + "9" * 40 + ", 1." + "5" * 39 + "]") == [int("9" * 40), Decimal("1." + "5" * 39)]
    # longer than 40 characters, 40 digits: counted, not refused by its length
    assert jsonio.loads("[-" + "9" * 40 + ", -1." + "5" * 38 + "e1]") == [
        -int("9" * 40),
        Decimal("-1." + "5" * 38 + "e1"),
    ]


def test_no_bare_value_error_escapes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jsonio, "MAX_DIGITS", 10_000)  # the backstop, should a number pass the check
    assert isinstance(problem("[" + LONG + "]"), JsonError)


def test_a_huge_number_in_a_context_or_an_event_is_a_diagnostic_not_a_crash(tmp_path: Path) -> None:
    context = tmp_path / "context.json"
    context.write_text('{"basket": {"total": ' + LONG + "}}", encoding="utf-8")
    result = runner.invoke(app, ["check", "--context", str(context), "basket.total > 5"])
    assert result.exit_code == 1
    assert "error[RE405]" in result.stderr and f"{context}:1:22" in result.stderr
    event = tmp_path / "event.json"
    event.write_text(
        '{"id": "e1", "type": "purchase", "time": "2026-12-01T08:30:00+03:00", "customer": "anna", '
        '"items": [{"sku": "LATTE", "category": "coffee", "price": ' + LONG + ', "qty": 1}]}',
        encoding="utf-8",
    )
    result = runner.invoke(app, ["dry-run", str(ROOT / "programs" / "coffee-club.yaml"), str(event)])
    assert result.exit_code == 1
    assert "error[RE414]" in result.stderr and f"{event}:1:" in result.stderr


def test_a_text_over_the_limit_is_refused() -> None:
    assert "longer than" in problem(" " * (jsonio.MAX_TEXT + 1)).message
    with pytest.raises(JsonError):
        jsonio.loads("[1, 2, 3]", limit=4)


def test_read_text_stops_at_its_limit() -> None:
    # `event_file: /dev/zero` reached 8.5 GB of memory in 15 seconds (issue 11)
    with pytest.raises(JsonError) as caught:
        jsonio.read_text("/dev/zero", limit=1024)
    assert "larger than 1,024 bytes" in caught.value.message


@pytest.mark.parametrize(
    ("path", "found"),
    [
        (("a", "b", 2, "c"), "3"),
        (("a", "b", 2), '{"c": 3}'),
        (("a", "b", 1), "2"),
        (("a", "b", 2, "missing"), '{"c": 3}'),  # a missing field: the object it belongs in
        (("a",), '{"b": [1, 2, {"c": 3}], "d": "x, y"}'),
        (("a", "d"), '"x, y"'),
    ],
)
def test_value_span_finds_a_value_by_its_path(path: tuple[str | int, ...], found: str) -> None:
    text = '{"a": {"b": [1, 2, {"c": 3}], "d": "x, y"}}'
    span = jsonio.value_span(text, path)
    assert span is not None
    assert text[span[0] : span[1]] == found


# no lone surrogates, no NUL: both refused (test_a_lone_surrogate_is_refused, and the NUL test below)
_text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=8)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | _text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=20,
)


@given(_json)
def test_what_json_writes_reads_back(value: object) -> None:
    assert jsonio.loads(json.dumps(value)) == value
    assert jsonio.loads(json.dumps(value, ensure_ascii=False)) == value


@given(st.text(alphabet='{}[]":,\\ud80 1ae.-', max_size=60))
def test_any_text_parses_or_is_a_json_problem_at_a_place_in_it(text: str) -> None:
    try:
        jsonio.loads(text)
    except JsonError as refused:
        assert 0 <= refused.position <= len(text)


@pytest.mark.parametrize("number", ["1e" + "1" * 39, "-2.5E+" + "9" * 30, "1e-" + "9" * 38])
def test_a_number_whose_exponent_decimals_cannot_hold_is_refused_at_its_place(number: str) -> None:
    """Not a bare `decimal.InvalidOperation`, which would stop `loyalty run` at that line for good."""
    text = f'{{"price": [1, {number}]}}'
    with pytest.raises(JsonError) as refused:
        jsonio.loads(text)
    assert "out of range" in refused.value.message
    assert refused.value.position == text.index(number)


@given(st.from_regex(r"\A-?[1-9][0-9]{0,5}(\.[0-9]{1,5})?[eE][+-]?[0-9]{1,38}\Z", fullmatch=True))
def test_any_number_with_an_exponent_is_read_or_refused_as_json(number: str) -> None:
    try:
        value = jsonio.loads(f"[{number}]")
    except JsonError as refused:
        assert refused.position == 1
    else:
        assert value[0] == Decimal(number)


def test_a_text_starting_with_a_byte_order_mark_is_refused_in_the_standard_librarys_words() -> None:
    """A body or a line that kept its byte order mark: the message says what to do about it."""
    with pytest.raises(JsonError) as refused:
        jsonio.loads('\ufeff{"a": 1}')
    assert refused.value.message == "not valid JSON: Unexpected UTF-8 BOM (decode using utf-8-sig)"
    assert refused.value.position == 0


@pytest.mark.parametrize(
    ("text", "message", "position"),
    [
        ('{"name": "caf\té"}', "not valid JSON: a tab (U+0009) cannot stand in a string as it is", 13),
        (
            '{"name": "two\nlines"}',
            "not valid JSON: a line break (U+000A) cannot stand in a string as it is",
            13,
        ),
        (
            '{"id": "a\x01"}',
            "not valid JSON: the control character U+0001 cannot stand in a string as it is",
            9,
        ),
        ('{"id": "open', "not valid JSON: the string that starts here is not closed", 7),
    ],
)
def test_a_raw_control_character_or_an_open_string_is_named_not_left_hanging(
    text: str, message: str, position: int
) -> None:
    """The standard library's "Invalid control character at" and "Unterminated string starting
    at" were shown as they are: `not valid JSON: Invalid control character at`, at what, unsaid (a
    tab pasted into a product name is the usual one). Each says what it found, with a hint."""
    with pytest.raises(JsonError) as refused:
        jsonio.loads(text)
    assert (refused.value.message, refused.value.position) == (message, position)
    assert refused.value.hint is not None


def test_threads_reading_at_once_each_get_their_own_values() -> None:
    """`loads` keeps a decoder per thread (its scanner's memo and Python hooks): texts read by many
    threads at once come back as each thread's own."""
    from concurrent.futures import ThreadPoolExecutor

    texts = [json.dumps({"n": n, "price": f"{n}.50", "items": [{"k": n}] * 3}) for n in range(400)]
    with ThreadPoolExecutor(8) as pool:
        read = list(pool.map(jsonio.loads, texts))
    assert read == [json.loads(text) for text in texts]


def _careful(text: str) -> object:
    """`loads` with the fast path switched off: every number through the digit-counting hooks."""
    saved = jsonio._short_numbers
    jsonio._short_numbers = lambda _: False
    try:
        return _outcome(text)
    finally:
        jsonio._short_numbers = saved


def _outcome(text: str) -> object:
    try:
        value = jsonio.loads(text)
    except JsonError as refused:
        return ("refused", refused.message, refused.position, refused.hint)
    return ("read", json.dumps(value, default=repr, sort_keys=False), repr(value))


_numbers = st.one_of(
    st.integers().map(str),
    st.from_regex(r"\A-?[0-9]{1,50}(\.[0-9]{0,50})?([eE][+-]?[0-9]{1,45})?\Z", fullmatch=True),
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e" + "1" * 39, "0" * 41, "9" * 4400, "1.5", "-0"]),
)
_hostile = st.recursive(
    st.one_of(_numbers, st.sampled_from(['"a"', '"b"', '"' + "0" * 43 + '"', "true"])),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(lambda items: "[" + ", ".join(items) + "]"),
        st.lists(st.tuples(st.sampled_from(['"a"', '"b"', '"c"']), inner), max_size=4).map(
            lambda pairs: "{" + ", ".join(f"{key}: {value}" for key, value in pairs) + "}"
        ),
    ),
    max_leaves=12,
)


@given(st.one_of(_hostile, _hostile.map(lambda text: "\ufeff" + text), st.text(max_size=80)))
def test_the_fast_path_reads_what_the_careful_one_reads_and_refuses_what_it_refuses(text: str) -> None:
    """`loads` reads a text whose numbers are all short (`_short_numbers`) without the hooks that
    count digits: the same value (the same types: Decimal, int) or the same error, message, place
    and hint, for any text: long numbers, NaN, duplicate keys, a byte order mark, broken text."""
    assert _outcome(text) == _careful(text)


@given(_hostile)
def test_a_text_with_a_number_of_too_many_digits_is_never_read_fast(text: str) -> None:
    """The pre-scan is sound: a text it lets through has no number of more than MAX_DIGITS digits
    (the fast decoder would read one without a word)."""
    if jsonio._short_numbers(text):
        for token in jsonio._TOKEN.findall(text):
            if token[0] in "-0123456789":
                assert sum(character.isdigit() for character in token) <= jsonio.MAX_DIGITS


@pytest.mark.parametrize("text", ['{"customer": "card\\u0000x"}', '["a", {"k\\u0000": 1}]'])
def test_the_nul_character_is_refused_at_its_escape(text: str) -> None:
    # PostgreSQL refuses NUL in text: an event whose customer held it stopped `run --db` for good
    # (RE605, "run the same file again"), and an event id holding it failed the whole batch
    with pytest.raises(jsonio.JsonError) as refused:
        jsonio.loads(text)
    assert text[refused.value.position :].startswith("\\u0000")
    assert jsonio.loads('"a\\\\u0000"') == "a\\u0000"  # an escaped backslash, then the text u0000


def _value_at(data: object, path: tuple[str | int, ...]) -> object:
    for step in path:
        data = data[step]  # type: ignore[index]
    return data


def _holds_nul(data: object) -> bool:
    """The plain recursive answer (no cycles in these data)."""
    if isinstance(data, str):
        return "\x00" in data
    if isinstance(data, dict):
        return any(_holds_nul(key) or _holds_nul(value) for key, value in data.items())
    if isinstance(data, list | tuple):
        return any(_holds_nul(value) for value in data)
    return False


_TEXTS = st.text(alphabet=st.sampled_from(["a", "é", "\x00", "\\", "x", "0"]), max_size=4)
_DATA = st.recursive(
    st.none() | st.booleans() | st.integers() | st.decimals(allow_nan=False) | _TEXTS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.tuples(inner, inner) | st.dictionaries(_TEXTS, inner, max_size=4)
    ),
    max_leaves=20,
)


@given(_DATA)
def test_nul_path_finds_a_nul_exactly_when_the_data_holds_one(data: object) -> None:
    """`Loyalty.handle` refuses a caller's event with a NUL by `nul_path`, which walks the data
    first without paths (the common case) and then with them: it must name a NUL whenever there
    is one, in a key or a text, and never one that is not there."""
    path = jsonio.nul_path(data)
    assert (path is not None) is _holds_nul(data)
    if path is not None:
        *above, last = path
        holder = _value_at(data, tuple(above))
        value = _value_at(data, path)
        assert (isinstance(value, str) and "\x00" in value) or (isinstance(last, str) and "\x00" in last), (
            holder,
            last,
        )
