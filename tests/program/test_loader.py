"""The YAML loader: YAML 1.2 values, duplicate keys, refused YAML, limits, files, and any text fuzzed."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from rules_engine.errors import YamlSyntaxError
from rules_engine.program import loader
from rules_engine.program.loader import MAX_CHARS, MAX_DEPTH, load_file, load_yaml
from rules_engine.program.validate import validate_text
from rules_engine.render import render_diagnostic
from tests.conftest import ROOT
from tests.program.loading import load, only, problems, where
from tests.steps import python_steps


def floats_in(value: Any) -> list[Any]:
    stack, found = [value], []
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, float):
            found.append(item)
    return found


# -- values: YAML 1.2, not 1.1 ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "loaded"),
    [
        # YAML 1.1 booleans stay text
        ("NO", "NO"),
        ("no", "no"),
        ("yes", "yes"),
        ("Yes", "Yes"),
        ("on", "on"),
        ("off", "off"),
        ("y", "y"),
        ("n", "n"),
        # dates, times and sexagesimal numbers stay text
        ("2026-12-01", "2026-12-01"),
        ("2026-12-01 10:00:00", "2026-12-01 10:00:00"),
        ("2026-12-01T10:00:00Z", "2026-12-01T10:00:00Z"),
        ("12:30", "12:30"),
        ("1:30:00", "1:30:00"),
        # numerals YAML 1.2 does not know, and codes with leading zeros
        ("1_000", "1_000"),
        ("007", "007"),
        ("01234", "01234"),
        ("0b101", "0b101"),
        ("30d", "30d"),
        ("1 per 100", "1 per 100"),
        # the real booleans and nulls
        ("true", True),
        ("True", True),
        ("TRUE", True),
        ("false", False),
        ("False", False),
        ("FALSE", False),
        ("null", None),
        ("Null", None),
        ("NULL", None),
        ("~", None),
        ("", None),
        # integers
        ("42", 42),
        ("-7", -7),
        ("+3", 3),
        ("0", 0),
        # numbers with a fraction are exact decimals
        ("19.99", Decimal("19.99")),
        ("0.1", Decimal("0.1")),
        ("-0.5", Decimal("-0.5")),
        # one rule for numbers (docs/programs.md): anything but digits, a sign and a decimal part
        # is text, as `010` is; YAML 1.2 made these 31, 15, 0.5, 1, 1000 and 0.025 (issue 11)
        ("0x1F", "0x1F"),
        ("0o17", "0o17"),
        (".5", ".5"),
        ("1.", "1."),
        ("1e3", "1e3"),
        ("2.5E-2", "2.5E-2"),
        # quoted values are always text
        ('"true"', "true"),
        ("'42'", "42"),
        ("'19.99'", "19.99"),
        ('"null"', "null"),
    ],
)
def test_values_resolve_like_yaml_1_2(written: str, loaded: Any) -> None:
    value = load(f"value: {written}\n")["value"]
    assert value == loaded
    assert type(value) is type(loaded)


def test_keys_are_not_booleans_either() -> None:
    assert load("on: review\nyes: 1\nNO: 2\n") == {"on": "review", "yes": 1, "NO": 2}


def test_money_is_exact_and_never_a_float() -> None:
    data = load("price: 19.99\nrates: [0.1, 0.2, 0.01]\nnested: {a: [{b: 3.30}]}\n")
    assert data["price"] + Decimal("0.01") == Decimal("20.00")
    assert sum(data["rates"]) == Decimal("0.31")
    assert str(data["nested"]["a"][0]["b"]) == "3.30"
    assert floats_in(data) == []


@pytest.mark.parametrize(
    "written", [".inf", "-.inf", "+.Inf", ".INF", ".nan", ".NaN", ".NAN", "!!float .inf"]
)
def test_infinity_and_nan_are_refused(written: str) -> None:
    found = only(f"cap: {written}\n")
    assert where(found) == ("RE101", 1, 6)
    assert "not a number a program may use" in found.message


def test_numbers_out_of_range_are_refused_not_crashing() -> None:
    assert only("n: " + "9" * 5000 + "\n").code == "RE104"
    assert load("n: 1e999999999999\n") == {"n": "1e999999999999"}  # text, as any exponent


@pytest.mark.parametrize(
    ("written", "loaded"),
    [
        ("!!str 42", "42"),
        ("!!str true", "true"),
        ('!!int "7"', 7),
        ("!!float 1", Decimal(1)),
        ("!!null ''", None),
    ],
)
def test_standard_tags_are_allowed(written: str, loaded: Any) -> None:
    value = load(f"value: {written}\n")["value"]
    assert value == loaded
    assert type(value) is type(loaded)


@pytest.mark.parametrize(
    "written",
    [
        "!!python/object:os.system echo",
        "!!python/name:os.system",
        "!!binary aGVsbG8=",
        "!!timestamp 2026-12-01",
        "!!set {a}",
        "!custom text",
        "!!bool yes",
        "!!int 1.5",
        "!!map [1]",
    ],
)
def test_other_tags_are_refused(written: str) -> None:
    found = only(f"value: {written}\n")
    assert where(found) == ("RE101", 1, 8)


def test_a_mapping_key_must_be_a_scalar() -> None:
    found = only("? [a, b]\n: 1\nok: 2\n")
    assert where(found) == ("RE101", 1, 3)


# -- duplicate keys ---------------------------------------------------------------------------------


def test_duplicate_key_points_at_the_second_and_names_the_first() -> None:
    found = only("program: coffee\nearn:\n  - id: base\n    rate: 1 per 100\n    rate: 2 per 100\n")
    assert where(found) == ("RE102", 5, 5)
    assert found.span is not None
    assert (found.span.end_line, found.span.end_column) == (5, 9)
    assert found.hint is not None
    assert "line 4" in found.hint


def test_every_duplicate_key_is_reported() -> None:
    text = "a: 1\nb: 2\na: 3\nc:\n  x: 1\n  y: 2\n  x: 3\nd: {k: 1, k: 2}\nb: 4\n"
    assert [where(d) for d in problems(text)] == [
        ("RE102", 3, 1),
        ("RE102", 7, 3),
        ("RE102", 8, 11),
        ("RE102", 9, 1),
    ]


def test_keys_that_load_equal_are_duplicates() -> None:
    assert where(only("16: a\n+16: b\n")) == ("RE102", 2, 1)
    assert where(only("'x': a\nx: b\n")) == ("RE102", 2, 1)


def test_the_same_key_in_different_mappings_is_fine() -> None:
    assert load("a: {id: 1}\nb: {id: 2}\nc: [{id: 3}, {id: 4}]\n")["c"] == [{"id": 3}, {"id": 4}]


# -- refused YAML: aliases, size, depth, documents ---------------------------------------------------


def test_anchors_aliases_and_merge_keys_are_refused() -> None:
    text = "base: &base\n  rate: 1\ngold:\n  <<: *base\n  rate: 2\nsilver: *base\n"
    found = problems(text)
    assert [where(d) for d in found] == [("RE103", 1, 7), ("RE103", 4, 3), ("RE103", 6, 9)]
    assert {d.hint for d in found} == {loader._ALIAS_HINT}
    assert found[2].message == "aliases are not supported in program files"


def test_an_alias_to_nothing_is_probably_text() -> None:
    found = only("style: *bold\n")
    assert where(found) == ("RE103", 1, 8)
    assert found.hint == "if `*bold` is text, quote it: '*bold'"


def test_an_alias_bomb_is_refused_quickly() -> None:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for n in range(1, 10):
        refs = ",".join(f"*a{n - 1}" for _ in range(9))
        lines.append(f"a{n}: &a{n} [{refs}]")
    # Aliases are refused as they are read, never expanded: 9**10 values if they were
    with python_steps(limit=200_000):
        found = problems("\n".join(lines) + "\n")
    assert {d.code for d in found} == {"RE103"}


def test_a_file_over_one_mebibyte_is_refused_before_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    def parse(*args: object) -> None:
        raise AssertionError("a file over the limit reached the YAML parser")

    monkeypatch.setattr(yaml.SafeLoader, "__init__", parse)  # the program loader's base
    found = only("a: [" + "1, " * MAX_CHARS + "]\n")
    assert where(found) == ("RE104", 1, 1)


def test_a_file_of_exactly_the_limit_is_read() -> None:
    text = "a: 1\n" + "#" * (MAX_CHARS - 5)
    assert len(text) == MAX_CHARS
    assert load(text) == {"a": 1}


@pytest.mark.parametrize(
    "text",
    [
        "a: " + "[" * 100_000,
        "a: " + "{b: " * 100_000,
        "- " * 100_000 + "x\n",
        "".join("  " * i + f"k{i}:\n" for i in range(500)),
        "a: " + "[" * 200 + "]" * 200 + "\n",
    ],
    ids=["flow-lists", "flow-mappings", "block-lists", "block-mappings", "closed"],
)
def test_deep_nesting_is_refused_without_recursion_error(text: str) -> None:
    found = problems(text)
    assert found[-1].code == "RE104"


def test_nesting_up_to_the_limit_is_fine() -> None:
    depth = MAX_DEPTH - 1  # the top-level mapping is the first level
    value = load("a: " + "[" * depth + "1" + "]" * depth + "\n")["a"]
    for _ in range(depth - 1):
        value = value[0]
    assert value == [1]
    assert problems("a: " + "[" * (depth + 1) + "1" + "]" * (depth + 1) + "\n")[0].code == "RE104"


def test_one_document_per_file() -> None:
    found = only("a: 1\n---\nb: 2\n")
    assert where(found) == ("RE101", 2, 1)
    assert found.hint is not None and "one program per file" in found.hint
    assert load("---\na: 1\n...\n") == {"a": 1}


@pytest.mark.parametrize(
    ("text", "position", "words"),
    [
        ("- a\n- b\n", (1, 1), "holds a list"),
        ("just text\n", (1, 1), "holds a single value"),
        ("", (1, 1), "is empty"),
        ("# only a comment\n\n", (1, 1), "is empty"),
        ("\n\n~\n", (3, 1), "holds only `null`"),
    ],
)
def test_a_program_file_is_a_mapping(text: str, position: tuple[int, int], words: str) -> None:
    found = only(text)
    assert where(found) == ("RE106", *position)
    assert words in found.message


def test_all_collectable_problems_come_together_in_file_order() -> None:
    found = problems("a: *x\nb: 1\nb: 2\nc: .nan\n")
    assert [where(d) for d in found] == [("RE103", 1, 4), ("RE102", 3, 1), ("RE101", 4, 4)]


def test_a_syntax_error_ends_the_search_and_comes_last() -> None:
    found = problems("a: 1\na: 2\nb: [1, 2\n")
    assert [d.code for d in found] == ["RE102", "RE101"]


# -- rendering: the caret lands under the right character -----------------------------------------


def test_rendered_duplicate_key() -> None:
    found = only("earn:\n  - id: base\n    rate: 1 per 100\n    rate: 2 per 100\n")
    assert render_diagnostic(found) == (
        "program.yaml:4:5: error[RE102]: duplicate key `rate`\n"
        "  |\n"
        "4 |     rate: 2 per 100\n"
        "  |     ^^^^\n"
        "  = hint: `rate` is already set on line 3; remove or rename one of them"
    )


def test_rendered_tab() -> None:
    rendered = render_diagnostic(only("earn:\n  - id: base\n  \t  rate: 1\n"))
    lines = rendered.splitlines()
    assert lines[0].startswith("program.yaml:3:3: error[RE101]:")
    assert lines[3] == "  |   ^"
    assert lines[4] == "  = hint: indent with spaces, not tabs"


def test_rendered_syntax_error_after_non_ascii() -> None:
    rendered = render_diagnostic(only("name: Café 🎉 Club: x\n"))
    source, caret = rendered.splitlines()[2:4]
    assert source.index("Club: x") + len("Club") == caret.index("^")


def test_rendered_alias() -> None:
    rendered = render_diagnostic(problems("base: &b 1\nrate: *b\n")[1])
    assert rendered.splitlines()[2:4] == ["2 | rate: *b", "  |       ^^"]


# -- files ------------------------------------------------------------------------------------------


def test_load_file_names_the_file_as_given(tmp_path: Path) -> None:
    path = tmp_path / "gold.yaml"
    path.write_text("a: 1\na: 2\n", encoding="utf-8")
    with pytest.raises(YamlSyntaxError) as caught:
        load_file(path)
    span = caught.value.diagnostics[0].span
    assert span is not None and span.file.name == str(path)
    other = tmp_path / "ok.yaml"
    other.write_text("b: 2\n", encoding="utf-8")
    data, source_map = load_file(str(other))
    assert data == {"b": 2}
    assert source_map.file.name == str(other)


def test_a_byte_order_mark_is_not_part_of_the_text(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes("\ufeffa: 1\nb: x\n".encode())
    data, source_map = load_file(path)
    assert data == {"a": 1, "b": "x"}
    span = source_map.span(("b",))
    assert (span.line, span.column) == (2, 4)


@pytest.mark.parametrize("kind", ["missing", "folder"])
def test_unreadable_files(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "nope.yaml" if kind == "missing" else tmp_path
    with pytest.raises(YamlSyntaxError) as caught:
        load_file(path)
    found = caught.value.diagnostics[0]
    assert found.code == "RE105"
    assert str(path) in found.message
    assert found.hint


def test_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("a: 1\nname: Café\n".encode("latin-1"))
    with pytest.raises(YamlSyntaxError) as caught:
        load_file(path)
    assert where(caught.value.diagnostics[0]) == ("RE105", 2, 10)


def test_condition_errors_land_in_the_yaml_file() -> None:
    """Spans compose: the expression's own position, through the origin, to the file."""
    from rules_engine import ConditionError, compile_expression

    text = (
        "earn:\n"
        '  - when: "basket.total > \\"50\\""\n'
        "  - when: >-\n"
        "      basket.total >= 10 and\n"
        "      customer.tier == 5\n"
    )
    data, source_map = load_yaml(text, "gold.yaml")
    found = []
    for index in range(2):
        with pytest.raises(ConditionError) as caught:
            compile_expression(data["earn"][index]["when"], origin=source_map.origin(("earn", index, "when")))
        found.append(where(caught.value.diagnostics[0])[1:])
    assert found == [(2, 27), (5, 24)]


