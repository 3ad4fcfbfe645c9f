"""Time zones named by outside input: a program's `timezone`, a signup's, a state's profile, an option.

`ZoneInfo(name)` is not safe on any text. Besides the errors every caller expects (no such zone,
a folder such as `Europe`, a name too long for the file system), a name with many slashes makes
it import `tzdata.zoneinfo.A.A.A…` one package within another, and past about 200 of them that
is a RecursionError: `timezone: A/A/…/B` in a program made `validate` print a traceback. No IANA
name is longer than 32 characters, so a longer one than `MAX_NAME` is refused before it is looked
up.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MAX_NAME = 64
"""The longest time zone name looked up: twice the longest IANA name (America/Argentina/ComodRivadavia)."""


def zone_named(name: str) -> ZoneInfo | None:
    """The time zone `name` names on this machine, or None when it names none."""
    if len(name) > MAX_NAME:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # `Europe` is a folder of zones
        return None
