"""What a run is asked to do and what it keeps of that, tested directly: the PLAN_FLAGS
table and `check_flags` (resume refuses a flag that would change the plan), meta.json's
round trip of the plan-shaping options, `Summary.of`, and the cache key, which must
not change between versions or every existing cache misses.

The CLI-level refusals are in test_resume.py; these pin the functions underneath."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from typing import Any

import pytest

from promptctl.errors import UserError
from promptctl.results import AssertionResult, CallRecord, canonical, digest
from promptctl.run.cache import cache_key
from promptctl.run.meta import new_meta, options_from_meta, plan_options
from promptctl.run.options import PLAN_FLAGS, RunOptions, check_flags
from promptctl.run.summary import Summary

# a run made with every plan flag (--resample drew seed offset 99)
SAVED = RunOptions(models=["small"], repeat=3, max_repeat=4, seed_offset=99, use_cache=True,
                   filter=("greet*",), shard=(1, 2))

# for each plan flag: a run, and the options of a command line that gives the flag with
# a value other than the run's
DIFFERENT: dict[str, tuple[RunOptions, Callable[[RunOptions], RunOptions]]] = {
    "--model": (SAVED, lambda o: dataclasses.replace(o, models=["large"])),
    "--repeat": (SAVED, lambda o: dataclasses.replace(o, repeat=5)),
    "--max-repeat": (SAVED, lambda o: dataclasses.replace(o, max_repeat=9)),
    "--resample": (dataclasses.replace(SAVED, seed_offset=0),  # a run not resampled
                   lambda o: dataclasses.replace(o, seed_offset=12345)),
    "--no-cache": (SAVED, lambda o: dataclasses.replace(o, use_cache=False)),
    "--filter": (SAVED, lambda o: dataclasses.replace(o, filter=("bye*",))),
    "--shard": (SAVED, lambda o: dataclasses.replace(o, shard=(2, 2))),
    "--no-perturb": (SAVED, lambda o: dataclasses.replace(o, perturb=False)),
}


def test_every_plan_flag_is_tested():
    assert sorted(f.flag for f in PLAN_FLAGS) == sorted(DIFFERENT)


@pytest.mark.parametrize("flag", sorted(DIFFERENT))
def test_a_plan_flag_that_differs_from_the_run_is_refused(flag: str):
    saved, change = DIFFERENT[flag]
    with pytest.raises(UserError) as err:
        check_flags("20260101T000000-abcdef", saved, change(saved), [flag])
    assert err.value.message.startswith(f"{flag} conflicts with run '20260101T000000-abcdef'")
    assert err.value.hint is not None and f"drop {flag}" in err.value.hint
    # the others, given with the run's own values, do not stand in its way
    check_flags("r", saved, change(saved), [f.flag for f in PLAN_FLAGS if f.flag != flag])


@pytest.mark.parametrize("flag", sorted(DIFFERENT))
def test_a_plan_flag_that_repeats_the_run_is_accepted(flag: str):
    check_flags("r", SAVED, dataclasses.replace(SAVED), [flag])


def test_a_flag_left_at_its_default_is_not_compared():
    """`--repeat` not given means the CLI's default, not a wish to change the run."""
    check_flags("r", SAVED, RunOptions(), [])


def test_repeat_auto_differs_from_a_count_and_from_the_suites_repeat():
    auto = RunOptions(auto_repeat=True)
    with pytest.raises(UserError, match="made with 3"):
        check_flags("r", SAVED, auto, ["--repeat"])
    with pytest.raises(UserError, match="made with auto"):
        check_flags("r", auto, RunOptions(repeat=2), ["--repeat"])
    with pytest.raises(UserError, match="made with the suites' repeat"):
        check_flags("r", RunOptions(), auto, ["--repeat"])
    check_flags("r", auto, RunOptions(auto_repeat=True), ["--repeat"])


def test_resample_keeps_the_runs_own_offset():
    """A resampled run resumed with --resample keeps its seeds (the new offset drawn
    by the CLI is not compared); one made without it refuses --resample."""
    check_flags("r", SAVED, dataclasses.replace(SAVED, seed_offset=12345), ["--resample"])
    plain = dataclasses.replace(SAVED, seed_offset=0)
    with pytest.raises(UserError, match="made with not resampled"):
        check_flags("r", plain, dataclasses.replace(SAVED, seed_offset=12345), ["--resample"])


# --------------------------------------------------------------- meta.json round trip


PLANS = [
    RunOptions(),
    SAVED,
    RunOptions(models=["a", "b"], auto_repeat=True, max_repeat=8, seed_offset=424242,
               use_cache=False, params={"temperature": 0.2, "stop": ["\n"],
                                        "nested": {"k": [1, 2]}}),
    RunOptions(repeat=1, filter=(), shard=(3, 3)),
    RunOptions(perturb=False),  # --no-perturb
]


def plan_shape(o: RunOptions) -> dict[str, Any]:
    """Everything that shapes a plan: every field but how fast it runs."""
    return {k: v for k, v in dataclasses.asdict(o).items() if k != "concurrency"}


