"""Models built from values already valid: the same instances as validation gives, made cheaply.

The engine makes over a hundred models per event (awards and their line shares, lots and their
lines, ledger entries, history lines, trace entries, the new state) from values it computed itself
with the right types: exact Decimals, aware datetimes, models. Validating them again is most of
what `Model(...)` costs (~0.8-1.4 µs); a trusted instance costs ~0.3 µs.

A trusted instance is the same as the validated one: the same `__dict__` (every field, in
declaration order), the same set of fields given, no extra or private data. Equality, dumping,
copying and the JSON schema behave exactly as before. Only models without validators, private
attributes or extra fields qualify; any other model (or a pydantic whose instance layout differs
from the one relied on here) goes through its normal constructor.

The fields-given set may be shared between instances made by one maker, and between a model and
its `replaced` copy when the update gives no new field: pydantic only reads it, and copies it
before changing it (`model_copy(update=…)`), and the models are frozen.

This module holds that rule (`can_trust`), the generic makers (`trusted`, `replaced`), the slot
holders (`twin`) the spelt-out makers of the state's records (state/records.py) and the outcome's
points changes (engine/trusted.py) use, and the slots' setters other makers use (the trace
entries, engine/verdicts.py; the event reader's lines). It
imports nothing of the project, so every layer that makes models builds on it (an import
contract), and engine/trusted.py re-exports its public names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)

_new = object.__new__
_LAYOUT = ("__dict__", "__pydantic_fields_set__", "__pydantic_extra__", "__pydantic_private__")
_FAST = tuple(getattr(BaseModel, "__slots__", ())) == _LAYOUT
# The slots' own setters: a third faster than `object.__setattr__`, which looks them up every time.
if _FAST:
    _set_dict = BaseModel.__dict__["__dict__"].__set__
    _set_fields = BaseModel.__dict__["__pydantic_fields_set__"].__set__
    _set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
    _set_private = BaseModel.__dict__["__pydantic_private__"].__set__


def can_trust(cls: type[BaseModel]) -> bool:
    """Whether `cls` instances can be built without validation (see the module docstring)."""
    decorators = cls.__pydantic_decorators__
    return (
        _FAST
        and not cls.__private_attributes__
        and cls.model_config.get("extra") == "forbid"
        and not any(
            (
                decorators.validators,
                decorators.field_validators,
                decorators.root_validators,
                decorators.model_validators,
                decorators.computed_fields,
            )
        )
    )


def twin(cls: type[M]) -> type[M]:
    """A slot holder for `cls`'s spelt-out makers: a subclass of `cls` that adds no slot (so its
    instances have `cls`'s very layout) and sets attributes as `object` does, made with `type`'s own
    constructor (not pydantic's metaclass: it is never a model). A maker stores the four slots on
    a new instance by plain attribute stores, which the interpreter runs as one specialised
    instruction each, and makes it a `cls` by `__class__` assignment (CPython checks the layouts
    agree): ~1.6k instructions a record less than the slots' descriptors' `__set__`, each a C call
    through a method-wrapper (counted). Both `__setattr__` and `__delattr__` are `object`'s: the
    two share one type slot, and pydantic's `__delattr__` alone would route every store through
    a Python-level hook."""
    namespace = {
        "__slots__": (),
        "__setattr__": object.__setattr__,
        "__delattr__": object.__delattr__,
        "__module__": __name__,
    }
    return type.__new__(type(cls), f"_{cls.__name__}Slots", (cls,), namespace)


_TRUSTED: dict[type[BaseModel], bool] = {}
_HOLDERS: dict[type[BaseModel], type[BaseModel]] = {}  # each model class's `twin`, made when first needed


def _holder(cls: type[BaseModel]) -> type[BaseModel]:
    made = _HOLDERS[cls] = twin(cls)
    return made


def trusted(cls: type[M], values: dict[str, Any], given: set[str]) -> M:
    """`cls(**given values)` for values already valid: `values` holds every field in declaration
    order (defaults included), `given` the names the caller passed (pydantic's fields set)."""
    fast = _TRUSTED.get(cls)
    if fast is None:
        fast = _TRUSTED[cls] = can_trust(cls) and list(values) == list(cls.model_fields)
    if not fast:
        return cls(**{name: values[name] for name in given})
    model = _new(_HOLDERS.get(cls) or _holder(cls))
    model.__dict__ = values
    model.__pydantic_fields_set__ = given
    model.__pydantic_extra__ = None
    model.__pydantic_private__ = None
    model.__class__ = cls
    return model  # type: ignore[return-value]


def replaced(model: M, update: Mapping[str, Any]) -> M:
    """`model.model_copy(update=update)`, without pydantic's generic copying: the same `__dict__`
    (updated fields in place, in declaration order) and the same fields set."""
    if not _FAST or model.__pydantic_extra__ is not None or model.__pydantic_private__ is not None:
        return model.model_copy(update=update)
    cls = type(model)
    copy = _new(_HOLDERS.get(cls) or _holder(cls))
    copy.__dict__ = {**model.__dict__, **update}
    given = model.__pydantic_fields_set__
    copy.__pydantic_fields_set__ = given if update.keys() <= given else given | update.keys()  # may be shared
    copy.__pydantic_extra__ = None
    copy.__pydantic_private__ = None
    copy.__class__ = cls
    return copy  # type: ignore[return-value]


def _spelt_out(cls: type[BaseModel], *fields: str) -> bool:
    """Whether the constructor below for `cls`, which names its fields in this order, may be used."""
    return can_trust(cls) and tuple(cls.model_fields) == fields
