"""JSON in and out with exact numbers: read numbers as Decimal, write Decimals digit for digit.

The standard library reads `19.99` as a binary float and cannot write a Decimal as a number;
money must never pass through float, so both directions go through here.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from rules_engine.dsl.values import to_json


def loads(text: str) -> Any:
    """Parse JSON; non-integral numbers become `Decimal`, never `float`."""
    return json.loads(text, parse_float=Decimal, parse_constant=_refuse_constant)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def dumps(value: Any, *, indent: int | None = None) -> str:
    """Serialize; Decimals, dates and durations are written exactly (Decimal as a JSON number)."""
    return _dump(to_json(value), indent, 0)


def _dump(value: Any, indent: int | None, level: int) -> str:
    if isinstance(value, Decimal):
        text = format(value, "f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    if isinstance(value, bool) or value is None or isinstance(value, int | str):
        return json.dumps(value, ensure_ascii=False)
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
        items = [
            f"{inner}{json.dumps(str(k), ensure_ascii=False)}: {_dump(v, indent, level + 1)}"
            for k, v in value.items()
        ]
        return "{" + sep.join(items) + pad + "}"
    if isinstance(value, list | tuple):
        if not value:
            return "[]"
        return "[" + sep.join(f"{inner}{_dump(v, indent, level + 1)}" for v in value) + pad + "]"
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
