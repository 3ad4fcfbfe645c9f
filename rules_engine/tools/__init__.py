"""Offline tools over programs, states and stores: what `Engine.process` never runs.

`schemas` writes the published JSON Schemas.
"""
