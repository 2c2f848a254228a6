"""One dataset's refreshes: one at a time, asks during a run share the one after it, and a
waiter gives up on a silent source while the refresh waits on."""

from __future__ import annotations

import threading

import pytest

from sidecar.engine.refreshes import Refreshes, Stalled


def test_asks_during_a_refresh_share_the_one_after_it_and_none_is_skipped() -> None:
    started, release = threading.Semaphore(0), threading.Event()
    runs: list[int] = []

    def refresh() -> None:
        runs.append(len(runs))
        started.release()
        release.wait(10)

    refreshes = Refreshes("t", refresh)
    first = threading.Thread(target=refreshes.run, args=(lambda: None,))
    first.start()
    assert started.acquire(timeout=10)
    waiting = threading.Semaphore(0)

    def asked() -> None:  # a waiter looks at the source only once it has asked
        waiting.release()

    later = [threading.Thread(target=refreshes.run, args=(asked,)) for _ in range(5)]
    for thread in later:
        thread.start()
    for _ in later:
        assert waiting.acquire(timeout=10)
    release.set()
    for thread in (first, *later):
        thread.join(10)
    assert runs == [0, 1]  # the five asked meanwhile read the source once, after the first


def test_a_waiter_gives_up_on_a_silent_source_and_the_refresh_goes_on() -> None:
    release, ended = threading.Event(), threading.Event()

    def refresh() -> None:
        release.wait(10)
        ended.set()

    refreshes = Refreshes("t", refresh)
    with pytest.raises(Stalled, match="has not answered for 7s"):
        refreshes.run(lambda: 7.0)
    assert not ended.is_set()
    release.set()
    assert ended.wait(10)
    refreshes.run(lambda: None)  # the next one runs: nothing is left stuck


def test_a_waiter_gets_the_refreshs_own_error() -> None:
    def refresh() -> None:
        raise ValueError("the source said no")

    with pytest.raises(ValueError, match="the source said no"):
        Refreshes("t", refresh).run(lambda: None)
