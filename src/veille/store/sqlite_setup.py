"""SQLite's process-wide settings, applied before SQLite starts in this process.

SQLite keeps memory statistics by default: every allocation and free takes a global mutex to
count itself, ~29 of each per stored post (callgrind). veille never reads those statistics (nor
sets a heap limit), and turning them off spares ~6,000 machine instructions per stored post
(callgrind, docs/benchmarks.md). SQLite takes such settings only before it initialises, which
Python's ``sqlite3`` module does on import: this module is imported first by
:mod:`veille.store.engine`, before it imports ``sqlite3``. When something imported ``sqlite3``
earlier, SQLite refuses the setting and keeps its defaults; nothing else changes.
"""

from __future__ import annotations

import ctypes
import sys
from typing import Final

_CONFIG_MEMSTATUS: Final = 9
"""``SQLITE_CONFIG_MEMSTATUS`` of sqlite3.h."""
_LIBRARY: Final = "libsqlite3.so.0"
"""The shared library Python's ``_sqlite3`` links to on Linux (Debian's package)."""


def memory_statistics_off() -> bool:
    """Turn SQLite's memory statistics off; ``True`` when SQLite took the setting."""
    if "_sqlite3" in sys.modules:
        return False  # initialised already: SQLite would refuse
    try:
        library = ctypes.CDLL(_LIBRARY)
    except OSError:  # another system, or a Python with SQLite built in: keep the defaults
        return False
    return int(library.sqlite3_config(_CONFIG_MEMSTATUS, ctypes.c_int(0))) == 0


MEMORY_STATISTICS_OFF: Final = memory_statistics_off()
"""Whether this process runs SQLite without memory statistics."""
