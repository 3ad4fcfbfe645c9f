"""Challenges, quests, badges and streaks, on small programs worked out by hand.

Times are in the program's timezone (Europe/Moscow, +03:00) unless a test is about UTC;
2026-12-07 is a Monday.
"""

from __future__ import annotations

import textwrap
from decimal import Decimal
from pathlib import Path

from rules_engine.engine import mechanics
from rules_engine.engine.evaluator import Engine
from rules_engine.engine.outcome import Outcome, RuleTrace
from rules_engine.program.validate import load_program, load_program_text
from tests.engine.scenario import Customer, event

ROOT = Path(__file__).resolve().parents[2]
HEADER = "program: t\nversion: 1\ntimezone: Europe/Moscow\ncurrency: RUB\n"
MINE = [mechanics.badges, mechanics.challenges, mechanics.quests, mechanics.streaks]
KINDS = ("challenge:", "quest:", "badge:", "streak:")


def test_the_mechanics_are_wired_in() -> None:
    assert all(mechanic in mechanics.MECHANICS for mechanic in MINE)


def engine(body: str) -> Engine:
    return Engine(load_program_text(HEADER + textwrap.dedent(body), "t.yaml"))


def rewards(outcome: Outcome) -> dict[str, Decimal]:
    """Points the gamification mechanics gave, by rule."""
    return {a.rule: a.points for a in outcome.effects.points if a.rule.startswith(KINDS)}


def badges(outcome: Outcome) -> list[str]:
    return [b.badge for b in outcome.effects.badges]


def trace(outcome: Outcome, rule: str) -> RuleTrace:
    return next(t for t in outcome.trace if t.rule == rule)


COFFEE = ("LATTE", "coffee", "300")
PASTRY = ("CROISSANT", "pastry", "180")


# -- challenges ----------------------------------------------------------------------------------


def test_a_challenge_counts_events_and_rewards_the_goal_in_the_window() -> None:
    c = Customer(
        engine(
            """\
            badges: [{id: coffee-lover}]
            challenges:
              - id: three-coffees
                counts: count(item.category == "coffee" for item in basket.items)
                goal: 3
                window: calendar_week
                reward: {points: 100, badge: coffee-lover}
            """
        )
    )
    first = c.send(event("purchase", "2026-12-07T09:00:00", COFFEE, ("ESPRESSO", "coffee", "150"), PASTRY))
    assert rewards(first) == {}
    step = trace(first, "challenge:three-coffees")
    assert (step.kind, step.fired, step.code) == ("challenge", False, "nothing_eligible")
    assert step.reason.startswith("2 of 3 this calendar week (2026-W50)")
    assert step.hint == "1 more to reach the goal"
    assert c.state is not None
    assert c.state.challenges["three-coffees"].progress == 2
    assert c.state.challenges["three-coffees"].window == "2026-W50"
    # a purchase without coffee counts 0
    assert rewards(c.send(event("purchase", "2026-12-08T09:00:00", PASTRY))) == {}
    done = c.send(event("purchase", "2026-12-09T09:00:00", COFFEE))
    assert rewards(done) == {"challenge:three-coffees": 100}
    assert badges(done) == ["coffee-lover"]
    assert trace(done, "challenge:three-coffees").fired
    assert trace(done, "challenge:three-coffees").reason.startswith("3 of 3 this calendar week")
    assert c.state.challenges["three-coffees"].completed == ["2026-W50"]
    assert [e.rule for e in c.books if e.rule.startswith(KINDS)] == ["challenge:three-coffees"]


def test_a_summed_goal_and_repeat_once() -> None:
    c = Customer(
        engine(
            """\
            challenges:
              - id: spend-1000
                counts: basket.total
                goal: 1000
                window: calendar_month
                repeat: once
                reward: {points: 50}
            """
        )
    )
    assert rewards(c.send(event("purchase", "2026-12-03T12:00:00", ("A", "x", "400.00")))) == {}
    assert rewards(c.send(event("purchase", "2026-12-20T12:00:00", ("B", "x", "700.00")))) == {
        "challenge:spend-1000": 50
    }
    # once ever: not in the next month either
    later = c.send(event("purchase", "2027-01-05T12:00:00", ("C", "x", "2000.00")))
    assert rewards(later) == {}
    assert (trace(later, "challenge:spend-1000").code, trace(later, "challenge:spend-1000").fired) == (
        "capped",
        False,
    )
    assert c.state is not None
    assert c.state.challenges["spend-1000"].progress == Decimal("1100.00")


