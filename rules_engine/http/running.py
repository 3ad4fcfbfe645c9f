"""The programs a service runs: one YAML file each in the program folder, replaced atomically.

At start every program file of the folder (`*.yaml`, not `*.tests.yaml`) is loaded and checked;
a service never starts with a program that has an error. A request takes the program's current
`Running` once and decides with it from start to end, so a swap in the middle changes nothing
for it.

An upload (`replace`) is validated first: a program with an error is refused with every problem,
and the running version keeps running. A valid one must have a higher `version` than the running
one (the ledger records versions: two different programs under one number would blur the books),
unless it is the same text (then nothing changes). It is written to a temporary file beside the
program's file, flushed, and renamed over it (`os.replace`, atomic on POSIX), then swapped in.

Several worker processes each hold their programs: a worker that took the upload swaps at once;
the others see that the file changed (its inode, size and time) on their next request for that
program and load it, with the same checks. Uploads of a program take turns across the workers (an
exclusive `flock` on `.<file>.lock` beside the program's file), and each first loads the file as
another worker may have left it: two uploads of one version at once, each to another worker, were
both accepted and run, one in each worker, until 2026-12-07. A file edited by hand that has an
error is logged and ignored: the running version keeps running there too. Several machines need
the folder on a shared volume, or the upload sent to each of them (docs/service.md).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from rules_engine.engine.evaluator import Engine
from rules_engine.errors import Diagnostic, ProgramError, StoreError, quoted
from rules_engine.http.problems import ServiceError
from rules_engine.program.compile import CompiledProgram
from rules_engine.program.model import Program
from rules_engine.program.validate import Validation, validate_text

log = logging.getLogger("rules_engine.http")


def _nothing(program: str, result: str) -> None:
    pass


def _unguarded(program: Program) -> None:
    pass


Signature = tuple[int, int, int]
"""A file's (inode, size, modification time in ns): it changes when the file is replaced."""


@dataclass(frozen=True)
class Running:
    """One program as the service runs it."""

    engine: Engine
    path: Path
    digest: str
    """`sha256:<hex>` of the file's text: the running version's content hash."""
    loaded_at: dt.datetime
    signature: Signature
    warnings: tuple[Diagnostic, ...] = ()

    @property
    def program(self) -> str:
        return self.engine.program.program

    @property
    def version(self) -> int:
        return self.engine.program.version