@pytest.mark.parametrize("options", PLANS, ids=range(len(PLANS)))
def test_meta_gives_back_the_plan_shaping_options(options: RunOptions):
    written = json.loads(json.dumps({"options": plan_options(options)}))  # as on disk
    back = options_from_meta(written)
    assert plan_shape(back) == plan_shape(options)
    assert [f.value(back) for f in PLAN_FLAGS] == [f.value(options) for f in PLAN_FLAGS]
    # resumed with the same command line, it is the same plan (a run made without
    # --resample cannot be given it)
    check_flags("r", back, options, [f.flag for f in PLAN_FLAGS
                                     if f.flag != "--resample" or options.seed_offset])


def test_meta_keeps_the_cells_a_partial_run_selected():
    options = dataclasses.replace(SAVED, only={("s", "c1", "p.a", "m"), ("s", "c2", "p.a", "m")})
    meta = json.loads(json.dumps(new_meta("r", "2026-01-01T00:00:00", [], 4, options)))
    assert meta["partial"] is True
    back = options_from_meta(meta, concurrency=3)
    assert plan_shape(back) == plan_shape(options)
    assert back.concurrency == 3  # how fast: the command line's, not the run's


# ----------------------------------------------------------------------- Summary.of


def record(case: str, repeat: int, *, passed: bool = False, error: str | None = None,
           cached: bool = False, retries: int = 0, metric: float | None = None) -> CallRecord:
    results = [AssertionResult("rouge-l", passed, metric, "r", 1.0, "rouge")] \
        if metric is not None else []
    return CallRecord("s", case, "p.a", "m", repeat, [{"role": "user", "content": case}],
                      {}, output=None if error else "out", passed=passed,
                      assertions=results, latency_ms=10.0 + repeat,
                      tokens={"prompt": 3, "completion": 2 + repeat}, cost=0.001,
                      cached=cached, error=error, retries=retries)


RECORDS = [
    record("steady", 0, passed=True, metric=0.9), record("steady", 1, passed=True, metric=0.7),
    record("flaky", 0, passed=True, cached=True), record("flaky", 1, metric=0.2),
    record("broken", 0, error="timed out", retries=2), record("broken", 1, passed=True),
    record("down", 0, error="refused"), record("down", 1, passed=False, retries=1),
]


def test_summary_of_equals_adding_one_by_one():
    one_by_one = Summary()
    for rec in RECORDS:
        one_by_one.add(rec)
    assert Summary.of(RECORDS) == one_by_one
    assert Summary.of(iter(RECORDS)).to_dict() == one_by_one.to_dict()  # any iterable
    assert Summary.of([]) == Summary()


def test_summary_of_counts_what_it_was_given():
    s = Summary.of(RECORDS)
    # a failure wins over an error, an error over a pass, whatever the order
    assert s.cells == {("s", "steady", "p.a", "m"): "pass", ("s", "flaky", "p.a", "m"): "fail",
                       ("s", "broken", "p.a", "m"): "error", ("s", "down", "p.a", "m"): "fail"}
    assert (s.samples, s.error_samples, s.passed_samples) == (8, 2, 4)
    assert (s.cached, s.retries) == (1, 3)
    assert (s.tokens_prompt, s.tokens_completion) == (18, 16)  # errors use no tokens
    assert s.classes() == {"stable_pass": 2, "stable_fail": 1, "flaky": 1}
    assert s.metrics == {"rouge": {("s", "steady", "p.a", "m"): [0.9, 0.7],
                                   ("s", "flaky", "p.a", "m"): [0.2]}}
    assert Summary.of(reversed(RECORDS)).to_dict() == s.to_dict()


# --------------------------------------------------------------------- the cache key


def old_digest(value: Any) -> str:
    """The formula every existing cache's keys were made with."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, ensure_ascii=False,
                                     separators=(",", ":")).encode()).hexdigest()


IDENTITY = {"provider": "openai", "model": "gpt-4o-mini",
            "base_url": "http://127.0.0.1:8080/v1"}
MESSAGES = [{"role": "system", "content": "Answer in one word."},
            {"role": "user", "content": "Grüße, 世界 🌍: 1/2?"}]
PARAMS = {"temperature": 0.0, "seed": 7, "max_tokens": 64, "stop": ["\n"]}


def test_the_cache_key_of_a_fixed_input_never_changes():
    """Hard-coded: computed once with old_digest. If this fails, every cache misses."""
    key = cache_key(IDENTITY, MESSAGES, PARAMS, 2)
    assert key == "01ea4f4951b72f66f10ea4664781646ea7eacde88cc9f32dcb22a3909f9f1f40"
    assert key == old_digest({"identity": IDENTITY, "messages": MESSAGES,
                              "params": PARAMS, "repeat": 2})
    # key order does not matter; non-ASCII text is hashed as it is, not \u-escaped
    assert cache_key(dict(reversed(IDENTITY.items())), MESSAGES,
                     dict(reversed(PARAMS.items())), 2) == key


@pytest.mark.parametrize("value", [
    {"b": [1, 2.5, None, True], "a": {"z": "é", "y": {}}},
    MESSAGES, "text", 0, [],
])
def test_digest_is_the_old_formula(value: Any):
    assert digest(value) == old_digest(value)
    assert canonical(value).encode() == json.dumps(
        value, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def test_digest_of_a_fixed_value():
    assert digest({"b": [1, 2.5, None, True], "a": {"z": "é", "y": {}}}) \
        == "f3e8f9fdcfde370d4b0d41e4bb58b52dee3ffd5b9d227ab635ebe45e996d787a"