def test_repeat_every_window_rewards_once_in_each_window() -> None:
    c = Customer(
        engine(
            """\
            challenges:
              - {id: two-a-day, goal: 2, window: calendar_day, repeat: every_window, reward: {points: 10}}
            """
        )
    )
    got = [
        rewards(c.send(event("purchase", t, COFFEE))).get("challenge:two-a-day")
        for t in (
            "2026-12-07T09:00:00",
            "2026-12-07T12:00:00",  # 2 of 2: reward
            "2026-12-07T18:00:00",  # 3 of 2: already completed today
            "2026-12-08T09:00:00",  # a new day starts from 0
            "2026-12-08T10:00:00",  # 2 of 2 again: reward
        )
    ]
    assert got == [None, 10, None, None, 10]
    assert trace(c.outcomes[2], "challenge:two-a-day").code == "capped"
    assert c.state is not None
    assert c.state.challenges["two-a-day"].completed == ["2026-12-07", "2026-12-08"]


def test_calendar_windows_turn_at_midnight_in_the_program_timezone_not_utc() -> None:
    c = Customer(
        engine(
            """\
            challenges:
              - {id: two-a-week, goal: 2, window: calendar_week, repeat: every_window, reward: {points: 10}}
            """
        )
    )
    # Sunday 23:59:59 in Moscow, then Monday 00:00:00 in Moscow, which is still Sunday in UTC
    c.send(event("purchase", "2026-12-13T23:59:59+03:00", COFFEE))
    monday = c.send(event("purchase", "2026-12-13T21:00:00Z", COFFEE))
    assert rewards(monday) == {}
    assert c.state is not None
    assert c.state.challenges["two-a-week"].window == "2026-W51"
    assert c.state.challenges["two-a-week"].progress == 1
    # two events on one Moscow day that are on two UTC days count in the same week
    assert rewards(c.send(event("purchase", "2026-12-14T02:00:00+03:00", COFFEE))) == {
        "challenge:two-a-week": 10
    }


def test_a_rolling_window_starts_at_the_first_counted_event() -> None:
    c = Customer(
        engine(
            """\
            challenges:
              - {id: two-in-7d, goal: 2, window: rolling 7d, repeat: every_window, reward: {points: 10}}
            """
        )
    )
    c.send(event("purchase", "2026-12-01T10:00:00", COFFEE))
    # exactly 7 days later the window is over: this event starts a new one
    late = c.send(event("purchase", "2026-12-08T10:00:00", COFFEE))
    assert rewards(late) == {}
    assert c.state is not None
    assert c.state.challenges["two-in-7d"].window == "2026-12-08T10:00:00+03:00"
    assert rewards(c.send(event("purchase", "2026-12-14T23:00:00", COFFEE))) == {"challenge:two-in-7d": 10}


def test_challenge_on_active_and_when_decide_what_counts() -> None:
    c = Customer(
        engine(
            """\
            challenges:
              - id: december-big
                on: [purchase]
                when: basket.total >= 500
                active: {start: 2026-12-01, end: 2026-12-31}
                goal: 1
                window: lifetime
                reward: {points: 5}
            """
        )
    )
    early = c.send(event("purchase", "2026-11-30T23:59:00", ("A", "x", "900")))
    assert trace(early, "challenge:december-big").code == "outside_schedule"
    opened = c.send(event("app_open", "2026-12-05T10:00:00"))
    assert trace(opened, "challenge:december-big").code == "wrong_event"
    small = c.send(event("purchase", "2026-12-05T10:00:00", ("A", "x", "100")))
    assert trace(small, "challenge:december-big").code == "condition_false"
    assert rewards(c.send(event("purchase", "2026-12-06T10:00:00", ("A", "x", "900")))) == {
        "challenge:december-big": 5
    }


