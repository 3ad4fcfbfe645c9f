"""Offline tools over programs, states and stores: what `Engine.process` never runs.

`expectations` runs a marketer's tests file (`loyalty test`); `accounting` turns the ledger into
journal entries, liability and breakage (`loyalty ledger export`); `draws` picks a prize draw's
winners; `leaderboard` ranks customers; `schemas` writes the published JSON Schemas. They import
the engine; the engine never imports them (pyproject.toml's import contracts).
"""
