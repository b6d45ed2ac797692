"""Model-backed assertions through a real OpenAI-compatible server on loopback, and a
judge whose replies a fault-injecting proxy turns into garbage."""

from __future__ import annotations

import pytest

from promptctl.load.project import load_project
from promptctl.load.suites import load_suite
from promptctl.run.options import RunOptions
from promptctl.run.runner import run_suites

pytestmark = pytest.mark.slow

PROMPTS = """
prompts:
  capital:
    params: {max_tokens: 16}
    template: "What is the capital of {{ country }}? Answer in one short sentence."
"""


def run_with(make_project, config: str, asserts: str):
    make_project({"prompts/t.yaml": PROMPTS, "promptctl.yaml": config,
                  "suites/s.yaml": "prompts: [t.capital]\ncases:\n  - id: france\n"
                                   "    vars: {country: France}\n    assert:\n" + asserts})
    project = load_project()
    suites = [load_suite(project, p) for p in project.suite_paths()]
    (rec,) = run_suites(project, suites, RunOptions()).records
    return rec


def test_similar_through_the_embeddings_endpoint(make_project, embedding_server):
    rec = run_with(make_project,
                   f"models:\n  emb: {{provider: openai, base_url: '{embedding_server}', "
                   "model: smollm2}\nembedder: emb\n",
                   "      - {type: similar, value: 'Paris is the capital city of France.',"
                   " threshold: 0.8}\n"
                   "      - {type: not-similar, value: 'Bananas are yellow.', threshold: 0.95}\n")
    assert rec.error is None, rec.error
    close, far = rec.assertions
    assert close.passed and far.passed
    assert close.score > 1 - far.score


def test_a_judge_behind_the_server(make_project, llama_server):
    rec = run_with(make_project,
                   f"models:\n  grader: {{provider: openai, base_url: '{llama_server}', "
                   "model: smollm2}\njudge: grader\n",
                   "      - {type: llm-rubric, value: 'The answer names Paris'}\n"
                   "      - {type: factuality, value: 'Paris is the capital of France.'}\n")
    assert rec.error is None, rec.error
    # the verdict itself is the 135M model's to make; what is tested is the path: a
    # schema-constrained reply through the server, parsed into a reasoned verdict
    for a in rec.assertions:
        assert a.reason.startswith("judge: ") and len(a.reason) > 20
        assert 0 <= a.score <= 1


def test_choice_through_the_server_uses_first_token_logprobs(make_project, llama_server):
    rec = run_with(make_project, "models: {}\n",
                   "      - {type: choice, value: [Paris, Rome, Berlin], expected: Paris}\n")
    rec_server = None
    make_project({"promptctl.yaml":
                  f"models:\n  srv: {{provider: openai, base_url: '{llama_server}', "
                  "model: smollm2}\n"})
    project = load_project()
    suites = [load_suite(project, p, models=["srv"]) for p in project.suite_paths()]
    (rec_server,) = run_suites(project, suites, RunOptions(models=["srv"])).records
    for r in (rec, rec_server):
        assert r.error is None, r.error
        (a,) = r.assertions
        assert "Paris" in a.reason and "Rome" in a.reason and 0 <= a.score <= 1
    assert rec.passed  # in-process: the full reply is scored


def test_a_judge_returning_garbage_is_an_error(make_project, fault_proxy):
    proxy = fault_proxy(rate=1.0, kinds=["corrupt-content"],
                        corrupt_content="The output is great, I would say it passes!")
    rec = run_with(make_project,
                   f"models:\n  grader: {{provider: openai, base_url: '{proxy.base_url}/v1', "
                   "model: smollm2, max_retries: 0}\njudge: grader\n",
                   "      - {type: llm-rubric, value: 'The answer names Paris'}\n")
    assert rec.error is not None
    assert rec.error.startswith("llm-rubric: judge 'grader' returned a malformed judgement")
    assert rec.passed is False and rec.output  # the output under test is kept
    assert proxy.injected["corrupt-content"] >= 1


def test_a_judge_that_cannot_be_reached_is_an_error(make_project, fault_proxy):
    proxy = fault_proxy(rate=1.0, kinds=["500"])
    rec = run_with(make_project,
                   f"models:\n  grader: {{provider: openai, base_url: '{proxy.base_url}/v1', "
                   "model: smollm2, max_retries: 0}\njudge: grader\n",
                   "      - {type: llm-rubric, value: 'The answer names Paris'}\n")
    assert rec.error is not None and "HTTP 500" in rec.error
