"""A loyalty rules engine: programs in YAML, conditions in a small checked language, exact rewards.

The public API, meant to be used as `import rules_engine as loyalty`:

    loyalty.load_program(path)              -> CompiledProgram: validated, every expression compiled
                                               (.program is the Program; ProgramError lists every problem)
    loyalty.Engine(program) / Engine.from_file(path)
        .process(event, state)              -> Result: one event decided, nothing stored; slim and
                                               immutable, .outcome() the pydantic Outcome (JSON)
    loyalty.open_store(url, program)        -> Store: memory:, a SQLite file, postgresql://…
    loyalty.Service(engine, store)
        .process(event)                     -> Outcome: one event, one store transaction
    loyalty.compile_condition / compile_expression, declare_symbols, make_context
                                            -> one expression, compiled once, evaluated many times
    loyalty.RulesEngineError and its subclasses: every error carries diagnostics with stable codes

Only the condition language and the errors are imported with the package: the engine, the stores
and the service are imported when first named (PEP 562), so a caller that only checks conditions
does not pay for loading the engine and its models.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from rules_engine.dsl.context import Context, declare_symbols, make_context
from rules_engine.dsl.expression import Expression, compile_condition, compile_expression
from rules_engine.errors import (
    ConditionError,
    ConditionSyntaxError,
    ConditionTypeError,
    ContextError,
    Diagnostic,
    EvaluationError,
    EventError,
    LoopBudgetError,
    ProgramError,
    RulesEngineError,
    StateError,
    StoreError,
)

if TYPE_CHECKING:
    from rules_engine.engine.evaluator import Engine
    from rules_engine.engine.outcome import Outcome
    from rules_engine.engine.result import Result
    from rules_engine.program.compile import CompiledProgram
    from rules_engine.program.model import Program
    from rules_engine.program.validate import load_program
    from rules_engine.service import Handled
    from rules_engine.service import Loyalty as Service
    from rules_engine.state.customer import CustomerState
    from rules_engine.store import open_store
    from rules_engine.store.base import Store

# Name -> (module, attribute): what is imported on first use.
_LAZY = {
    "CompiledProgram": ("rules_engine.program.compile", "CompiledProgram"),
    "CustomerState": ("rules_engine.state.customer", "CustomerState"),
    "Engine": ("rules_engine.engine.evaluator", "Engine"),
    "Handled": ("rules_engine.service", "Handled"),
    "Outcome": ("rules_engine.engine.outcome", "Outcome"),
    "Program": ("rules_engine.program.model", "Program"),
    "Result": ("rules_engine.engine.result", "Result"),
    "Service": ("rules_engine.service", "Loyalty"),
    "Store": ("rules_engine.store.base", "Store"),
    "load_program": ("rules_engine.program.validate", "load_program"),
    "open_store": ("rules_engine.store", "open_store"),
}

__all__ = [
    "CompiledProgram",
    "ConditionError",
    "ConditionSyntaxError",
    "ConditionTypeError",
    "Context",
    "ContextError",
    "CustomerState",
    "Diagnostic",
    "Engine",
    "EvaluationError",
    "EventError",
    "Expression",
    "Handled",
    "LoopBudgetError",
    "Outcome",
    "Program",
    "ProgramError",
    "Result",
    "RulesEngineError",
    "Service",
    "StateError",
    "Store",
    "StoreError",
    "compile_condition",
    "compile_expression",
    "declare_symbols",
    "load_program",
    "make_context",
    "open_store",
]


def __getattr__(name: str) -> Any:
    try:
        module, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'rules_engine' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value  # once imported, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
