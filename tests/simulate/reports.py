"""Simulate reports built by hand, in the shape `loyalty simulate --json` prints (docs/simulate.md).

A year of the coffee club over 1,840 customers, with and without a comparison against a version
that raises the gold threshold. The figures add up as the real ones do (liability = issued −
redeemed − expired − reversed + adjusted; each month's tiers sum to the customers seen so far), so
the page shows what a marketer would see. `hostile()` puts markup into every string a marketer or
the data controls.
"""

from __future__ import annotations

import copy
from typing import Any

MONTHS = [f"2025-{month:02d}" for month in range(1, 13)]
TIERS = ["member", "silver", "gold"]


def _monthly(scale: float, gold_share: float) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    liability = 0
    customers = 0
    for index, month in enumerate(MONTHS):
        seasonal = 1.0 + 0.35 * (index in (10, 11)) - 0.15 * (index in (0, 1))
        issued = int((41_000 + 2_300 * index) * seasonal * scale)
        redeemed = int(issued * (0.18 + 0.02 * index))
        expired = 0 if index < 6 else int(issued * 0.05)
        liability += issued - redeemed - expired
        customers = min(1_840, customers + 260 - 10 * index)
        gold = int(customers * gold_share * (index + 1) / 12)
        silver = int(customers * 0.22 * (index + 1) / 12)
        rows.append(
            {
                "month": month,
                "issued": issued,
                "redeemed": redeemed,
                "expired": expired,
                "liability": liability,
                "spend": f"{(612_000 + 31_000 * index) * seasonal:.2f}",
                "baskets": int((2_900 + 140 * index) * seasonal),
                "tiers": {"member": customers - silver - gold, "silver": silver, "gold": gold},
            }
        )
    return rows


def _figures(scale: float, gold_share: float) -> dict[str, Any]:
    """The per-version figures: cost, monthly, tiers, gamification."""
    monthly = _monthly(scale, gold_share)
    issued = sum(row["issued"] for row in monthly)
    redeemed = sum(row["redeemed"] for row in monthly)
    expired = sum(row["expired"] for row in monthly)
    reversed_, adjusted = int(issued * 0.012), 1_500
    liability = issued - redeemed - expired - reversed_ + adjusted
    breakage = int(liability * 0.21)
    per_rule = [
        {
            "rule": "base",
            "mechanic": "earn",
            "points": int(issued * 0.52),
            "discounts": "0.00",
            "awards": 31_250,
            "customers": 1_812,
        },
        {
            "rule": "double-tuesday",
            "mechanic": "earn",
            "points": int(issued * 0.14),
            "discounts": "0.00",
            "awards": 4_410,
            "customers": 1_166,
        },
        {
            "rule": "tier:gold",
            "mechanic": "tier",
            "points": int(issued * 0.11 * gold_share / 0.18),
            "discounts": "0.00",
            "awards": 3_120,
            "customers": int(1_840 * gold_share),
        },
        {
            "rule": "pastry-bonus",
            "mechanic": "earn",
            "points": int(issued * 0.09),
            "discounts": "0.00",
            "awards": 6_004,
            "customers": 1_290,
        },
        {
            "rule": "refill",
            "mechanic": "discount",
            "points": 0,
            "discounts": "18420.50",
            "awards": 9_211,
            "customers": 1_402,
        },
        {
            "rule": "early-bird",
            "mechanic": "earn",
            "points": int(issued * 0.06),
            "discounts": "0.00",
            "awards": 2_870,
            "customers": 655,
        },
        {
            "rule": "challenge:five-coffees-a-week",
            "mechanic": "challenge",
            "points": 96_000,
            "discounts": "0.00",
            "awards": 1_920,
            "customers": 702,
        },
        {
            "rule": "quest:breakfast-explorer",
            "mechanic": "quest",
            "points": 41_500,
            "discounts": "0.00",
            "awards": 830,
            "customers": 830,
        },
        {
            "rule": "coupon:free-scones",
            "mechanic": "coupon",
            "points": 0,
            "discounts": "3110.00",
            "awards": 622,
            "customers": 540,
        },
    ]
    return {
        "cost": {
            "points": {
                "issued": issued,
                "redeemed": redeemed,
                "expired": expired,
                "reversed": reversed_,
                "adjusted": adjusted,
                "liability": liability,
                "breakage": breakage,
            },
            "money": {
                "issued": f"{issued / 100:.2f}",
                "redeemed": f"{redeemed / 100:.2f}",
                "liability": f"{liability / 100:.2f}",
                "breakage": f"{breakage / 100:.2f}",
                "discounts": "21530.50",
            },
            "per_rule": per_rule,
            "per_mechanic": [
                {
                    "mechanic": "earn",
                    "points": sum(r["points"] for r in per_rule if r["mechanic"] == "earn"),
                    "discounts": "0.00",
                },
                {"mechanic": "tier", "points": per_rule[2]["points"], "discounts": "0.00"},
                {"mechanic": "discount", "points": 0, "discounts": "18420.50"},
                {"mechanic": "challenge", "points": 96_000, "discounts": "0.00"},
                {"mechanic": "quest", "points": 41_500, "discounts": "0.00"},
                {"mechanic": "coupon", "points": 0, "discounts": "3110.00"},
            ],
        },
        "monthly": monthly,
        "tiers": {
            "order": list(TIERS),
            "final": dict(monthly[-1]["tiers"]),
            "moves": {"up": 812, "down": int(300 * gold_share / 0.18)},
            "spend_share": {"member": 0.47, "silver": 0.26, "gold": 0.27},
        },
        "gamification": {
            "challenges": [{"id": "five-coffees-a-week", "started": 1_544, "completed": 702, "rate": 0.4547}],
            "quests": [{"id": "breakfast-explorer", "started": 1_210, "completed": 830, "rate": 0.686}],
            "badges": [
                {"id": "first-cup", "customers": 1_790, "rate": 0.9728},
                {"id": "critic", "customers": 214, "rate": 0.1163},
            ],
            "streaks": [{"id": "daily-app", "started": 988, "longest": 41, "completed": 377, "rate": 0.3816}],
            "offers": {"issued": 3_400, "used": 1_191},
            "coupons": {"issued": 1_840, "used": 622},
        },
    }


