"""The page cache computes a missing entry once, however many requests ask for it at once."""

from __future__ import annotations

import threading

import pytest

from monitor.doccache import DocumentCache as PageCache


def test_concurrent_requests_for_a_cold_entry_compute_it_once():
    cache = PageCache()
    calls = []
    started = threading.Event()
    release = threading.Event()

    def slow() -> str:
        calls.append(1)
        started.set()
        release.wait(30)
        return "document"

    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(cache.get_or_compute("k", slow))) for _ in range(8)]
    for t in threads:
        t.start()
    started.wait(30)
    release.set()
    for t in threads:
        t.join(30)
    assert results == ["document"] * 8
    assert len(calls) == 1


def test_a_failed_computation_is_not_cached_and_the_next_request_tries_again():
    cache = PageCache()

    def broken() -> str:
        raise RuntimeError("database away")

    with pytest.raises(RuntimeError):
        cache.get_or_compute("k", broken)
    assert cache.get_or_compute("k", lambda: "fine") == "fine"


def test_the_oldest_entries_go_first_when_the_cache_is_full():
    cache = PageCache(size=2)
    for key in ("a", "b", "c"):
        cache.get_or_compute(key, lambda key=key: key.upper())
    assert cache.get_or_compute("a", lambda: "recomputed") == "recomputed"
    assert cache.get_or_compute("c", lambda: "x") == "C"
