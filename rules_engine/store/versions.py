"""The version guard: a store remembers each program version it ran, by content, and refuses a
program that would blur what its ledger says.

Every ledger entry names the program version that booked it, so a version number must mean one
program. Opening a store with a program to write (`loyalty run`, `advance`, the desk commands,
`loyalty serve`, the service's program upload) first checks it against the versions the store
recorded (`program_versions`, schema 9):

- the same version with other content is refused (RE611), naming both content hashes: a changed
  program needs a new `version:`;
- a version older than the newest the store ran is refused (RE612) unless the caller allows a
  downgrade (`--allow-downgrade`): going back is sometimes meant (a bad release), never by accident;
- a version without a tier some of the store's customers hold is refused (RE613) unless its
  `tiers` say where they go (`removed_tiers: {move_to: …}`; the engine moves each of them at their
  next event or `advance`, with that reason in the trace).

Then the version is recorded (the first record of a number stands). The content hash is of the
program as validated, not of its file: comments and layout are not content. It covers the fields
the author wrote, not the defaults the engine fills in: a later release of the engine that adds an
option (with a default) must not make every store refuse every unchanged program as "other
content". Records written before this (2026-12-02), whose hash covered the defaults too, are
accepted when they match that older hash, and rewritten to the new one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json

from rules_engine.errors import Diagnostic, StoreError
from rules_engine.program.model import Program
from rules_engine.store.base import ProgramVersion, Store


def program_digest(program: Program) -> str:
    """`sha256:<hex>` of the program's content: the fields its author set, as validated, in a
    canonical JSON (the module docstring: not the defaults)."""
    return _sha256(program.model_dump(mode="json", exclude_unset=True))


def _legacy_digest(program: Program) -> str:
    """The hash version records had before 2026-12-02 afternoon: every field, defaults included."""
    return _sha256(program.model_dump(mode="json"))


def _sha256(content: object) -> str:
    text = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def short(digest: str) -> str:
    """A content hash as messages show it: `sha256:` and 12 hex digits."""
    return digest[:19]


def check_version(store: Store, program: Program, at: dt.datetime, *, allow_downgrade: bool = False) -> None:
    """Check `program` against the versions `store` ran (the module docstring), then record it.

    Raises:
        StoreError: RE611, RE612 or RE613 (every one that applies); nothing was recorded.
    """
    digest = program_digest(program)
    known = {kept.version: kept for kept in store.versions()}
    problems: list[Diagnostic] = []
    same = known.get(program.version)
    name = f"program {program.program} version {program.version}"
    if same is not None and same.digest != digest and same.digest == _legacy_digest(program):
        store.restate_version(same.version, same.digest, digest)  # the same content, hashed anew
        same = None
    if same is not None and same.digest != digest:
        problems.append(_other_content(store, name, digest, same, max(known)))
    newer = [number for number in known if number > program.version]
    if newer and not allow_downgrade:
        problems.append(
            Diagnostic(
                "RE612",
                f"{store.url}: {name} is older than version {max(newer)}, which this store ran: "
                "refused, nothing written",
                hint="use the newest program file; to go back on purpose (a bad release), pass "
                "--allow-downgrade (the service's upload never goes back: upload a new version)",
            )
        )
    problems += _removed_tiers(store, program)
    if problems:
        raise StoreError(problems)
    kept = store.add_version(ProgramVersion(program.version, digest, at))
    if kept.digest != digest:  # recorded meanwhile by another process: the first record stands
        raise StoreError([_other_content(store, name, digest, kept, max([*known, program.version]))])


def _other_content(store: Store, name: str, digest: str, same: ProgramVersion, newest: int) -> Diagnostic:
    return Diagnostic(
        "RE611",
        f"{store.url}: {name} has other content ({short(digest)}) than the version "
        f"{same.version} this store ran ({short(same.digest)}, first opened "
        f"{same.seen_at.date().isoformat()}): refused, nothing written",
        hint=f"a changed program needs a new number: set `version: {newest + 1}`; the ledger "
        "names the version that booked each point",
    )


def _removed_tiers(store: Store, program: Program) -> list[Diagnostic]:
    """RE613 for each tier the store's customers hold that the program no longer has, unless its
    `tiers.removed_tiers` says where they go."""
    tiers = program.tiers
    if tiers is None or tiers.removed_tiers is not None:
        return []
    levels = {level.id for level in tiers.levels}
    gone = {tier: count for tier, count in store.tiers_held().items() if tier not in levels}
    return [
        Diagnostic(
            "RE613",
            f"{store.url}: program {program.program} version {program.version} has no tier `{tier}`, "
            f"which {count} customer{'' if count == 1 else 's'} of this store hold: refused, nothing written",
            hint=f"say where they go: under `tiers:`, add `removed_tiers: {{move_to: {tiers.levels[0].id}}}` "
            "(any level), or keep the tier",
        )
        for tier, count in sorted(gone.items())
    ]
