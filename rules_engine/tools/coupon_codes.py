"""Bulk coupon codes: N unique codes for one of the program's coupons (flyers, partners,
newsletters), or codes imported from a CSV file, kept in the store and exported as CSV.

A bulk code belongs to no customer until one presents it with a purchase: the service then claims
it for that customer in the event's transaction (`CustomerTransaction.claim_code`) and hands the
engine the coupon as issued to them at that moment (`valid_for` runs from there), so the engine's
own rules decide — percent or amount, `applies_to`, `min_spend`, single use. A code claimed by one
customer is no coupon for another (the engine answers `coupon_invalid`: no such coupon).

Generated codes are drawn with `secrets` from 31 letters and digits that cannot be misread (no
0/O, 1/I/L): 10 of them make about 50 bits, so guessing one code of a million printed takes
about a billion tries. Imported codes are taken as they are (upper-cased), 4 to 64 of A–Z, 0–9
and `-`.
"""

from __future__ import annotations

import csv
import datetime as dt
import difflib
import io
import re
import secrets
from collections.abc import Sequence

from rules_engine.errors import Diagnostic, EventError, quoted
from rules_engine.program.model import Program
from rules_engine.store.base import CouponCode, Store

ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
LENGTH = 10
MAX_COUNT = 100_000
"""The most codes one call generates (a larger run: call again)."""
_CODE = re.compile(r"[A-Z0-9][A-Z0-9-]{3,63}")
CSV_COLUMNS = ("code", "coupon", "batch", "created_at", "claimed_at")


def normalized(code: str) -> str:
    """A code as stored and compared: without surrounding spaces, upper case (as a till types it)."""
    return code.strip().upper()


def new_codes(count: int, *, prefix: str = "", length: int = LENGTH) -> list[str]:
    """`count` distinct random codes, each `prefix` + `length` characters of `ALPHABET`."""
    drawn: set[str] = set()
    codes: list[str] = []
    while len(codes) < count:
        code = normalized(prefix) + "".join(secrets.choice(ALPHABET) for _ in range(length))
        if code not in drawn:
            drawn.add(code)
            codes.append(code)
    return codes


def check_request(count: int, prefix: str) -> None:
    """Raise RE445 for a count out of 1–MAX_COUNT or a prefix that would make malformed codes."""
    problems = []
    if not 1 <= count <= MAX_COUNT:
        problems.append(
            Diagnostic(
                "RE445", f"count {count}: generate 1 to {MAX_COUNT:,} codes at a time", path=("count",)
            )
        )
    if prefix and not re.fullmatch(r"[A-Z0-9][A-Z0-9-]{0,31}", normalized(prefix)):
        problems.append(
            Diagnostic(
                "RE445", f"prefix {quoted(prefix)}: letters, digits and '-' only, up to 32", path=("prefix",)
            )
        )
    if problems:
        raise EventError(problems)


def read_csv(text: str) -> list[str]:
    """The codes of an import: the `code` column of a CSV file with a header naming it, or else the
    first column of every row. Every malformed or repeated code is reported (RE445), with its row.
    A byte order mark before the first row is no part of it (Excel's "CSV UTF-8" writes one).

    Raises:
        EventError: RE445, every problem of the file; nothing is imported.
    """
    rows = [
        row
        for row in csv.reader(io.StringIO(text.removeprefix("\ufeff")))
        if any(cell.strip() for cell in row)
    ]
    column = 0
    first = 0
    if rows and "code" in [cell.strip().lower() for cell in rows[0]]:
        column = [cell.strip().lower() for cell in rows[0]].index("code")
        first = 1
    codes: list[str] = []
    seen: dict[str, int] = {}
    problems = []
    for number, row in enumerate(rows[first:], start=first + 1):
        code = normalized(row[column]) if column < len(row) else ""
        if not _CODE.fullmatch(code):
            problems.append(
                Diagnostic(
                    "RE445",
                    f"row {number}: {quoted(code)} is not a code: 4 to 64 letters, digits and '-'",
                    path=(number,),
                )
            )
        elif code in seen:
            problems.append(
                Diagnostic("RE445", f"row {number}: {code} again (row {seen[code]})", path=(number,))
            )
        else:
            seen[code] = number
            codes.append(code)
    if not codes and not problems:
        problems.append(
            Diagnostic("RE445", "the file has no codes", hint="one code per row, or a `code` column")
        )
    if problems:
        raise EventError(problems)
    return codes


def already_there(codes: Sequence[str]) -> EventError:
    """RE445 for codes an import would add that the store has already."""
    shown = ", ".join(codes[:10]) + (f" and {len(codes) - 10} more" if len(codes) > 10 else "")
    return EventError(
        [
            Diagnostic(
                "RE445",
                f"{len(codes)} code(s) exist already: {shown}; nothing was imported",
                hint="a code is one coupon's: leave them out of the file",
            )
        ]
    )


def to_csv(codes: Sequence[CouponCode]) -> str:
    """The codes as CSV, one per row (what a mailing or printing house imports)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for code in codes:
        claimed = "" if code.claimed_at is None else code.claimed_at.isoformat()
        writer.writerow([code.code, code.coupon, code.batch, code.created_at.isoformat(), claimed])
    return out.getvalue()


def check_coupon(program: Program, coupon: str) -> None:
    """Raise RE444 when the program defines no such coupon (with the nearest id as a hint)."""
    ids = [c.id for c in program.coupons]
    if coupon in ids:
        return
    near = difflib.get_close_matches(coupon, ids, n=1)
    hint = f"did you mean `{near[0]}`?" if near else f"the program's coupons: {', '.join(ids) or 'none'}"
    message = f"program {program.program} has no coupon {quoted(coupon)}"
    raise EventError([Diagnostic("RE444", message, hint=hint)])


def generate(
    store: Store, program: Program, coupon: str, count: int, *, batch: str, at: dt.datetime, prefix: str = ""
) -> list[str]:
    """Generate `count` new codes for the coupon and keep them; the codes.

    Raises:
        EventError: RE444 no such coupon; RE445 a count or prefix out of range.
    """
    check_coupon(program, coupon)
    check_request(count, prefix)
    for _ in range(5):  # a clash with a code kept before is rare: draw the batch again
        codes = new_codes(count, prefix=prefix)
        if not store.add_coupon_codes(coupon, batch, codes, at):
            return codes
    raise EventError(
        [Diagnostic("RE445", "could not draw codes that are not in use", hint="use a longer prefix")]
    )


def import_codes(
    store: Store, program: Program, coupon: str, text: str, *, batch: str, at: dt.datetime
) -> list[str]:
    """Keep the codes of a CSV file for the coupon, all or none; the codes.

    Raises:
        EventError: RE444 no such coupon; RE445 malformed, repeated or existing codes.
    """
    check_coupon(program, coupon)
    codes = read_csv(text)
    there = store.add_coupon_codes(coupon, batch, codes, at)
    if there:
        raise already_there(there)
    return codes