def test_a_try_something_new_challenge_counts_categories_never_bought_before() -> None:
    """'Try a category you never bought before, twice this month': the condition reads the
    customer's earlier purchases, and `counts` the new categories of this basket."""
    c = Customer(
        engine(
            """\
            challenges:
              - id: explorer
                counts: >-
                  count(not any(p.category == item.category for p in customer.purchases)
                        for item in basket.items)
                goal: 2
                window: calendar_month
                reward: {points: 40}
            """
        )
    )
    first = c.send(event("purchase", "2026-12-02T10:00:00", ("LATTE", "coffee", "200")))
    assert trace(first, "challenge:explorer").reason.startswith("1 of 2")  # coffee is new
    again = c.send(event("purchase", "2026-12-03T10:00:00", ("ESPRESSO", "coffee", "150")))
    assert trace(again, "challenge:explorer").reason.startswith("1 of 2")  # coffee is not new any more
    new = c.send(event("purchase", "2026-12-04T10:00:00", ("TEA", "tea", "150"), ("FLAT", "coffee", "200")))
    assert rewards(new) == {"challenge:explorer": 40}  # tea is the second new category


# -- challenges and returns ----------------------------------------------------------------------

RETURNS = """\
challenges:
  - id: coffees
    counts: count(item.category == "coffee" for item in basket.items)
    goal: 3
    window: calendar_week
    repeat: every_window
    reward: {points: 100}
  - id: spend
    counts: sum(item.price * item.qty for item in basket.items)
    goal: 1000
    window: calendar_month
    reward: {points: 50}
  - id: visits
    goal: 3
    window: lifetime
    reward: {points: 30}
"""


def purchase(time: str, *lines: tuple[str, str, str, int]) -> dict[str, object]:
    """A purchase whose lines are (sku, category, price, qty); its id is `p@<time>`."""
    data = event("purchase", time)
    data["id"] = f"p@{time}"
    data["items"] = [
        {"sku": sku, "category": category, "price": Decimal(price), "qty": Decimal(qty)}
        for sku, category, price, qty in lines
    ]
    return data


def returned(time: str, of: str, *lines: tuple[str, int]) -> dict[str, object]:
    data = event("return", time, purchase=f"p@{of}", items=[{"sku": s, "qty": q} for s, q in lines])
    data["id"] = f"r@{time}"
    return data


def progress(c: Customer, challenge: str) -> Decimal:
    assert c.state is not None
    return c.state.challenges[challenge].progress


def test_a_return_takes_back_what_the_returned_lines_added_to_a_challenge() -> None:
    c = Customer(engine(RETURNS))
    c.send(
        purchase("2026-12-07T09:00:00", ("LATTE", "coffee", "300.00", 1), ("ESPRESSO", "coffee", "150.00", 1))
    )
    assert progress(c, "coffees") == 2  # 2 coffee lines
    assert progress(c, "spend") == Decimal("450.00")
    assert progress(c, "visits") == 1
    back = c.send(returned("2026-12-08T10:00:00", "2026-12-07T09:00:00", ("ESPRESSO", 1)))
    said = trace(back, "challenge:coffees")
    assert (said.kind, said.fired, said.code) == ("challenge", False, "nothing_eligible")
    assert said.reason == "the return took back 1: 1 of 3 this calendar week (2026-W50)"
    assert said.hint == "2 more to reach the goal"
    assert trace(back, "challenge:spend").reason == (
        "the return took back 150.00: 300.00 of 1000 this calendar month (2026-12)"
    )
    # a purchase counted as 1 (no `counts`) comes back whole with its last line only
    assert trace(back, "challenge:visits").reason == (
        "the purchase counts whole until all of it is returned: 1 of 3 in all"
    )
    assert [t.rule for t in back.trace].count("challenge:coffees") == 1  # no `wrong_event` as well
    assert (progress(c, "coffees"), progress(c, "spend"), progress(c, "visits")) == (1, Decimal("300.00"), 1)
    # the espresso no longer counts: two more coffees are needed, not one
    assert rewards(c.send(purchase("2026-12-09T09:00:00", ("LATTE", "coffee", "300.00", 1)))) == {}
    assert rewards(c.send(purchase("2026-12-10T09:00:00", ("LATTE", "coffee", "300.00", 1)))) == {
        "challenge:coffees": 100,
        "challenge:visits": 30,
    }


