"""The shared JSON Lines reader of the batch commands."""

from __future__ import annotations

import io

import msgspec
import pytest

from veille.cli.jsonl import MAX_LINE_BYTES, JsonLines


class Item(msgspec.Struct):
    id: str


def test_good_lines_decode_bad_ones_are_numbered_and_skipped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = (
        b'{"id": "a"}\n'
        b"\n"
        b"not json\n"
        b'{"id": 3}\n'
        b'{"id": "' + b"x" * MAX_LINE_BYTES + b'"}\n'
        b'{"id": "b", "other": 1}'
    )
    lines = JsonLines(io.BytesIO(data), Item, what="item")
    assert [item.id for item in lines] == ["a", "b"]
    assert lines.bad == 3
    messages = capsys.readouterr().err.splitlines()
    assert messages[0].startswith("line 3: invalid item: ")
    assert messages[1].startswith("line 4: invalid item: Expected `str`")
    assert messages[2] == f"line 5: longer than {MAX_LINE_BYTES} bytes, skipped"
    with pytest.raises(SystemExit) as exit_:
        lines.exit_if_bad()
    assert exit_.value.code == 1


def test_clean_stream_does_not_exit() -> None:
    lines = JsonLines(io.BytesIO(b'{"id": "a"}\r\n{"id": "b"}\n'), Item)
    assert [item.id for item in lines] == ["a", "b"]
    lines.exit_if_bad()
