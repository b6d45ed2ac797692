"""The response cache: keys, LRU eviction under a size cap, counters across runs, and
two processes writing one cache file at once."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

from promptctl.results import Completion
from promptctl.run.cache import Cache, cache_key

IDENTITY = {"provider": "echo", "model": "m"}


def completion(i: int, size: int = 2000) -> Completion:
    return Completion(text=f"{i} " + "x" * size, prompt_tokens=1, completion_tokens=1)


def key(i: int) -> str:
    return cache_key(IDENTITY, [{"role": "user", "content": str(i)}], {}, 0)


def test_keys_change_with_every_input():
    base = cache_key(IDENTITY, [{"role": "user", "content": "a"}], {"seed": 0}, 0)
    assert base != cache_key(IDENTITY, [{"role": "user", "content": "b"}], {"seed": 0}, 0)
    assert base != cache_key(IDENTITY, [{"role": "user", "content": "a"}], {"seed": 1}, 0)
    assert base != cache_key(IDENTITY, [{"role": "user", "content": "a"}], {"seed": 0}, 1)
    assert base != cache_key({**IDENTITY, "sha256": "x"},
                             [{"role": "user", "content": "a"}], {"seed": 0}, 0)


def test_least_recently_used_entries_go_past_the_cap(tmp_path: Path):
    cache = Cache(tmp_path / "c.sqlite", max_mb=0.25)
    for i in range(50):
        cache.put(key(i), IDENTITY, completion(i))
    for i in range(50, 400):
        if i % 20 == 0:
            time.sleep(0.002)
            assert cache.get(key(0)) is not None  # the oldest entry stays in use
        cache.put(key(i), IDENTITY, completion(i))
    cache.evict()
    assert cache.evicted > 0
    assert cache._live_bytes() <= 0.25 * 2**20
    assert cache.get(key(0)) is not None  # used recently, so kept
    assert cache.get(key(1)) is None  # least recently used, so evicted
    assert cache.get(key(399)) is not None
    cache.close()


def test_hits_and_misses_add_up_across_processes_runs(tmp_path: Path):
    path = tmp_path / "c.sqlite"
    first = Cache(path)
    first.put(key(1), IDENTITY, completion(1))
    assert first.get(key(1)) is not None and first.get(key(2)) is None
    first.close()
    second = Cache(path)
    second.get(key(1))
    stats = second.stats()
    assert (stats["entries"], stats["hits"], stats["misses"]) == (1, 2, 1)
    assert second.clear() == 1
    assert second.stats()["hits"] == 0


def _writer(path: str, start: int, count: int) -> None:
    cache = Cache(Path(path))
    for i in range(start, start + count):
        cache.put(key(i), IDENTITY, completion(i, 100))
        assert cache.get(key(i)) is not None
    cache.close()


def test_two_processes_can_share_one_cache(tmp_path: Path):
    path = str(tmp_path / "shared.sqlite")
    Cache(Path(path)).stats()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, n * 1000, 300)) for n in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    cache = Cache(Path(path))
    assert cache.stats()["entries"] == 600
    assert all(cache.get(key(i)) is not None for i in (0, 299, 1000, 1299))
