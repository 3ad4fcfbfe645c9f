"""API keys for the HTTP service: what a key may do, how it is made, kept and checked.

A key reads `lk_<id>_<secret>`. The id is public: it names the key in `loyalty keys list`, in
the service's logs and in the ledger entries an operator's adjustment books. The secret is 32
random bytes; the store keeps only its SHA-256 (`ApiKey.digest`), never the key itself, so a copy
of the database gives no working key. A fast hash is enough here: the secret is random, not a
password a person chose, so there is nothing to guess from its digest. A presented key is found
by its id and its digest compared with `hmac.compare_digest`, in constant time.

Keys belong to the database, not to one program: a key may be limited to some programs
(`programs`), and one without that limit works for every program the service runs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

SCOPES = ("events:write", "customers:read", "redemptions:write", "programs:write", "admin")
"""What a key may be allowed to do; `admin` allows everything."""

_TOKEN = re.compile(r"lk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")


@dataclass(frozen=True)
class ApiKey:
    """A key as the store keeps it: never the secret, only its digest."""

    id: str
    """The public part: `loyalty keys revoke ID`, the logs, an adjustment's ledger entry."""
    digest: str
    """SHA-256 of the secret, hex."""
    scopes: tuple[str, ...]
    """What it may do (`SCOPES`)."""
    programs: tuple[str, ...] = ()
    """The programs it works for; empty: every program."""
    created_at: dt.datetime | None = None
    revoked_at: dt.datetime | None = None
    """When it was revoked; a revoked key is refused."""

    def allows(self, scope: str, program: str | None = None) -> bool:
        """Whether the key may do `scope` (on `program`, when the action concerns one)."""
        if self.revoked_at is not None:
            return False
        if program is not None and self.programs and program not in self.programs:
            return False
        return "admin" in self.scopes or scope in self.scopes

    def matches(self, token: str) -> bool:
        """Whether `token` is this key, compared in constant time."""
        return self.matches_parsed(parse_token(token))

    def matches_parsed(self, parsed: tuple[str, str] | None) -> bool:
        """`matches` for a token `parse_token` already read (the service's key check reads it
        once a request: it needs the id first, to find the key)."""
        presented = _digest(parsed[1]) if parsed is not None and parsed[0] == self.id else ""
        return hmac.compare_digest(presented.encode(), self.digest.encode())


def new_key(
    scopes: Iterable[str], programs: Iterable[str] = (), *, now: dt.datetime | None = None
) -> tuple[str, ApiKey]:
    """A new key: the token to hand out once, and the record to store."""
    chosen = tuple(dict.fromkeys(scopes))
    unknown = [scope for scope in chosen if scope not in SCOPES]
    if unknown or not chosen:
        raise ValueError(f"unknown scope(s): {', '.join(unknown)}" if unknown else "a key needs a scope")
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    record = ApiKey(
        id=key_id,
        digest=_digest(secret),
        scopes=chosen,
        programs=tuple(dict.fromkeys(programs)),
        created_at=now or dt.datetime.now(dt.UTC),
    )
    return f"lk_{key_id}_{secret}", record


def parse_token(token: str) -> tuple[str, str] | None:
    """(id, secret) of a well-formed token, None for anything else."""
    match = _TOKEN.fullmatch(token)
    return None if match is None else (match.group(1), match.group(2))


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
