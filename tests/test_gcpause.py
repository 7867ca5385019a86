"""The collector paused for start-up, and started again whatever happens."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from monitor.gcpause import Paused


@pytest.fixture(autouse=True)
def collector_restored() -> Iterator[None]:
    enabled = gc.isenabled()
    yield
    (gc.enable if enabled else gc.disable)()


def test_a_pause_stops_collection_until_it_ends() -> None:
    gc.enable()
    with Paused() as pause:
        assert not gc.isenabled()
        pause.end()
        assert gc.isenabled()
        pause.end()  # ending twice changes nothing
        gc.disable()  # someone else's decision after the end is theirs
    assert not gc.isenabled()


def test_an_inner_pause_leaves_the_collector_to_the_outer_one() -> None:
    gc.enable()
    with Paused():
        with Paused():
            pass
        assert not gc.isenabled()
    assert gc.isenabled()


def test_the_collector_runs_again_after_an_error_in_the_block() -> None:
    gc.enable()
    with pytest.raises(RuntimeError), Paused():
        raise RuntimeError("a bad page")
    assert gc.isenabled()


def test_a_pause_inside_a_program_that_turned_collection_off_keeps_it_off() -> None:
    gc.disable()
    with Paused():
        pass
    assert not gc.isenabled()