def test_a_line_returned_in_part_gives_back_its_share_cumulatively() -> None:
    c = Customer(engine(RETURNS))
    c.send(purchase("2026-12-07T09:00:00", ("MUG", "cup", "100.00", 3), ("LATTE", "coffee", "300.00", 2)))
    assert (progress(c, "coffees"), progress(c, "spend")) == (1, Decimal("900.00"))
    taken = []
    for day, line in (("08", ("MUG", 1)), ("09", ("LATTE", 1)), ("10", ("MUG", 2)), ("11", ("LATTE", 1))):
        c.send(returned(f"2026-12-{day}T10:00:00", "2026-12-07T09:00:00", line))
        taken.append((progress(c, "coffees"), progress(c, "spend")))
    # mugs: 300.00 → 100.00 a mug; the coffee line counted 1: it comes back with its second latte
    assert taken == [
        (1, Decimal("800.00")),
        (1, Decimal("500.00")),
        (1, Decimal("300.00")),
        (0, Decimal("0.00")),
    ]
    # rounded down to the precision of what the line added, cumulatively: a line of 3 that added
    # 100.00 (its price: this challenge does not count quantities) gives back 33.33, 33.33, 33.34
    c = Customer(
        engine(
            """\
            challenges:
              - {id: prices, counts: sum(item.price for item in basket.items), goal: 1000, window: lifetime,
                 reward: {points: 1}}
            """
        )
    )
    c.send(purchase("2026-12-07T10:00:00", ("TEA", "tea", "100.00", 3), ("CUP", "cup", "20.00", 1)))
    prices = [progress(c, "prices")]
    for day in ("08", "09", "10"):
        c.send(returned(f"2026-12-{day}T10:00:00", "2026-12-07T10:00:00", ("TEA", 1)))
        prices.append(progress(c, "prices"))
    assert prices == [Decimal("120.00"), Decimal("86.67"), Decimal("53.34"), Decimal("20.00")]


def test_a_return_leaves_a_reached_goal_and_its_reward_and_a_window_that_is_over() -> None:
    c = Customer(engine(RETURNS))
    c.send(
        purchase("2026-12-07T09:00:00", ("LATTE", "coffee", "300.00", 1), ("ESPRESSO", "coffee", "150.00", 1))
    )
    done = c.send(purchase("2026-12-08T09:00:00", ("LATTE", "coffee", "300.00", 1)))
    assert rewards(done) == {"challenge:coffees": 100}
    back = c.send(returned("2026-12-09T10:00:00", "2026-12-07T09:00:00", ("ESPRESSO", 1)))
    said = trace(back, "challenge:coffees")
    assert (said.code, said.reason) == (
        "capped",
        "the goal was reached this calendar week (2026-W50): nothing is taken back, the reward is kept",
    )
    assert progress(c, "coffees") == 3
    assert c.state is not None
    assert [lot.points for lot in c.state.lots if lot.rule == "challenge:coffees"] == [100]
    # the purchase of the week before: that week is over
    c.send(purchase("2026-12-14T09:00:00", ("ESPRESSO", "coffee", "150.00", 1)))  # W51 starts
    assert progress(c, "coffees") == 1
    c = Customer(engine(RETURNS))
    c.send(purchase("2026-12-13T09:00:00", ("ESPRESSO", "coffee", "150.00", 1)))
    late = c.send(returned("2026-12-14T00:00:00", "2026-12-13T09:00:00", ("ESPRESSO", 1)))
    assert trace(late, "challenge:coffees").reason == (
        "the purchase counted this calendar week (2026-W50), which is over: nothing to take back"
    )
    assert progress(c, "coffees") == 1
    assert progress(c, "spend") == 0  # December goes on: the month's sum is taken back


