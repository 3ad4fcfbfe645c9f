"""Where text came from: source files, spans inside them, and origins of embedded expressions.

Every diagnostic points at a `Span` of a `SourceFile`. Conditions live inside YAML scalars, so
the condition language works in offsets local to the expression text and an `Origin` maps them
back into the file (a quoted scalar shifts by its quote and escapes, a block scalar by its
indentation). Columns are 1-based and count characters, never bytes or absolute offsets.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from functools import cached_property


@dataclass(frozen=True)
class SourceFile:
    """A named text: a program file, or `<expression>` for a condition typed on the command line."""

    name: str
    text: str
    first_line: int = 1
    """The line number of the text's first line: an excerpt of a larger file (one line of a
    stream too large to hold whole) still points at its place in the file."""

    @cached_property
    def _line_starts(self) -> tuple[int, ...]:
        starts = [0]
        starts.extend(i + 1 for i, ch in enumerate(self.text) if ch == "\n")
        return tuple(starts)

    def position(self, offset: int) -> tuple[int, int]:
        """The 1-based (line, column) of a character offset."""
        offset = max(0, min(offset, len(self.text)))
        index = bisect.bisect_right(self._line_starts, offset) - 1
        return index + self.first_line, offset - self._line_starts[index] + 1

    def offset(self, line: int, column: int) -> int:
        """The character offset of a 1-based (line, column)."""
        starts = self._line_starts
        index = max(1, min(line - self.first_line + 1, len(starts)))
        return min(starts[index - 1] + column - 1, len(self.text))

    def line_text(self, line: int) -> str:
        starts = self._line_starts
        index = line - self.first_line + 1
        if not 1 <= index <= len(starts):
            return ""
        end = starts[index] - 1 if index < len(starts) else len(self.text)
        return self.text[starts[index - 1] : end].rstrip("\r")


@dataclass(frozen=True)
class Span:
    """A half-open range of character offsets [start, end) in a source file."""

    file: SourceFile
    start: int
    end: int

    @property
    def line(self) -> int:
        return self.file.position(self.start)[0]

    @property
    def column(self) -> int:
        return self.file.position(self.start)[1]

    @property
    def end_line(self) -> int:
        return self.file.position(max(self.start, self.end - 1))[0]

    @property
    def end_column(self) -> int:
        """1-based column just past the last character on the span's last line."""
        _, column = self.file.position(max(self.start, self.end - 1))
        return column + 1 if self.end > self.start else column

    def __str__(self) -> str:
        return f"{self.file.name}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Origin:
    """Maps offsets in an expression's text to spans in the file that holds it.

    `offsets[i]` is the file offset of the expression's character `i` (one extra entry for the
    end). Without a table the expression sits verbatim at `base` — a plain one-line scalar, or
    an expression that is its own file.
    """

    file: SourceFile
    base: int = 0
    offsets: tuple[int, ...] | None = field(default=None, repr=False)

    @classmethod
    def standalone(cls, text: str, name: str = "<expression>") -> Origin:
        return cls(SourceFile(name, text))

    def file_offset(self, local: int) -> int:
        if self.offsets is None:
            return self.base + local
        if not self.offsets:
            return self.base
        return self.offsets[max(0, min(local, len(self.offsets) - 1))]

    def span(self, start: int, end: int) -> Span:
        file_start = self.file_offset(start)
        if end <= start:
            return Span(self.file, file_start, file_start)
        return Span(self.file, file_start, self.file_offset(end - 1) + 1)
