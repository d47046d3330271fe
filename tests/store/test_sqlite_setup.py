"""SQLite runs without memory statistics in a process where veille's store starts it, and with
its defaults (and no error) where something else started it first."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = """
import ctypes, sys
{before}
from veille.model import Post
from veille.store import Store
from veille.store.sqlite_setup import MEMORY_STATISTICS_OFF
with Store.open(sys.argv[1]) as store:
    store.write_batch([Post(platform="p", native_id="1", text="hello")])
    memory_used = ctypes.CDLL("libsqlite3.so.0").sqlite3_memory_used
    memory_used.restype = ctypes.c_int64
    used = memory_used()
    print(MEMORY_STATISTICS_OFF, used > 0, store.post("p", "1").post.text)
"""


@pytest.mark.parametrize(
    ("before", "expected"),
    [("", "True False hello"), ("import sqlite3", "False True hello")],
)
def test_memory_statistics_are_off_unless_sqlite_started_first(
    tmp_path: Path, before: str, expected: str
) -> None:
    url = f"sqlite:///{tmp_path / 'veille.db'}"
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(before=before), url],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert done.stdout.strip() == expected