# -- quests --------------------------------------------------------------------------------------

QUEST = """\
quests:
  - id: q
    within: 7d
    ordered: {ordered}
    steps:
      - {{id: coffee, when: 'any(item.category == "coffee" for item in basket.items)'}}
      - {{id: review, on: review}}
    reward: {{points: 50}}
"""


def test_an_ordered_quest_takes_its_steps_in_order_and_rewards_once() -> None:
    c = Customer(engine(QUEST.format(ordered="true")))
    early = c.send(event("review", "2026-12-01T10:00:00"))
    assert trace(early, "quest:q").code == "condition_false"  # the review is the second step
    assert trace(early, "quest:q").reason.startswith("no open step matched: 0 of 2 steps")
    first = c.send(event("purchase", "2026-12-02T10:00:00", COFFEE))
    assert trace(first, "quest:q").reason == "done coffee: 1 of 2 steps (coffee), until 2026-12-09 10:00"
    done = c.send(event("review", "2026-12-03T10:00:00"))
    assert rewards(done) == {"quest:q": 50}
    assert trace(done, "quest:q").reason.startswith("2 of 2 steps (coffee, review): quest complete")
    again = c.send(event("purchase", "2026-12-04T10:00:00", COFFEE))
    assert rewards(again) == {}
    assert trace(again, "quest:q").code == "capped"
    assert rewards(c.send(event("review", "2026-12-05T10:00:00"))) == {}
    assert c.state is not None
    assert c.state.quests["q"].completed


def test_an_unordered_quest_takes_its_steps_in_any_order() -> None:
    c = Customer(engine(QUEST.format(ordered="false")))
    assert rewards(c.send(event("review", "2026-12-01T10:00:00"))) == {}
    assert c.state is not None
    assert c.state.quests["q"].done == [1]
    assert rewards(c.send(event("purchase", "2026-12-02T10:00:00", COFFEE))) == {"quest:q": 50}


def test_the_time_limit_runs_from_the_first_step_and_a_late_event_starts_again() -> None:
    c = Customer(engine(QUEST.format(ordered="false")))
    c.send(event("purchase", "2026-12-01T10:00:00", COFFEE))
    # exactly 7 days after the first step: too late; the review starts a new attempt
    late = c.send(event("review", "2026-12-08T10:00:00"))
    assert rewards(late) == {}
    assert "passed: progress reset" in trace(late, "quest:q").reason
    assert c.state is not None
    assert c.state.quests["q"].done == [1]
    assert c.state.quests["q"].started_at == late.state.quests["q"].started_at
    assert str(c.state.quests["q"].started_at) == "2026-12-08 10:00:00+03:00"
    assert rewards(c.send(event("purchase", "2026-12-15T09:59:00", COFFEE))) == {"quest:q": 50}


def test_an_ordered_quest_restarts_with_a_late_first_step() -> None:
    c = Customer(engine(QUEST.format(ordered="true")))
    c.send(event("purchase", "2026-12-01T10:00:00", COFFEE))
    c.send(event("purchase", "2026-12-09T10:00:00", COFFEE))  # late: a new attempt, step 1 done
    assert c.state is not None
    assert c.state.quests["q"].done == [0]
    assert rewards(c.send(event("review", "2026-12-10T10:00:00"))) == {"quest:q": 50}


# -- badges --------------------------------------------------------------------------------------


