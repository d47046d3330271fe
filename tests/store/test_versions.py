"""Rule versions persist across restarts and follow the VersionRegistry contract."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from veille.rules import MemoryVersionRegistry, VersionRegistry
from veille.store import Store
from veille.testing import FakeClock


def test_versions_survive_a_restart_and_agree_with_memory(db_url: str, clock: FakeClock) -> None:
    memory = MemoryVersionRegistry()
    steps = [
        [("a", "police"), ("b", "#manif")],
        [("a", "  police "), ("b", "#manif OR #betoging")],
        [("a", "politie"), ("c", "x")],
        [("a", "police")],  # back to an old text: a new version all the same
    ]
    for step in steps:
        with Store.open(db_url, clock=clock) as store:
            assert isinstance(store.versions, VersionRegistry)
            assert store.versions.assign(step) == memory.assign(step)
    with Store.open(db_url, clock=clock) as store:
        assert store.versions.assign([("a", "police")]) == {"a": 3}
        assert store.versions.query("a", 2) == "politie"
        assert store.versions.query("b", 2) == "#manif OR #betoging"
        assert store.versions.query("zz", 1) is None


def test_processes_starting_together_get_the_same_versions(db_url: str) -> None:
    # Scale-out workers assign the catalogue's versions at the same moment; on PostgreSQL one
    # of two concurrent inserts of version 1 fails and is retried against the winner's rows.
    rules = [(f"r{n}", f"term{n}") for n in range(300)]
    stores = [Store.open(db_url) for _ in range(4)]
    start = threading.Barrier(len(stores))

    def assign(store: Store) -> dict[str, int]:
        start.wait()
        return store.versions.assign(rules)

    try:
        with ThreadPoolExecutor(len(stores)) as pool:
            results = list(pool.map(assign, stores))
    finally:
        for store in stores:
            store.close()
    assert all(result == dict.fromkeys(dict(rules), 1) for result in results)
