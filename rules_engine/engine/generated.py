"""The generated path: a program's pricing and earning compiled once, and which events it takes.

`Engine` makes a `GeneratedPath` when its first event needs it (`compiled`), unless the program
uses a part the generator does not cover (`generate.unsupported`: only a `Program` built without
the program checks may; then the engine runs the evaluator's stages for every event). Per event,
`covers` decides cheaply whether the generated function takes it: a purchase of at least one line,
explain off, no coupon presented, nothing paid with points. Any other event — a return, a
redemption, a sign-up, an app open, a purchase with a coupon — runs `pricing.discounts` and
`earning.earn` as before (docs/engine.md, "Two paths: generated and explaining").

`python_source(plan)` is the module as Python text, for a developer to read what runs
(`loyalty compile PROGRAM --python`): each rule's block starts with a comment naming the rule and
its line in the program file.

Input: a `Plan`. Output: a `GeneratedPath` (or None), whose `decide(run)` fills the run as the two
stages do, and whose `mechanics` are the mechanics such a purchase runs after it, specialised for
it once per program where a mechanic has `for_purchase` (`mechanics.purchase_mechanics`).
"""

from __future__ import annotations

import ast as py
import operator
import re
from collections.abc import Callable
from typing import Any

from rules_engine.engine.events import Purchase
from rules_engine.engine.generate import ENTRY, generate, unsupported
from rules_engine.engine.mechanics import purchase_mechanics, purchase_mechanics_words
from rules_engine.engine.plan import Plan
from rules_engine.engine.run import Run


class GeneratedPath:
    """A program's pricing and earning as one compiled function (generate.py)."""

    __slots__ = ("decide", "mechanics", "module")

    def __init__(self, plan: Plan) -> None:
        """Raises ValueError when the program is not covered (`generate.unsupported`)."""
        made = generate(plan)
        code = compile(made.module, made.filename, "exec")
        namespace = made.namespace
        exec(code, namespace)  # the namespace has no builtins (generate.py)
        self.decide: Callable[[Run], None] = namespace[ENTRY]
        self.module = made.module
        # The mechanics after it, specialised for such a purchase (mechanics/__init__.py).
        self.mechanics = purchase_mechanics(plan)


def compiled(plan: Plan) -> GeneratedPath | None:
    """The program's generated path, or None when it uses a part not generated yet."""
    if unsupported(plan) is not None:
        return None
    return GeneratedPath(plan)


def covers(run: Run) -> bool:
    """Whether the generated function takes this event (the module docstring): decided per event,
    from what the event carries."""
    event = run.event
    return (
        not run.explain
        and event.__class__ is Purchase
        and not event.coupons
        and not event.paid_with_points
        and bool(event.items)
    )


_LABEL = re.compile(r"^(\s*)'((?:discount|earn|the tier)[^'\n]*)'$", re.MULTILINE)


def python_source(plan: Plan) -> str:
    """The generated module as Python text, each rule's block under a comment with its place in
    the program file; or, for a program the generator does not cover, a comment saying why."""
    why = unsupported(plan)
    if why is not None:
        return f"# {plan.program.program}: not generated ({why}); the evaluator's stages run.\n"
    made = generate(plan)
    text = py.unparse(made.module)
    text = _LABEL.sub(lambda m: f"{m.group(1)}# {m.group(2)}", text)
    names = sorted((name for name in made.namespace if name.startswith("_k")), key=lambda n: int(n[2:]))
    constants = "\n".join(f"#   {name} = {shown(made.namespace[name])}" for name in names)
    header = (
        f"# The generated pricing and earning of {plan.program.program} v{plan.program.version}"
        f" ({made.filename}), run without builtins.\n"
        "# Its constants (names in the module's namespace):\n"
    )
    mechanics = "".join(f"#   {line}\n" for line in purchase_mechanics_words(plan))
    after = (
        "\n# After it, the mechanics of such a purchase, in their order (engine/mechanics/; not\n"
        "# generated: closures made once per program, or the mechanic's own apply):\n" + mechanics
    )
    return header + constants + "\n\n" + text + "\n" + after


_PLAIN = re.compile(r"[\w \-.:/]{0,80}")


def shown(value: Any) -> str:
    if type(value) is str and not _PLAIN.fullmatch(value):  # a literal of the program's conditions
        return f"<text of {len(value)} characters>"
    text = repr(value)
    if type(value) in (operator.attrgetter, operator.itemgetter):  # a line's field, read in C
        return text
    if callable(value):
        name = getattr(value, "__qualname__", None) or type(value).__name__
        return f"<function {name}>"
    if hasattr(value, "text") and hasattr(value, "_function"):  # an Expression
        return f"<expression {value.text!r}>"
    return text.replace("\n", " ")[:200]