def report() -> dict[str, Any]:
    """The base version's report, without a comparison."""
    figures = _figures(1.0, 0.18)
    return {
        "report": "loyalty-simulate/1",
        "program": {"name": "coffee-club", "version": 3, "hash": "9f2c41d7a0be63e15c2d7f1a"},
        "history": {
            "events": 48_712,
            "customers": 1_840,
            "from": "2025-01-01",
            "to": "2025-12-31",
            "source": "history/coffee-2025.jsonl",
        },
        "currency": "EUR",
        "point_value": "0.01",
        **figures,
        "analytics": {
            "average_check": "21.84",
            "purchase_frequency": 19.7,
            "repeat_rate": 0.83,
            "top_categories": [
                {"category": "coffee", "spend": "402118.20", "share": 0.48},
                {"category": "pastry", "spend": "219410.75", "share": 0.262},
                {"category": "beans", "spend": "130220.00", "share": 0.155},
                {"category": "merch", "spend": "41870.40", "share": 0.05},
            ],
            "returns_share": 0.014,
            "by_month": [
                {"month": row["month"], "spend": row["spend"], "baskets": row["baskets"]}
                for row in figures["monthly"]
            ],
            "by_weekday": [
                {"weekday": day, "spend": f"{100_000 + 9_000 * index:.2f}", "baskets": 5_000 + 400 * index}
                for index, day in enumerate(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"])
            ],
            "new_customers": 1_840,
            "returning_customers": 1_527,
        },
        "compare": None,
        "gates": [],
    }


def compared() -> dict[str, Any]:
    """The base report with a comparison against version 4 (more customers reach gold)."""
    base = report()
    other = _figures(1.07, 0.26)
    matrix = [[1_050, 31, 88], [0, 290, 117], [0, 0, 264]]
    diff = []
    for name in ("issued", "redeemed", "expired", "reversed", "liability", "breakage"):
        a, b = base["cost"]["points"][name], other["cost"]["points"][name]
        diff.append(
            {
                "figure": f"cost.points.{name}",
                "base": a,
                "other": b,
                "delta": b - a,
                "change": (b - a) / a if a else None,
            }
        )
    diff.append(
        {
            "figure": "cost.money.discounts",
            "base": "21530.50",
            "other": "21530.50",
            "delta": "0.00",
            "change": 0.0,
        }
    )
    diff.append(
        {
            "figure": "tiers.moves.down",
            "base": 300,
            "other": other["tiers"]["moves"]["down"],
            "delta": other["tiers"]["moves"]["down"] - 300,
            "change": 0.4444,
        }
    )
    diff.append({"figure": "gamification.coupons.used", "base": 0, "other": 0, "delta": 0, "change": None})
    per_rule = [
        {"rule": a["rule"], "base": a["points"], "other": b["points"], "delta": b["points"] - a["points"]}
        for a, b in zip(base["cost"]["per_rule"], other["cost"]["per_rule"], strict=True)
    ]
    base["compare"] = {
        "program": {"name": "coffee-club", "version": 4, "hash": "0b7e5c22f1d94a8e33a6c090"},
        "report": other,
        "diff": diff,
        "tier_matrix": {"base_tiers": list(TIERS), "other_tiers": list(TIERS), "counts": matrix},
        "per_rule": per_rule,
        "most_affected": [
            {"customer": "card-1204", "base": 4_210, "other": 5_730, "delta": 1_520},
            {"customer": "card-0077", "base": 3_905, "other": 5_310, "delta": 1_405},
            {"customer": "card-0951", "base": 2_880, "other": 3_990, "delta": 1_110},
        ],
    }
    base["gates"] = [
        {"gate": "cost > +5%", "value": 0.0712, "passed": False},
        {"gate": "liability > +10%", "value": 0.0688, "passed": True},
    ]
    return base


# Markup a marketer's YAML or a data file could carry: a script, an event handler, a tag closing the
# SVG text it lands in, a CDATA end, a `$` pair that matplotlib would read as math, an entity.
HOSTILE = [
    "<script>window.__pwned = 'script'</script>",
    '"><img src=x onerror="window.__pwned=\'img\'">',
    "</text></svg><script>window.__pwned='svg'</script>",
    "]]><script>window.__pwned='cdata'</script>",
    "save $5 on $10 & more",
    "&lt;b&gt; café ☕",
]

CURRENCY = "EUR<script>window.__pwned='currency'</script>"


def hostile() -> dict[str, Any]:
    """The compared report with markup in every name a marketer or the data controls."""
    data = compared()
    compare = data["compare"]
    data["program"]["name"] = HOSTILE[0]
    compare["program"]["name"] = HOSTILE[1]
    data["history"]["source"] = HOSTILE[2]
    for index, rule in enumerate(data["cost"]["per_rule"]):
        rule["rule"] = f"{HOSTILE[index % len(HOSTILE)]} #{index}"
        rule["mechanic"] = HOSTILE[(index + 1) % len(HOSTILE)]
        compare["per_rule"][index]["rule"] = rule["rule"]
    data["cost"]["per_mechanic"][0]["mechanic"] = HOSTILE[3]
    renamed = {"member": HOSTILE[4], "silver": HOSTILE[5], "gold": HOSTILE[0]}
    for figures in (data, compare["report"]):
        figures["tiers"]["order"] = [renamed[tier] for tier in TIERS]
        for row in figures["monthly"]:
            row["tiers"] = {renamed[tier]: count for tier, count in row["tiers"].items()}
        figures["tiers"]["final"] = {renamed[tier]: n for tier, n in figures["tiers"]["final"].items()}
        figures["tiers"]["spend_share"] = {renamed[t]: s for t, s in figures["tiers"]["spend_share"].items()}
        for kind in ("challenges", "quests", "badges", "streaks"):
            for index, row in enumerate(figures["gamification"][kind]):
                row["id"] = HOSTILE[(index + 2) % len(HOSTILE)]
    compare["tier_matrix"]["base_tiers"] = [renamed[tier] for tier in TIERS]
    compare["tier_matrix"]["other_tiers"] = [renamed[tier] for tier in TIERS]
    for index, row in enumerate(data["analytics"]["top_categories"]):
        row["category"] = HOSTILE[index % len(HOSTILE)]
    for index, row in enumerate(compare["most_affected"]):
        row["customer"] = HOSTILE[(index + 3) % len(HOSTILE)]
    for row in compare["diff"][:2]:
        row["figure"] = HOSTILE[0]
    data["gates"][0]["gate"] = HOSTILE[1] + " %"
    data["currency"] = CURRENCY
    return copy.deepcopy(data)
