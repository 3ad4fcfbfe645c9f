"""A loyalty rules engine: programs in YAML, conditions in a small checked language, exact rewards.

Public API:
    compile_expression, compile_condition — one expression, compiled once, evaluated many times
    declare_symbols, make_context — the declared context and how data becomes one
    RulesEngineError and its subclasses — every error carries diagnostics with stable codes
"""

from rules_engine.dsl.context import Context, declare_symbols, make_context
from rules_engine.dsl.expression import Expression, compile_condition, compile_expression
from rules_engine.errors import (
    ConditionError,
    ConditionSyntaxError,
    ConditionTypeError,
    ContextError,
    Diagnostic,
    EvaluationError,
    LoopBudgetError,
    ProgramError,
    RulesEngineError,
)

__all__ = [
    "ConditionError",
    "ConditionSyntaxError",
    "ConditionTypeError",
    "Context",
    "ContextError",
    "Diagnostic",
    "EvaluationError",
    "Expression",
    "LoopBudgetError",
    "ProgramError",
    "RulesEngineError",
    "compile_condition",
    "compile_expression",
    "declare_symbols",
    "make_context",
]
