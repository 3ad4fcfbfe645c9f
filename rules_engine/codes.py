"""Every diagnostic code, once: what it means, the stage that finds it, how bad it is, and the exit
status of the command it stops.

Codes are stable (dbt-style), so that tests, tools and a marketer's search can rely on them. The
hundreds follow the pipeline: RE1xx program YAML and structure, RE2xx condition syntax and limits,
RE3xx names and types, RE4xx runtime input (contexts, events, states, redemptions, returns, time),
RE5xx lint warnings, RE6xx stores (databases), RE7xx the command line's own usage problems, RE8xx
the HTTP service's own (a key, a route, a request the service refuses before the engine sees it).

One code, one meaning: a code is never given a second meaning, and a code that is retired is never
reused (`RETIRED` says what replaced it). `Diagnostic` refuses a code that is not registered here,
and `tests/test_codes.py` checks every code literal in the package against this list. The index
for people, docs/errors.md, is generated from it (`make docs`, `scripts/gen-errors-doc.py`).

This module imports nothing of the project: `errors.py` is built on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


class Stage(StrEnum):
    """Where in the pipeline a problem is found, in pipeline order."""

    YAML = "YAML"
    STRUCTURE = "structure"
    MODEL = "model"
    REFERENCES = "references"
    SYNTAX = "condition syntax"
    TYPES = "names and types"
    LINT = "lint"
    CONTEXT = "context"
    INPUT = "input file"
    EVENT = "event"
    STATE = "state"
    REDEEM_RETURN = "redeem and return"
    TIME = "time and ids"
    TESTS = "tests file"
    RUN = "run"
    STORE = "store"
    USAGE = "command line"
    SERVICE = "HTTP service"


# The stages whose codes refuse an event (nothing of it applied): what a tests file may expect.
REFUSING_STAGES = frozenset({Stage.EVENT, Stage.STATE, Stage.REDEEM_RETURN, Stage.TIME})

# The exit status a command ends with when it reports a code (docs/cli.md, Conventions).
EXIT_PROBLEM = 1  # a problem in a program, an expression, an input, a store
EXIT_USAGE = 2  # the command line itself is wrong: click's convention for usage errors
EXIT_INTERRUPTED = 130  # Ctrl-C, as a shell reports SIGINT
EXIT_WARNING = 0  # warnings do not fail a command (`validate --strict` makes them exit 1)


@dataclass(frozen=True)
class Code:
    """One registered diagnostic code.

    Attributes:
        code: `RE` and three digits.
        title: what it means, in one line, for the index in docs/errors.md.
        stage: where in the pipeline it is found.
        docs: the section that documents it in detail, as `page.md#anchor` under docs/.
        severity: error or warning.
        exit_status: the status of a command that stops on it (a warning's does not stop one).
    """

    code: str
    title: str
    stage: Stage
    docs: str
    severity: Severity = Severity.ERROR
    exit_status: int = EXIT_PROBLEM


def _group(
    stage: Stage,
    docs: str,
    titles: dict[str, str],
    severity: Severity = Severity.ERROR,
    exit_status: int = EXIT_PROBLEM,
) -> list[Code]:
    return [Code(code, title, stage, docs, severity, exit_status) for code, title in titles.items()]


def _warnings(stage: Stage, docs: str, titles: dict[str, str]) -> list[Code]:
    return _group(stage, docs, titles, Severity.WARNING, EXIT_WARNING)


_PROGRAMS = "programs.md#what-validate-checks"
_DSL = "dsl.md#error-codes"
_EVENTS = "engine.md#events"
_REDEEM = "engine.md#points-over-time-redemptions-and-the-ledger"
_RETURNS = "engine.md#returns"
_STORES = "stores.md#migrations"
_TIME = "stores.md#time-and-event-ids"
_RUN = "cli.md#loyalty-run"
_CLI = "cli.md#conventions"
_SERVICE = "service.md#errors"
_TABLES = "simulate.md#the-column-mapping"
_SIMULATE = "simulate.md#gating-a-ci-job"

_ALL = (
    # -- RE1xx: program files (and tests files) ------------------------------------------------------
    *_group(
        Stage.YAML,
        _PROGRAMS,
        {
            "RE101": "not well-formed YAML, or YAML the loader refuses (a tag, a second document)",
            "RE102": "a key appears twice in one mapping",
            "RE103": "anchors, aliases and merge keys are not supported",
            "RE104": "the file is too large or nested too deeply, or a number is too long",
            "RE105": "a program or tests file cannot be read, or there is none",
            "RE106": "the file is not a mapping of fields",
        },
    ),
    *_group(
        Stage.STRUCTURE,
        _PROGRAMS,
        {
            "RE110": "the structure does not fit the schema in a way RE111–RE116 do not name",
            "RE111": "unknown field",
            "RE112": "missing field",
            "RE113": "wrong type: text where a number belongs …",
            "RE114": "a value not among the allowed ones",
            "RE115": "a badly written duration, date, rate, window, id, time of day or code",
            "RE116": "a number out of range, an empty list or text, a list too long",
        },
    ),
    *_group(
        Stage.MODEL,
        _PROGRAMS,
        {
            "RE117": "a rule of the format: one of rate/award/multiply, a schedule ending before it starts …",
            "RE123": "tier thresholds that decrease",
            "RE124": "two rules of one exclusive group with the same priority",
            "RE125": "an earn rule's award below zero",
            "RE126": "a currency that is not an ISO 4217 code",
            "RE129": "fields the engine could not honour together, refused rather than ignored",
            "RE130": "`next_best_offer` ranks by expected value, but an offer has no `expected_value`",
            "RE131": "quiet hours that start when they end",
            "RE132": "a field nothing reads in this program: an offer's `expected_value` or `priority` "
            "without a `next_best_offer` that uses it, `max_delay` with nothing to wait for",
            "RE133": "a discount's or coupon's `amount` with more decimals than the currency has",
        },
    ),
    *_group(
        Stage.REFERENCES,
        _PROGRAMS,
        {
            "RE121": "a duplicate: an id, a test case's name, a rule listed twice",
            "RE122": "a name that must be defined is not: a badge, coupon, draw, rule, tier …",
        },
    ),
    *_warnings(
        Stage.LINT,
        _PROGRAMS,
        {
            "RE127": "a rule or reward that changes nothing (`multiply: 1`, `award: 0` …)",
            "RE128": "`points.value` is not set: the points liability cannot be valued",
        },
    ),
    # -- RE2xx: condition syntax and limits --------------------------------------------------------
    *_group(
        Stage.SYNTAX,
        _DSL,
        {
            "RE201": "unexpected character or word",
            "RE202": "text is never closed",
            "RE203": "an operator or `.` with nothing after it",
            "RE204": "a bracket is never closed, or closes nothing",
            "RE205": "chained comparison",
            "RE206": "unknown escape in text",
            "RE207": "empty expression",
            "RE210": "expression longer than 4000 characters",
            "RE211": "expression nested more than 120 levels deep",
            "RE212": "number with more than 30 digits, or a duration out of range",
            "RE213": "more than 3 nested any/all/count/sum/min/max",
        },
    ),
    # -- RE3xx: names and types --------------------------------------------------------------------
    *_group(
        Stage.TYPES,
        _DSL,
        {
            "RE301": "unknown name",
            "RE302": "unknown attribute",
            "RE303": "values of different types compared or searched, or ordered though they have no order",
            "RE304": "true/false needed, or ordering against a literal null",
            "RE305": "operator not defined for these types",
            "RE306": "a condition that is not true/false, or an amount that is not a number",
            "RE307": "unknown function",
            "RE308": "a list function without `for`, or `for` with a function that is not one",
            "RE309": "wrong number or types of arguments",
            "RE310": "invalid literal date, time or datetime",
            "RE311": "`for … in` something that is not a list",
        },
    ),
    *_warnings(
        Stage.LINT,
        _DSL,
        {"RE312": "a loop over the data inside another loop: the work grows as lines × lines"},
    ),
    # -- RE4xx: runtime input: contexts, files, events, states, redemptions, returns, time ---------
    *_group(
        Stage.CONTEXT,
        _DSL,
        {
            "RE401": "a context is not a JSON object",
            "RE402": "the expression reads an object the context does not have",
            "RE403": "unknown top-level object in the context",
            "RE404": "a field in the context is missing or has the wrong type",
            "RE405": "the context file cannot be read or is not JSON we accept",
        },
    ),
    *_group(
        Stage.EVENT,
        _EVENTS,
        {
            "RE410": "the event is malformed: a missing or unknown field, a bad value, a time without offset",
            "RE411": "the purchase's currency is not the program's",
            "RE412": "the state belongs to another customer",
            "RE413": "a custom attribute the program does not declare, or of the wrong type",
            "RE416": "an amount cannot be computed exactly (a result of more than 28 digits)",
            "RE417": "a date computed while processing the event falls outside the years 1 to 9999",
            "RE470": "loops inside loops went past 1,000,000 steps for one event: it is refused",
        },
    ),
    *_group(
        Stage.INPUT,
        "cli.md#loyalty-dry-run",
        {"RE414": "an event, state or events file cannot be read, or is not JSON we accept"},
    ),
    *_group(Stage.STATE, _EVENTS, {"RE420": "a malformed state snapshot"}),
    *_group(
        Stage.REDEEM_RETURN,
        _REDEEM,
        {
            "RE430": "a redemption needs more points than are available",
            "RE431": "a redemption names no catalog item of the program",
            "RE456": "a redemption of a catalog item whose `stock` is all redeemed",
        },
    ),
    *_group(
        Stage.REDEEM_RETURN,
        "engine.md#paying-with-points",
        {
            "RE438": "`paid_with_points` the purchase cannot take: more than it costs, not a whole "
            "number of points at the program's point value, or a program without `points.value`",
            "RE439": "`paid_with_points` needs more points than the customer has available",
        },
    ),
    *_group(
        Stage.REDEEM_RETURN,
        "service.md#support-desk-adjustments",
        {
            "RE432": "a debit adjustment of more points than the customer can spend now",
            "RE448": "an adjustment of a fraction of a point (a program's points are whole)",
            "RE449": "an adjustment of more than 15 whole digits",
        },
    ),
    *_group(
        Stage.REDEEM_RETURN,
        "service.md#support-desk-voiding-an-event",
        {
            "RE446": "a void refused: later events depend on the event, or what it did cannot be undone",
            "RE447": "a void names no event the store applied for the customer",
        },
    ),
    *_group(
        Stage.REFERENCES,
        "service.md#support-desk-bulk-coupon-codes",
        {"RE444": "bulk coupon codes asked for a coupon the program does not define"},
    ),
    *_group(
        Stage.INPUT,
        "service.md#support-desk-bulk-coupon-codes",
        {
            "RE445": "bulk coupon codes: a count or prefix out of range, or an import with bad, "
            "repeated or existing codes"
        },
    ),
    *_group(
        Stage.REDEEM_RETURN,
        _RETURNS,
        {
            "RE433": "a return of more than was bought, or of a sku that is not in the purchase",
            "RE436": "a return dated before the purchase it names",
            "RE437": "a return naming a purchase this customer never made",
        },
    ),
    *_group(Stage.REFERENCES, "cli.md#loyalty-draw", {"RE434": "`draw --draw` names no draw of the program"}),
    *_group(
        Stage.TIME,
        "cli.md#loyalty-draw",
        {"RE451": "`draw --db` before the draw's entries are final (its closing day or late window open)"},
    ),
    *_group(
        Stage.REFERENCES,
        "cli.md#loyalty-leaderboard",
        {"RE435": "`leaderboard --id` names no leaderboard of the program"},
    ),
    *_group(
        Stage.USAGE,
        "cli.md#loyalty-leaderboard",
        {"RE717": "`leaderboard --at` falls in a window the customers' states no longer keep activity for"},
        exit_status=EXIT_USAGE,
    ),
    *_group(
        Stage.TIME,
        _EVENTS,
        {"RE440": "the event is dated before the customer's latest event (or advance)"},
    ),
    *_group(
        Stage.TIME,
        _TIME,
        {
            "RE441": "the event is dated beyond the horizon",
            "RE442": "`advance`, or a desk's adjustment or void, dated beyond the horizon",
            "RE443": "an event id applied before, with a different payload",
        },
    ),
    *_group(
        Stage.TESTS, "cli.md#loyalty-test", {"RE450": "a file a tests file names lies outside its folder"}
    ),
    *_group(
        Stage.RUN,
        _RUN,
        {"RE460": "the run was interrupted (Ctrl-C)"},
        Severity.WARNING,
        EXIT_INTERRUPTED,
    ),
    *_group(
        Stage.RUN,
        _RUN,
        {
            "RE461": "the `--problems` or `--state-out` file cannot be written",
            "RE462": "a worker process of `run --workers` ended unexpectedly: the run stopped at its line",
        },
    ),
    *_group(
        Stage.INPUT,
        _TABLES,
        {
            "RE480": "a transaction table's value cannot be read: an empty id, a number or time that is "
            "not one (row and column named)",
            "RE481": "a transaction table cannot be read (not CSV with a header line, nor Parquet)",
        },
    ),
    *_warnings(
        Stage.INPUT,
        _TABLES,
        {"RE482": "a returned line of a transaction table that no earlier purchase has: skipped"},
    ),
    # -- RE5xx: lint warnings (`validate`; they fail it only with --strict) --------------------------
    *_warnings(
        Stage.LINT,
        _PROGRAMS,
        {
            "RE501": "a schedule wholly in the past",
            "RE502": "a condition that is always false",
            "RE503": "two tiers with the same threshold",
            "RE504": "a multiplier or per-item award with no cap and no budget",
            "RE505": "messages are sent but there is no frequency cap",
            "RE506": "a rule that can never apply: a higher-priority rule of its group always does",
            "RE507": "a fixed-amount discount or coupon with `applies_to` and no `per`: once per line, "
            "whatever the quantity",
            "RE508": "points rounded per rule (`points.round: per_rule`) where a multiplier multiplies them: "
            "each part is rounded alone (×2 on 15.6 points gives 30, not 31)",
            "RE509": "tiers on a calendar window without `hold`: a tier reached in one period is kept "
            "through the whole next one",
            "RE512": "part of a condition that contradicts itself (`x > 100 and x < 50`)",
            "RE513": "a condition that can never hold given the tiers, the rule's events or its schedule",
            "RE514": "a schedule with no day in it: its dates hold none of its weekdays",
            "RE515": "multipliers that can apply to the same event with nothing capping their product",
            "RE516": "a rule of an exclusive group that never applies: a higher-priority rule's "
            "condition covers its own",
        },
    ),
    *_warnings(
        Stage.LINT,
        _PROGRAMS,
        {
            "RE510": "a catalog item with `stock: 0`: it can never be redeemed",
            "RE511": "a referral with no `limit` and no `fraud.velocity`: a referrer's rewards have no bound",
        },
    ),
    # -- RE6xx: stores -------------------------------------------------------------------------------
    *_group(
        Stage.STORE,
        _STORES,
        {
            "RE601": "the store cannot be opened or reached, or there is no database at the path",
            "RE602": "the database has a store's tables but is not a store of this engine",
            "RE603": "the database has a newer schema version than this engine knows",
            "RE604": "the store was opened for another program than the engine runs",
            "RE605": "the database failed during an event; nothing of the event was written",
            "RE606": "a customer the store does not know (`loyalty customer`, the service's customer routes)",
            "RE608": "the database holds only other programs' customers",
            "RE609": "the database cannot be read without writing to it",
        },
    ),
    *_group(
        Stage.STORE,
        "stores.md#program-versions",
        {
            "RE611": "a program version the store ran before with other content",
            "RE612": "a program version older than one the store ran, without `--allow-downgrade`",
            "RE613": "a program removes a tier the store's customers hold, and has no `removed_tiers`",
        },
    ),
    *_group(
        Stage.STORE,
        "service.md#api-keys",
        {"RE610": "`loyalty keys revoke` names no key of the database, or one revoked before"},
    ),
    *_warnings(
        Stage.STORE,
        _STORES,
        {"RE607": "a qualifying referral names a code no customer of the store has"},
    ),
    # -- RE7xx: the command line's own usage problems ------------------------------------------------
    *_group(
        Stage.USAGE,
        _CLI,
        {
            "RE701": "an option is not a date: `validate --today`, `ledger export --from` or `--to`",
            "RE702": "an option is not a moment with its offset in the years 1900 to 2999: `--now`, "
            "`advance --to`, `leaderboard --at`",
            "RE703": "`--horizon` is not a duration, nor `none`, or is longer than 3650d",
            "RE704": "`check --timezone` names no IANA time zone",
            "RE706": "`ledger export --from` is after `--to`",
            "RE707": "`draw` and `leaderboard` take a states file or `--db`: one of them, not both",
            "RE708": "`run --problems` or `--state-out` names the events file, which it would overwrite",
            "RE709": "`serve` given options it cannot use together, `adjust --points` not a number",
        },
        exit_status=EXIT_USAGE,
    ),
    *_group(
        Stage.USAGE,
        _RUN,
        {"RE710": "`run --workers` above 1 without a store the workers share (`--db` SQLite or PostgreSQL)"},
        exit_status=EXIT_USAGE,
    ),
    *_group(
        Stage.USAGE,
        _SIMULATE,
        {
            "RE711": "`simulate --fail-if` is not a gate (FIGURE OPERATOR VALUE)",
            "RE712": "`simulate --fail-if` names a figure the report does not have",
            "RE713": "`simulate --fail-if` gives a percent without `--compare`",
        },
        exit_status=EXIT_USAGE,
    ),
    *_group(
        Stage.USAGE,
        _TABLES,
        {
            "RE714": "`simulate`'s column mapping: a bad `--column` or `--mapping`, or a column the "
            "table lacks",
        },
        exit_status=EXIT_USAGE,
    ),
    *_group(
        Stage.USAGE,
        "cli.md#loyalty-simulate",
        {"RE715": "`simulate --point-value` is not a number, or `generate --start` not a date"},
        exit_status=EXIT_USAGE,
    ),
    *_group(
        Stage.USAGE,
        "simulate.md#the-html-report",
        {"RE716": "`simulate --html` names a file that cannot be written, or the history itself"},
        exit_status=EXIT_USAGE,
    ),
    # -- RE8xx: the HTTP service's own refusals (docs/service.md) -------------------------------------
    *_group(
        Stage.SERVICE,
        _SERVICE,
        {
            "RE801": "no API key, or one the store does not know or has revoked (HTTP 401)",
            "RE802": "the API key lacks the scope, or is limited to other programs (HTTP 403)",
            "RE803": "no program of this id runs in the service (HTTP 404)",
            "RE804": "the request body is larger than the service takes (HTTP 413)",
            "RE805": "the request body is not what the route takes: not JSON, not UTF-8, not an object",
            "RE806": "a program upload whose version is not above the running one (HTTP 409)",
            "RE807": "a query or path parameter out of range, or a program upload for another id",
            "RE808": "no such route, or a method the route does not take (HTTP 404, 405)",
            "RE809": "the service failed unexpectedly: nothing is shown but the request id (HTTP 500)",
            "RE810": "the service is shutting down or its store does not answer (HTTP 503)",
            "RE811": "the request did not arrive whole in time (HTTP 408)",
        },
    ),
    *_group(
        Stage.RUN,
        "cli.md#loyalty-draw",
        {"RE452": "`draw --db` with another seed than the one its recorded result was drawn with"},
    ),
    *_group(
        Stage.USAGE,
        "cli.md#loyalty-keys",
        {"RE718": "`keys create --program` is not a program id (lower case letters, digits, `-`, `_`)"},
        exit_status=EXIT_USAGE,
    ),
)


def _index(entries: tuple[Code, ...]) -> Mapping[str, Code]:
    index: dict[str, Code] = {}
    for entry in sorted(entries, key=lambda entry: entry.code):
        if entry.code in index:
            raise ValueError(f"{entry.code} is registered twice: one code, one meaning")
        index[entry.code] = entry
    return MappingProxyType(index)


CODES: Mapping[str, Code] = _index(_ALL)
"""Every code in use, by its text, in code order."""

RETIRED: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "RE406": ("an unknown `check --timezone`", "RE704"),
        "RE407": ("`validate --today` not a date", "RE701"),
        "RE415": ("a bad option of `run`, `advance`, `ledger export`, `draw`", "RE701–RE703, RE706, RE707"),
        "RE705": ("`ledger export --format` neither csv nor json", "none: click checks the choice"),
    }
)
"""Codes no longer given: what each meant and the codes that replaced it ("none: …" when the
problem is no longer ours to report). They are never reused."""


def exit_status(codes: Iterable[str]) -> int:
    """The exit status of a command that stops on these codes: the most specific error's, so a
    usage problem (2) wins over the generic 1; 0 when there are only warnings."""
    entries = [CODES[code] for code in codes]
    errors = [entry.exit_status for entry in entries if entry.severity is Severity.ERROR]
    return max(errors or [entry.exit_status for entry in entries] or [EXIT_WARNING])
