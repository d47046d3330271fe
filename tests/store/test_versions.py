"""Rule versions persist across restarts and follow the VersionRegistry contract."""

from __future__ import annotations

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
