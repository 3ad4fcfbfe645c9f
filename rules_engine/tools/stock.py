"""Catalog stock as people read it: each item's `stock`, how many were redeemed, how many are left.

The store counts redemptions program-wide (`Store.redeemed`); the program says the limit. Shown by
`loyalty customer` and the service's `GET /v1/programs/{program}/catalog`.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import NamedTuple

from rules_engine.program.model import Program


class ItemStock(NamedTuple):
    id: str
    name: str
    cost: Decimal
    stock: int | None
    redeemed: int
    remaining: int | None
    """Never below 0 (a version that lowered `stock` under what was redeemed); None: no limit."""


def catalog_stock(program: Program, redeemed: Mapping[str, int]) -> list[ItemStock]:
    """Every catalog item of the program, in its order, with its count."""
    return [
        ItemStock(
            item.id,
            item.name,
            item.cost,
            item.stock,
            redeemed.get(item.id, 0),
            None if item.stock is None else max(0, item.stock - redeemed.get(item.id, 0)),
        )
        for item in program.catalog
    ]


def stock_words(item: ItemStock, points_name: str) -> str:
    """`mug: 250 beans, 3 of 10 left` (or `no stock limit`)."""
    left = "no stock limit" if item.stock is None else f"{item.remaining} of {item.stock} left"
    cost = format(item.cost, "f")
    return f"{item.id}: {cost} {points_name}, {left}"
