"""The collector pause used while building large catalogues."""

from __future__ import annotations

import gc

import pytest

from veille.rules.bulk import collector_paused


def fail_while_paused() -> None:
    with collector_paused():
        assert not gc.isenabled()
        raise ValueError("boom")


def test_pause_restores_the_collector_even_on_error() -> None:
    assert gc.isenabled()
    with pytest.raises(ValueError, match="boom"):
        fail_while_paused()
    assert gc.isenabled()


def test_nested_pauses_leave_it_on_at_the_end() -> None:
    with collector_paused():
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_disabled_collector_stays_disabled() -> None:
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
