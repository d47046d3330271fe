"""JSON Lines on stdin for the batch commands (``veille match``, ``veille analyze``): bounded
line reading, one decoded item per good line, and a numbered message on stderr for each bad
line, which is skipped so that the rest of the stream is still processed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO, Final, Generic, TypeVar

import click
import msgspec

MAX_LINE_BYTES: Final = 1 << 20
T = TypeVar("T")


def iter_lines(stream: BinaryIO) -> Iterator[tuple[int, bytes | None]]:
    """Yield ``(line number, bytes)``; a line over the bound yields ``None`` (and is skipped)."""
    number = 0
    while True:
        line = stream.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        number += 1
        if len(line) > MAX_LINE_BYTES:
            while not line.endswith(b"\n"):  # drop the rest of the oversized line
                line = stream.readline(MAX_LINE_BYTES)
                if not line:
                    break
            yield number, None
            continue
        yield number, line


class JsonLines(Generic[T]):
    """The items of a JSON Lines stream decoded as ``item_type``; blank lines are ignored, bad ones
    (too long, invalid JSON, wrong fields) reported on stderr with their number and counted
    in :attr:`bad`."""

    def __init__(self, stream: BinaryIO, item_type: type[T], what: str = "post") -> None:
        self.stream = stream
        self.decoder = msgspec.json.Decoder(item_type)
        self.what = what
        self.bad = 0

    def _skip(self, number: int, reason: str) -> None:
        click.echo(f"line {number}: {reason}", err=True)
        self.bad += 1

    def __iter__(self) -> Iterator[T]:
        for number, line in iter_lines(self.stream):
            if line is None:
                self._skip(number, f"longer than {MAX_LINE_BYTES} bytes, skipped")
            elif line.strip():
                try:
                    yield self.decoder.decode(line)
                except msgspec.DecodeError as exc:
                    self._skip(number, f"invalid {self.what}: {exc}")

    def exit_if_bad(self) -> None:
        """Exit with status 1 when any line was bad (after the good ones were processed)."""
        if self.bad:
            raise SystemExit(1)
