"""Offline tools over programs, states and stores: what `Engine.process` never runs.

`expectations` runs a marketer's tests file (`loyalty test`); `accounting` turns the ledger into
journal entries, liability and breakage (`loyalty ledger export`); `draws` picks a prize draw's
winners; `leaderboard` ranks customers; `standing` measures a customer's tier between events;
`stock` counts a catalog's limited rewards; and the support desk's operations: `adjustments`,
`voids`, `erasure`, `coupon_codes` (bulk codes). (The published JSON Schemas are
rules_engine/schemas.py's.) They import the engine; the engine never imports them
(pyproject.toml's import contracts).
"""
