"""The whole step's generated function as Python text, for a developer to read what runs
(`loyalty compile --whole`).

Apart from generate.py because it asks covers.py first whether the whole step takes the program,
and covers.py asks generate.py whether it can translate it: the text sits above both.

Input: a `Plan`. Output: the module's text, each rule's block under a comment with its place in
the program file, its constants listed; or a comment saying why the program is not covered.
"""

from __future__ import annotations

import ast as py
import re

from rules_engine.engine.generated import shown
from rules_engine.engine.plan import Plan
from rules_engine.engine.whole.covers import unsupported
from rules_engine.engine.whole.generate import generate

_LABEL = re.compile(r"^(\s*)'((?:discount|earn|the )[^'\n]*)'$", re.MULTILINE)


def python_source(plan: Plan) -> str:
    """The whole step's generated function as Python text (`loyalty compile --whole`): each rule's
    block under a comment with its place in the program file, its constants listed; or, for a
    program the whole step does not cover, a comment saying why."""
    why = unsupported(plan)
    if why is not None:
        return f"# {plan.program.program}: the whole step does not cover it ({why}).\n"
    module, namespace = generate(plan)
    text = _LABEL.sub(lambda m: f"{m.group(1)}# {m.group(2)}", py.unparse(module))
    names = sorted((name for name in namespace if name.startswith("_k")), key=lambda n: int(n[2:]))
    constants = "\n".join(f"#   {name} = {shown(namespace[name])}" for name in names)
    return (
        f"# The whole step's pricing and earning of {plan.program.program} v{plan.program.version}"
        f" ({namespace['__file__']}), on ints, without builtins (engine/whole/, run by `Stream.step`).\n"
        "# Its constant trace entries (a tuple in `_trace` is an entry the result words when read):\n"
        f"{constants}\n\n{text}\n"
        "\n# After it, step.py runs the mechanics on the state's ints (badges, the challenges, the quest,\n"
        "# the tier), updates the state in place, and result.py makes the engine's Result when read.\n"
    )
