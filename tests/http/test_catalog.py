"""The catalog with its stock left (`GET /v1/programs/{program}/catalog`), and a redemption of an
item whose stock is all taken refused with RE456 (issue 16, item 5)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from rules_engine.http import Settings
from tests.http.conftest import BASE, exact, post, serving

SHOP = """program: shop
version: 1
timezone: UTC
currency: EUR
points: {value: 0.01}
earn:
  - {id: base, rate: 1 per 1}
catalog:
  - {id: mug, name: A mug, cost: 10, stock: 1}
  - {id: latte, name: A latte, cost: 5}
"""


def test_the_catalog_shows_the_stock_left_and_the_last_item_goes_once(tmp_path: Path) -> None:
    folder = tmp_path / "programs"
    folder.mkdir()
    (folder / "shop.yaml").write_text(SHOP)
    with serving(Settings(programs=folder, db=str(tmp_path / "shop.db"))) as server:
        token = server.add_key(["admin"])
        with server.client(token) as client:
            assert exact(client.get("/v1/programs/shop/catalog")) == {
                "program": "shop",
                "version": 1,
                "items": [
                    {"id": "mug", "name": "A mug", "cost": 10, "stock": 1, "redeemed": 0, "remaining": 1},
                    {
                        "id": "latte",
                        "name": "A latte",
                        "cost": 5,
                        "stock": None,
                        "redeemed": 0,
                        "remaining": None,
                    },
                ],
            }
            for customer in ("ann", "bob"):
                event = {
                    "id": f"buy-{customer}",
                    "type": "purchase",
                    "time": BASE.isoformat(),
                    "customer": customer,
                    "items": [{"sku": "beans", "price": 20, "qty": 1}],
                }
                assert post(client, "/v1/programs/shop/events", event).status_code == 200
            at = (BASE + dt.timedelta(seconds=1)).isoformat()
            taken = post(
                client, "/v1/programs/shop/customers/ann/redemptions", {"id": "r1", "item": "mug", "time": at}
            )
            assert taken.status_code == 200, taken.text
            refused = post(
                client, "/v1/programs/shop/customers/bob/redemptions", {"id": "r2", "item": "mug", "time": at}
            )
            assert refused.status_code == 422 and refused.json()["code"] == "RE456"
            items = exact(client.get("/v1/programs/shop/catalog"))["items"]
            assert [(i["id"], i["redeemed"], i["remaining"]) for i in items] == [
                ("mug", 1, 0),
                ("latte", 0, None),
            ]