@dataclass
class Programs:
    """The programs of one folder, by id; see the module docstring."""

    folder: Path
    secret: bytes = b""
    _running: dict[str, Running] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ignored: dict[str, Signature] = field(default_factory=dict)
    on_reload: Callable[[str, str], None] = _nothing
    """Told (program, `replaced` or `refused`) of every upload and reload: the metrics count them."""
    guard: Callable[[Program], None] = _unguarded
    """Checks a new version against the versions the store ran before it runs (the version guard,
    store/versions.py), raising StoreError RE611–RE613; the runtime sets it."""

    @classmethod
    def load(cls, folder: Path, secret: bytes = b"") -> Programs:
        """Every program of the folder.

        Raises:
            ProgramError: a file has errors (all of them, each file's), two files hold one
                program id, or the folder has no program.
        """
        programs = cls(folder, secret)
        problems: list[Diagnostic] = []
        files = sorted(p for p in folder.glob("*.yaml") if not p.name.endswith(".tests.yaml"))
        for path in files:
            try:
                running = programs._read(path)
            except ProgramError as error:
                problems += error.diagnostics
                continue
            if running.program in programs._running:
                other = programs._running[running.program].path.name
                problems.append(
                    Diagnostic("RE121", f"{path.name}: program {running.program} is also in {other}")
                )
            programs._running[running.program] = running
        if not files:
            problems.append(Diagnostic("RE105", f"no program file (*.yaml) in {folder}"))
        if problems:
            raise ProgramError(problems)
        return programs

    def ids(self) -> list[str]:
        return sorted(self._running)

    def get(self, program: str) -> Running:
        """The program's running version (reloaded first if another worker replaced its file).

        Raises:
            ServiceError: RE803, no such program.
        """
        running = self.held(program)
        signature = self._changed(running)
        return running if signature is None else self._reload(running, signature)

    def changed(self, program: str) -> bool:
        """Whether another worker replaced the program's file since this one loaded it (`get`
        loads it; a file that could not run is not news twice)."""
        return self._changed(self.held(program)) is not None

    def _changed(self, running: Running) -> Signature | None:
        try:
            signature = _signature(running.path)
        except OSError:
            return None  # the file went away: keep what runs
        if signature != running.signature and self._ignored.get(running.program) != signature:
            return signature
        return None

    def held(self, program: str) -> Running:
        """The program's running version as this worker holds it, its file not looked at: for the
        events that join a group holding the store (shortcut.py), where loading a file another
        worker replaced — checked against the store (the guard) on a connection the group may
        hold — could not be done.

        Raises:
            ServiceError: RE803, no such program.
        """
        running = self._running.get(program)
        if running is None:
            raise ServiceError(
                "RE803",
                f"no program {quoted(program)} runs here",
                hint=f"programs: {', '.join(self.ids()) or 'none'}",
            )
        return running

    def _reload(self, running: Running, signature: Signature) -> Running:
        with self._lock:
            current = self._running[running.program]
            if current.signature == signature:
                return current  # another thread reloaded it meanwhile
            try:
                loaded = self._read(current.path)
                if loaded.program == running.program and loaded.version >= current.version:
                    self.guard(loaded.engine.program)
            except (ProgramError, StoreError, OSError) as error:
                self._ignored[running.program] = signature
                log.warning(
                    "program file %s changed but cannot run (%s): version %s keeps running",
                    current.path.name,
                    error,
                    current.version,
                )
                self.on_reload(running.program, "refused")
                return current
            if loaded.program != running.program or loaded.version < current.version:
                self._ignored[running.program] = signature
                log.warning(
                    "program file %s now holds %s version %s: ignored, version %s keeps running",
                    current.path.name,
                    loaded.program,
                    loaded.version,
                    current.version,
                )
                self.on_reload(running.program, "refused")
                return current
            self._running[running.program] = loaded
            self.on_reload(running.program, "replaced")
            return loaded

    def replace(self, program: str, text: str) -> tuple[Running, bool]:
        """Validate an uploaded version and swap it in; (what runs now, whether it changed).

        Raises:
            ServiceError: RE803 no such program, RE807 the text is another program's, RE806 its
                version is not above the running one.
            StoreError: the store ran this version with other content (RE611), or a newer one
                (RE612), or customers hold a tier it removes without `removed_tiers` (RE613).
            ProgramError: the text has errors (all of them); the running version keeps running.
        """
        current = self.get(program)
        digest = _digest(text)
        if digest == current.digest:
            return current, False
        name = current.path.name
        validation = validate_text(text, name)
        if validation.errors or validation.program is None:
            self.on_reload(program, "refused")
            raise ProgramError(validation.errors)
        uploaded = validation.program
        if uploaded.program != program:
            self.on_reload(program, "refused")
            raise ServiceError(
                "RE807",
                f"the uploaded program is {uploaded.program!r}, the path names {program!r}",
                hint="upload it to /v1/programs/" + uploaded.program,
            )
        with _one_upload_at_a_time(current.path):
            current = self.get(program)  # as another worker's upload may have left the file
            if digest == current.digest:
                return current, False
            with self._lock:
                return self._swap(program, uploaded, validation, text)

    def _swap(
        self, program: str, uploaded: Program, validation: Validation, text: str
    ) -> tuple[Running, bool]:
        """`replace`'s checks against the running version and the store, the file written and the
        upload swapped in (holding `_lock` and the upload's turn)."""
        current = self._running[program]
        if uploaded.version <= current.version:
            self.on_reload(program, "refused")
            raise ServiceError(
                "RE806",
                f"the uploaded version {uploaded.version} is not above the running version "
                f"{current.version}; {current.version} keeps running",
                hint=f"set `version: {current.version + 1}`: the ledger records which version gave "
                "each point",
            )
        try:
            self.guard(uploaded)
        except StoreError:
            self.on_reload(program, "refused")
            raise
        _write_atomically(current.path, text)
        running = self._running_from(validation, current.path, text)
        self._running[program] = running
        self.on_reload(program, "replaced")
        log.info("program %s version %s replaced version %s", program, running.version, current.version)
        return running, True

    def _read(self, path: Path) -> Running:
        signature = _signature(path)
        text = path.read_text(encoding="utf-8")
        validation = validate_text(text, path.name)
        if validation.errors or validation.program is None:
            raise ProgramError(validation.errors)
        return self._running_from(validation, path, text, signature)

    def _running_from(
        self, validation: Validation, path: Path, text: str, signature: Signature | None = None
    ) -> Running:
        assert validation.program is not None
        compiled = CompiledProgram.from_sites(validation.program, validation.expressions)
        return Running(
            engine=Engine(compiled, secret=self.secret),
            path=path,
            digest=_digest(text),
            loaded_at=dt.datetime.now(dt.UTC),
            signature=signature or _signature(path),
            warnings=tuple(validation.warnings),
        )


def _digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _signature(path: Path) -> Signature:
    stat = path.stat()
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


@contextmanager
def _one_upload_at_a_time(path: Path) -> Iterator[None]:
    """The program's upload turn among the worker processes: an exclusive `flock` on a file beside
    the program's (hidden, never loaded; it holds nothing and may be deleted while no service runs)."""
    with open(path.parent / f".{path.name}.lock", "a") as turn:
        fcntl.flock(turn, fcntl.LOCK_EX)  # released when the file is closed
        yield


def _write_atomically(path: Path, text: str) -> None:
    """Write `text` to a temporary file beside `path`, flush it to disk, rename it over `path`."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".upload", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
