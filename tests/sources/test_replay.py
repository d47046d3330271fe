import asyncio
import gzip
import subprocess
import sys
from pathlib import Path

import pytest

from veille.sources.base import Batch, Source
from veille.sources.replay import ReplayError, ReplaySource
from veille.testing import FakeClock


async def collect(source: ReplaySource, cursor: str | None = None) -> list[Batch]:
    return [batch async for batch in source.stream(cursor)]


def lines(n: int) -> bytes:
    return b"".join(b'{"id": %d}\n' % i for i in range(n))


def payloads(batches: list[Batch]) -> list[bytes]:
    return [item.payload for batch in batches for item in batch.items]


async def test_batches_end_at_byte_cursors_that_resume_exactly(tmp_path: Path) -> None:
    path = tmp_path / "posts.jsonl"
    path.write_bytes(lines(25))
    source = ReplaySource(path, batch_size=10, clock=FakeClock())
    assert isinstance(source, Source)
    batches = await collect(source)
    assert [len(b.items) for b in batches] == [10, 10, 5]
    assert batches[-1].cursor == str(path.stat().st_size)
    assert batches[0].items[0].origin == "line 1"
    assert batches[0].items[0].source == source.name
    resumed = await collect(source, batches[0].cursor)
    assert payloads(resumed) == payloads(batches)[10:]
    assert resumed[0].items[0].origin.startswith("byte ")
    assert await collect(source, batches[-1].cursor) == []


async def test_blank_lines_crlf_and_a_missing_final_newline(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_bytes(b'{"id": 1}\r\n\n   \n{"id": 2}')
    batches = await collect(ReplaySource(path))
    assert payloads(batches) == [b'{"id": 1}', b'{"id": 2}']
    assert [i.origin for i in batches[0].items] == ["line 1", "line 4"]
    assert batches[-1].cursor == str(path.stat().st_size)


async def test_over_long_lines_are_rejected_not_buffered(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    huge = b"x" * 2_000_000  # spans several read chunks
    path.write_bytes(b'{"id": 1}\n' + huge + b"\n" + b"y" * 300 + b'\n{"id": 2}\n')
    batches = await collect(ReplaySource(path, max_line_bytes=200))
    assert payloads(batches) == [b'{"id": 1}', b'{"id": 2}']
    rejected = [r for b in batches for r in b.rejected]
    assert [r.error.split(":")[0] for r in rejected] == ["line 2", "line 3"]
    assert all(r.stage == "source" and len(r.payload) <= 4096 for r in rejected)
    assert "longer than 200 bytes" in rejected[0].error
    assert batches[-1].items[-1].origin == "line 4"


async def test_gzip_file_resumes_on_uncompressed_offsets(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl.gz"
    path.write_bytes(gzip.compress(lines(30)))
    batches = await collect(ReplaySource(path, batch_size=7))
    assert len(payloads(batches)) == 30
    resumed = await collect(ReplaySource(path, batch_size=7), batches[1].cursor)
    assert payloads(resumed) == payloads(batches)[14:]


async def test_bad_cursors_and_missing_files_say_so(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_bytes(lines(2))
    with pytest.raises(ReplayError, match="not a byte offset"):
        await collect(ReplaySource(path), "abc")
    with pytest.raises(ReplayError, match="past the end"):
        await collect(ReplaySource(path), "999")
    with pytest.raises(ReplayError, match="no such file"):
        await collect(ReplaySource(tmp_path / "missing.jsonl"))


async def test_follow_tails_a_growing_file(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_bytes(lines(3))
    source = ReplaySource(path, follow=True, poll_seconds=0.01)
    stream = source.stream(None)
    first = await asyncio.wait_for(anext(stream), 1)
    assert len(first.items) == 3
    with path.open("ab") as f:
        f.write(b'{"id": 99}\n')
    second = await asyncio.wait_for(anext(stream), 1)
    assert payloads([second]) == [b'{"id": 99}']
    await stream.aclose()


async def test_pacing_spreads_a_replay_over_time(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_bytes(lines(20))
    loop = asyncio.get_running_loop()
    started = loop.time()
    batches = await collect(ReplaySource(path, rate=200))
    assert len(payloads(batches)) == 20
    assert loop.time() - started >= 0.08  # 20 posts at 200/s, minus the last batch


def test_stdin_pipe_and_redirected_file(tmp_path: Path) -> None:
    script = (
        "import asyncio\n"
        "from veille.sources.replay import ReplaySource\n"
        "async def main():\n"
        "    async for b in ReplaySource('-', batch_size=4).stream('10'):\n"
        "        print(len(b.items), b.cursor, flush=True)\n"
        "asyncio.run(main())\n"
    )
    data = lines(12)  # the first line is 10 bytes long: the cursor skips it
    path = tmp_path / "in.jsonl"
    path.write_bytes(data)
    with path.open("rb") as stdin:
        redirected = subprocess.run(
            [sys.executable, "-c", script], stdin=stdin, capture_output=True, check=True
        )
    piped = subprocess.run(
        [sys.executable, "-c", script], input=data, capture_output=True, check=True
    )
    for run in (piped, redirected):
        printed = [line.split() for line in run.stdout.decode().splitlines()]
        assert sum(int(count) for count, _ in printed) == 11
        assert printed[-1][1] == str(len(data))