def test_an_automatic_badge_is_given_once_with_its_reward() -> None:
    c = Customer(
        engine(
            """\
            badges:
              - {id: critic, on: [review], reward: {points: 20}}
              - {id: big-spender, when: basket.total >= 1000}
              - {id: manual}
            challenges:
              - {id: c, goal: 1, window: lifetime, reward: {badge: manual}}
            """
        )
    )
    review = c.send(event("review", "2026-12-01T10:00:00"))
    assert rewards(review) == {"badge:critic": 20}
    assert badges(review) == ["critic"]
    assert trace(review, "badge:critic").kind == "badge"
    assert "badge:manual" not in {t.rule for t in review.trace}  # no on/when: never automatic
    second = c.send(event("review", "2026-12-02T10:00:00"))
    assert rewards(second) == {}
    assert badges(second) == []
    assert trace(second, "badge:critic").code == "capped"
    small = c.send(event("purchase", "2026-12-03T10:00:00", ("A", "x", "100")))
    assert trace(small, "badge:big-spender").code == "condition_false"
    assert badges(small) == ["manual"]  # from the challenge's reward
    big = c.send(event("purchase", "2026-12-04T10:00:00", ("A", "x", "1000")))
    assert badges(big) == ["big-spender"]
    assert c.state is not None
    assert c.state.badges == ["critic", "manual", "big-spender"]


def test_a_badge_condition_on_the_purchase_history_sees_earlier_purchases_only() -> None:
    c = Customer(engine("badges: [{id: first-cup, on: [purchase], when: len(customer.purchases) == 0}]\n"))
    assert badges(c.send(event("purchase", "2026-12-01T10:00:00", COFFEE))) == ["first-cup"]
    second = c.send(event("purchase", "2026-12-02T10:00:00", COFFEE))
    assert badges(second) == []


# -- streaks -------------------------------------------------------------------------------------

STREAK = """\
streaks:
  - id: s
    on: app_open
    unit: {unit}
    repeat: {repeat}
    milestones:
      - {{length: 2, reward: {{points: 5}}}}
      - {{length: 3, reward: {{points: 10}}}}
"""


def opens(c: Customer, *times: str) -> list[Decimal | None]:
    return [rewards(c.send(event("app_open", t))).get("streak:s") for t in times]


def test_consecutive_days_same_day_twice_and_a_gap() -> None:
    c = Customer(engine(STREAK.format(unit="day", repeat="false")))
    got = opens(
        c,
        "2026-12-01T09:00:00",  # 1
        "2026-12-01T21:00:00",  # the same day: still 1
        "2026-12-02T09:00:00",  # 2: milestone
        "2026-12-03T23:59:00",  # 3: milestone
        "2026-12-04T00:01:00",  # 4: no more milestones
        "2026-12-06T09:00:00",  # a gap (no 5th): a new run at 1
        "2026-12-07T09:00:00",  # 2: the milestone again, in the new run
    )
    assert got == [None, None, 5, 10, None, None, 5]
    assert trace(c.outcomes[1], "streak:s").reason == "already counted this day: 1 day in a row"
    assert "a new run" in trace(c.outcomes[5], "streak:s").reason
    assert c.state is not None
    assert c.state.streaks["s"].model_dump() == {"last": "2026-12-07", "length": 2, "given": [2]}


def test_streak_days_turn_at_midnight_in_the_program_timezone() -> None:
    c = Customer(engine(STREAK.format(unit="day", repeat="false")))
    # 23:59 and 00:00 in Moscow: the same UTC day, two program days
    assert opens(c, "2026-12-07T20:59:00Z", "2026-12-07T21:00:00Z") == [None, 5]


def test_repeat_counts_again_after_the_last_milestone() -> None:
    c = Customer(engine(STREAK.format(unit="day", repeat="true")))
    days = [f"2026-12-{d:02d}T09:00:00" for d in range(1, 9)]
    # positions 1 2 3 | 1 2 3 | 1 2
    assert opens(c, *days) == [None, 5, 10, None, 5, 10, None, 5]
    assert c.state is not None
    assert c.state.streaks["s"].model_dump() == {"last": "2026-12-08", "length": 8, "given": [2]}


