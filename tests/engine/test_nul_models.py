"""An event built as a model in Python (`Purchase(...)`, for `Loyalty.handle` or `Engine.process`)
holding the NUL character is refused as the same event given as a dict is (RE410, the same words,
path and hint: service.py `_refuse_nul`): a store cannot keep NUL, and until 2026-12-08 such a model
reached it (PostgreSQL's error, or a 503). The fast reader is not slowed: it builds its events
without pydantic (tests/engine/test_reader.py compares it with the models on data without NUL)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules_engine.engine.evaluator import Engine
from rules_engine.engine.events import _MODELS, Custom
from rules_engine.errors import EventError
from rules_engine.service import Loyalty
from tests.conftest import ROOT
from tests.engine.test_identifier_lengths import FIELDS, event

ENGINE = Engine.from_file(ROOT / "programs" / "coffee-club.yaml")
# Beyond the identifiers: a line's name, custom attributes' keys and values, a basket's.
MORE: list[tuple[str, tuple[str | int, ...]]] = [
    ("purchase", ("items", 0, "name")),
    ("purchase", ("attributes", "campaign")),
    ("purchase", ("basket_attributes", "delivery")),
    ("purchase", ("items", 0, "attributes", "size")),
]


def refused(make: Any) -> list[tuple[Any, ...]]:
    with pytest.raises(EventError) as caught:
        make()
    return [(d.code, d.message, d.path, d.hint) for d in caught.value.diagnostics]


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from([(kind, path) for kind, path, _ in FIELDS if path != ("type",)] + MORE),
    st.integers(min_value=0, max_value=5),
    st.booleans(),
)
def test_a_model_holding_nul_is_refused_as_its_dict_is(
    field: tuple[str, tuple[str | int, ...]], at: int, in_key: bool
) -> None:
    kind, path = field
    value = "abcdef"[:at] + "\x00" + "abcdef"[at:]
    data = event(kind, ("id",), "e1")
    *above, last = path
    target: Any = data
    for step in above:
        target = target.setdefault(step, {}) if isinstance(step, str) else target[step]
    if in_key and above and str(above[-1]).endswith("attributes"):  # NUL in the key, not the value
        target[value] = "x"
        path = (*above, value)
    else:
        target[last] = value
    model = _MODELS.get(kind, Custom)
    fields = {name: item for name, item in data.items() if not (model is not Custom and name == "type")}
    as_dict = refused(lambda: Loyalty.in_memory(ENGINE).handle(data))
    assert as_dict == refused(lambda: model(**fields))  # built in Python: refused as it is built
    assert as_dict == refused(lambda: ENGINE.process(data if model is Custom else model.model_validate(data)))
    assert as_dict[0][2] == path


def test_a_model_without_nul_is_handled() -> None:
    data = event("purchase", ("items", 0, "name"), "Latte")
    fields = {name: item for name, item in data.items() if name != "type"}
    handled = Loyalty.in_memory(ENGINE).handle(_MODELS["purchase"](**fields))
    assert handled.decided.customer == "anna" and not handled.duplicate
