"""The opt-in compiled build: the engine's hot modules compiled by mypyc, the rest pure Python.

    pip install .                                                # pure Python, as always
    RULES_ENGINE_COMPILE=1 pip install --no-build-isolation .    # compiled (make compiled)

Everything else about the package (metadata, dependencies, package data) is in pyproject.toml;
this file only adds the extension modules, and only when RULES_ENGINE_COMPILE=1. The compiled
build needs mypy (which ships mypyc), setuptools >= 77, wheel, gcc and the Python headers in the
building environment, hence `--no-build-isolation`; the pure build needs none of them. The wheel
keeps the .py files beside the compiled modules, so the package still reads as source
(docs/development.md).
"""

from __future__ import annotations

import os
import sys
from typing import Any

from setuptools import setup

# The modules on the hot path of `Engine.process`, and the two that write its explanations (explain
# on: about 1.1x faster than with the others alone); the evaluator's stages and mechanics are one
# module each (docs/architecture.md). Others were measured and left out
# (bench/README.md, "The compiled build"); the pydantic models (outcome.py, events.py, state/)
# must stay Python.
COMPILED = [
    "rules_engine/engine/money.py",
    "rules_engine/engine/evaluator.py",
    "rules_engine/engine/run.py",
    "rules_engine/engine/conditions.py",
    "rules_engine/engine/admission.py",
    "rules_engine/engine/pricing.py",
    "rules_engine/engine/earning.py",
    "rules_engine/engine/rounding.py",
    "rules_engine/engine/rewards.py",
    "rules_engine/engine/points.py",
    "rules_engine/engine/returns.py",
    "rules_engine/engine/settle.py",
    "rules_engine/engine/mechanics/__init__.py",
    "rules_engine/engine/mechanics/shared.py",
    "rules_engine/engine/mechanics/badges.py",
    "rules_engine/engine/mechanics/challenges.py",
    "rules_engine/engine/mechanics/quests.py",
    "rules_engine/engine/mechanics/streaks.py",
    "rules_engine/engine/mechanics/referral.py",
    "rules_engine/engine/mechanics/offers.py",
    "rules_engine/engine/mechanics/notifications.py",
    "rules_engine/engine/mechanics/tiers.py",
    "rules_engine/engine/trusted.py",
    "rules_engine/engine/lifecycle.py",
    "rules_engine/engine/plan.py",
    "rules_engine/engine/explain.py",
    "rules_engine/dsl/values.py",
    "rules_engine/dsl/interpreter.py",
]

# An editable or in-place build would put the compiled modules beside the sources, where they
# shadow every later edit of the .py files until someone deletes them.
IN_PLACE = {"develop", "editable_wheel", "--inplace", "-i"}
# pip asks for the metadata (dist_info) before it builds the wheel; only the wheel needs mypyc.
METADATA = {"egg_info", "dist_info"}


def extensions() -> list[Any]:
    if os.environ.get("RULES_ENGINE_COMPILE") != "1" or METADATA.intersection(sys.argv[1:2]):
        return []
    if IN_PLACE.intersection(sys.argv[1:]):
        sys.exit(
            "RULES_ENGINE_COMPILE=1 builds wheels only: an editable or in-place build would leave "
            "compiled modules in the source tree, shadowing the .py files"
        )
    from mypyc.build import mypycify  # only the compiled build needs mypy

    return mypycify(COMPILED, opt_level="3", debug_level="0")


setup(ext_modules=extensions())