# -- fuzzing: any text loads, or fails with diagnostics inside the file --------------------------

_YAMLISH = st.lists(
    st.sampled_from([*" \n\t:-[]{},'\"#&*!|>?.~<=\\abcxy019é", "\r\n", "  ", "---", "- ", ": "]), max_size=60
).map("".join)


def _value_at(data: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        data = data[step]
    return data


@settings(max_examples=600, deadline=None)
@given(text=st.one_of(_YAMLISH, st.text(max_size=100)))
def test_any_text_loads_or_fails_with_diagnostics(text: str) -> None:
    try:
        data, source_map = load_yaml(text, "fuzz.yaml")
    except YamlSyntaxError as error:
        assert error.diagnostics
        for diagnostic in error.diagnostics:
            assert diagnostic.code in {"RE101", "RE102", "RE103", "RE104", "RE106"}
            assert diagnostic.span is not None
            assert 0 <= diagnostic.span.start <= diagnostic.span.end <= len(text)
            render_diagnostic(diagnostic)
        return
    assert isinstance(data, dict)
    assert floats_in(data) == []
    for path in source_map.paths():
        span = source_map.span(path)
        assert 0 <= span.start <= span.end <= len(text)
        value = _value_at(data, path)
        if not isinstance(value, dict | list):
            origin = source_map.origin(path)
            assert origin.offsets is not None
            assert all(0 <= offset <= len(text) for offset in origin.offsets)


@pytest.mark.parametrize(
    ("written", "column"), [('"caf\\ud800"', 7), ('"\\udc00"', 7), ('{"k\\ud800": 1}', 8)]
)
def test_a_lone_surrogate_is_refused_where_it_is_written(written: str, column: int) -> None:
    # it passed `validate` and crashed `dry-run` with a UnicodeEncodeError (issue 11)
    assert where(only(f"name: {written}\n")) == ("RE101", 1, column)


@pytest.mark.parametrize("escape", ["\\U00110000", "\\UFFFFFFFF", "\\U7fffffff"])
def test_an_escape_past_the_last_character_is_refused_at_the_escape(escape: str) -> None:
    # PyYAML's chr() raised ValueError (past U+10FFFF) or OverflowError (past a C int) out of
    # `validate` and `dry-run`: a traceback instead of a diagnostic
    diagnostic = only(f'name: "caf{escape}"\n')
    assert where(diagnostic) == ("RE101", 1, 11)
    assert diagnostic.span.end - diagnostic.span.start == len(escape)


@pytest.mark.parametrize(
    "program", sorted(p for p in (ROOT / "programs").glob("*.yaml") if ".tests." not in p.name), ids=str
)
@pytest.mark.parametrize("ending", ["\r", "\x85"])
def test_old_mac_and_nel_line_ends_place_every_problem_at_its_line(program: Path, ending: str) -> None:
    """YAML ends a line at a lone CR (classic Mac OS, some exports) and at NEL as well as at LF,
    and so did the parser, but the places counted only LF: a program saved with CR line ends had
    every problem on `line 1`, at a column in the hundreds, its excerpt the whole file. The
    same program with LF, CRLF, CR or NEL line ends loads the same data and has the same
    problems at the same lines and columns (a wrong field added at its top and one in `points`)."""
    lines = program.read_text(encoding="utf-8").splitlines()
    lines[1:1] = ["bogus_field: 1"]
    nested = lines.index("points:") + 1
    lines.insert(nested, "  bogus_nested: 1")
    written = {end: end.join(lines) + end for end in ("\n", "\r\n", ending)}
    found = {}
    for end, text in written.items():
        result = validate_text(text, "program.yaml")
        found[end] = [(d.code, d.span.line, d.span.column, d.message) for d in result.diagnostics if d.span]
        assert all(
            d.span is None or "\n" not in d.span.file.line_text(d.span.line) for d in result.diagnostics
        )
    assert found["\n"] == found["\r\n"] == found[ending]
    assert {("RE111", 2, 1), ("RE111", nested + 1, 3)} <= {where[:3] for where in found[ending]}
    assert load(written["\n"]) == load(written[ending])