def test_a_weekly_streak_counts_iso_weeks_across_the_year_end() -> None:
    c = Customer(engine(STREAK.format(unit="week", repeat="false")))
    got = opens(
        c,
        "2026-12-21T09:00:00",  # 2026-W52
        "2026-12-27T23:00:00",  # Sunday of the same week
        "2026-12-28T09:00:00",  # 2026-W53: 2
        "2027-01-04T09:00:00",  # 2027-W01: 3
        "2027-01-18T09:00:00",  # W03 after a missed W02: 1
    )
    assert got == [None, None, 5, 10, None]
    assert c.state is not None
    assert c.state.streaks["s"].last == "2027-W03"
    assert c.state.streaks["s"].length == 1


# -- the example program -------------------------------------------------------------------------


def test_coffee_club_challenge_quest_and_streak() -> None:
    c = Customer(Engine(load_program(ROOT / "programs" / "coffee-club.yaml")))
    monday = c.send(event("purchase", "2026-12-07T12:00:00", COFFEE, PASTRY))
    assert badges(monday) == ["first-cup"]
    assert trace(monday, "challenge:five-coffees-a-week").reason.startswith("1 of 5 this calendar week")
    assert trace(monday, "quest:breakfast-explorer").reason.startswith("done coffee, pastry: 2 of 3 steps")
    # the challenge counts coffee lines: two lines on Tuesday
    c.send(event("purchase", "2026-12-08T12:00:00", COFFEE, ("ESPRESSO", "coffee", "150")))
    c.send(event("purchase", "2026-12-09T12:00:00", COFFEE))
    fifth = c.send(event("purchase", "2026-12-10T12:00:00", COFFEE))
    assert rewards(fifth) == {"challenge:five-coffees-a-week": 100}
    assert badges(fifth) == ["coffee-lover"]
    sixth = c.send(event("purchase", "2026-12-11T12:00:00", COFFEE))
    assert rewards(sixth) == {}
    # the review finishes the quest and earns the critic badge with its 20 beans
    review = c.send(event("review", "2026-12-12T12:00:00"))
    assert rewards(review) == {"quest:breakfast-explorer": 200, "badge:critic": 20}
    assert sorted(badges(review)) == ["critic", "explorer"]
    # the daily app streak: 3 days pay 10 beans, 7 pay 50 and the regular badge, then again
    days = [f"2026-12-{d:02d}T08:00:00" for d in range(13, 24)]
    got = [rewards(c.send(event("app_open", t))).get("streak:daily-app") for t in days]
    assert got == [None, None, 10, None, None, None, 50, None, None, 10, None]
    assert "regular" in badges(c.outcomes[-5])
    # a new week: the challenge starts from 0 again
    next_week = c.send(event("purchase", "2026-12-24T12:00:00", COFFEE))
    assert trace(next_week, "challenge:five-coffees-a-week").reason.startswith(
        "1 of 5 this calendar week (2026-W52)"
    )
    assert c.state is not None
    gamified = sum(e.points for e in c.books if e.rule.startswith(KINDS))
    assert gamified == 100 + 200 + 20 + 10 + 50 + 10  # the books balance at every event (Customer)


def test_a_false_when_is_explained_for_challenges_badges_and_streaks() -> None:
    """The admission gate gives every mechanic the explain detail earn rules have: the false
    parts, and the condition tree; without explain, the trace is as it always was."""
    e = engine(
        """
        challenges:
          - {id: big, when: basket.total >= 500, goal: 1, window: lifetime, reward: {points: 5}}
        badges:
          - {id: big-spender, when: basket.total >= 500}
        streaks:
          - {id: daily, on: purchase, when: basket.total >= 500, unit: day,
             milestones: [{length: 2, reward: {points: 1}}]}
        """
    )
    small = event("purchase", "2026-12-03T10:00:00", ("A", "x", "100"))
    explained = e.process(small, explain=True)
    plain = e.process(small)
    for rule in ("challenge:big", "badge:big-spender", "streak:daily"):
        t = trace(explained, rule)
        assert (t.code, t.reason) == ("condition_false", "`when` is false")
        assert t.failing and "basket.total >= 500" in t.failing[0]
        assert t.condition is not None
        quiet = trace(plain, rule)
        assert (quiet.code, quiet.reason, quiet.failing, quiet.condition) == (
            "condition_false",
            "`when` is false",
            [],
            None,
        )
