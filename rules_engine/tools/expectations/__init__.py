"""Expectations: a marketer's examples of what a program must do, run as a test suite.

`loyalty test PROGRAM [TESTS.yaml]` is built from three verbs:

    load_suite(path) -> Suite                      the tests file, its event and state files
    check_suite(suite, program) -> [Diagnostic]     every rule it names exists, with a sensible kind
    run_suite(engine, suite) -> Iterator[CaseResult]  each case's outcome compared with its expectations

A tests file is YAML loaded like a program (`program.loader`: exact numbers, YAML 1.2 values, a
span for every node), so a mistake in it is reported at its line and column. Its format is the
pydantic models in `model` (`extra="forbid"`: a misspelt expectation is an error, never ignored):

    program: coffee-club.yaml          # optional, relative to this file
    cases:
      - name: gold member, Tuesday morning latte and croissant
        customer: {tier: gold}         # or customer_file: states/gold.json; absent = new customer
        event: {...}                   # or event_file: events/tuesday.json (relative to this file)
        expect: {points: 52, rules: {base: 6}, fired: [refill], not_fired: [big-order],
                 discount: 128.00, discounts: {refill: 128.00}, free_shipping: false,
                 to_pay: 692.50}       # or expect: {error: RE411}
      - name: a scenario            # `before:` events build the customer's history first
        before: [events/signup.json]
        event_file: events/first-purchase.json
        expect: {tier: green, balance: 106, available: 0, badges: [first-cup],
                 lots: {"evt-1/base": 6}, points_changes: {expire: 10, burn: 350},
                 coupons_issued: [welcome-10], notifications: [beans_expiring],
                 entries: {new-year-draw: 2},
                 trace: {"referral:signup": {code: capped, reason: already referred}}}

Results are data (`CaseResult`, `Mismatch`); `render.py` turns them into text.

The package: `model` (the format and the results), `loading` (load_suite), `checks`
(check_suite), `runner` (run_suite, compare).
"""

from __future__ import annotations

from rules_engine.tools.expectations.checks import (
    check_suite,
)
from rules_engine.tools.expectations.loading import (
    default_tests_path,
    load_suite,
    suite_paths,
    suite_program,
)
from rules_engine.tools.expectations.model import (
    POINTS_CHANGES,
    REFUSALS,
    TRACE_CODES,
    ZERO,
    Case,
    CaseResult,
    Expect,
    LoadedCase,
    Mismatch,
    Number,
    Suite,
    SuiteError,
    SuiteFile,
    SuiteModel,
    TraceExpect,
)
from rules_engine.tools.expectations.runner import (
    compare,
    run_case,
    run_suite,
)

__all__ = [
    "POINTS_CHANGES",
    "REFUSALS",
    "TRACE_CODES",
    "ZERO",
    "Case",
    "CaseResult",
    "Expect",
    "LoadedCase",
    "Mismatch",
    "Number",
    "Suite",
    "SuiteError",
    "SuiteFile",
    "SuiteModel",
    "TraceExpect",
    "check_suite",
    "compare",
    "default_tests_path",
    "load_suite",
    "run_case",
    "run_suite",
    "suite_paths",
    "suite_program",
]
