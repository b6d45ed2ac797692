"""Spend limits (--max-cost, --max-tokens, budget: in promptctl.yaml) and --dry-run.

The ledger's invariant (spend never passes the limit when estimates are upper bounds;
a call waits for the calls in flight before it is refused) is tested on its plain API
from threads and from coroutines at once. The rest goes through the real CLI: the echo
provider where the answer does not matter (token limits, the file's `budget:`, exit
codes), the real llama_cpp.server behind a counting proxy where a priced hosted call
is the point: real token counts from the server's tokenizer, priced by the entry."""

from __future__ import annotations

import asyncio
import json
import random
import threading
from pathlib import Path

import pytest

from promptctl import aio
from promptctl.providers.base import Provider
from promptctl.run.budget import NOT_RUN, Estimate, Ledger, Limits
from promptctl.run.store import final_records, resolve_run, runs_dir

ECHO = "models:\n  e: {provider: echo, params: {max_tokens: 10}}\n"
PROMPTS = """
    prompts:
      p: {template: "Say {{ word }}"}
    """


def suite(n: int, model: str = "e", extra: str = "") -> str:
    cases = "".join(f"  - {{id: c{i}, vars: {{word: w{i}}}, assert: [{{type: contains, "
                    f"value: w{i}}}]}}\n" for i in range(n))
    return f"prompts: [p]\nmodels: [{model}]\n{extra}cases:\n{cases}"


def records(root: Path) -> list:
    return final_records(resolve_run(runs_dir_of(root), None))


def runs_dir_of(root: Path) -> Path:
    from promptctl.load.project import load_project

    return runs_dir(load_project(config=root / "promptctl.yaml"))


# -- the ledger ---------------------------------------------------------------------


def test_the_ledger_never_passes_the_limit_from_threads_and_coroutines_at_once():
    """Upper-bound estimates, actual spend at most the estimate: the settled total
    never passes the limit, and the first refusal comes only once nothing in flight
    could still make room (so the run spends as much of the limit as fits)."""
    limit = 1.0
    ledger = Ledger(Limits(max_cost=limit))
    rng = random.Random(7)
    plans = [(rng.uniform(0.01, 0.05), rng.random()) for _ in range(400)]
    lock = threading.Lock()
    made: list[float] = []
    refused_with_room: list[float] = []

    def spend(estimate: float, share: float) -> float:
        return estimate * share  # what the call really cost: never above the estimate

    def thread_call(i: int) -> None:
        est, share = plans[i]
        ticket = ledger.reserve(Estimate(0, 0, est))
        if ticket is None:
            with lock:
                refused_with_room.append(limit - ledger.spent_cost - est)
            return
        threading.Event().wait(0.001)
        ledger.settle(ticket, 0, spend(est, share))
        with lock:
            made.append(spend(est, share))

    async def coroutine_call(i: int) -> None:
        est, share = plans[i]
        ticket = await ledger.areserve(Estimate(0, 0, est))
        if ticket is None:
            with lock:
                refused_with_room.append(limit - ledger.spent_cost - est)
            return
        await asyncio.sleep(0.001)
        ledger.settle(ticket, 0, spend(est, share))
        with lock:
            made.append(spend(est, share))

    async def lane() -> None:
        await asyncio.gather(*(coroutine_call(i) for i in range(0, 400, 2)))

    future = aio.submit(lane())
    threads = [threading.Thread(target=lambda k=k: [thread_call(i) for i in
                                                    range(2 * k + 1, 400, 16)])
               for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    future.result(30)
    assert ledger.stopped and ledger.refused > 0
    assert sum(made) <= limit + 1e-9
    assert abs(ledger.spent_cost - sum(made)) < 1e-9
    assert len(made) + ledger.refused == 400
    # the budget stops only once a call's estimate does not fit the settled spend
    # (nothing in flight), so the limit is used up to within one estimate (<= 0.05)
    assert min(refused_with_room) < 1e-9
    assert limit - ledger.spent_cost < 0.05


def test_a_caller_that_reserves_many_before_settling_does_not_wait():
    """A batch reserves its lines one after the other before any settles: the first
    that does not fit stops the ledger instead of waiting for itself."""
    ledger = Ledger(Limits(max_tokens=250))
    tickets = [ledger.reserve(Estimate(50, 50, 0.0), wait=False) for _ in range(4)]
    assert [t is not None for t in tickets] == [True, True, False, False]
    for t in tickets[:2]:
        ledger.settle(t, 30, 0.0)  # type: ignore[arg-type]
    assert ledger.spent_tokens == 60 and ledger.refused == 2
    assert ledger.reserve(Estimate(1, 1, 0.0)) is None  # stopped for good


def prompt_bound(messages: list[dict[str, str]]) -> int:
    return Provider.prompt_tokens_bound(None, messages)  # type: ignore[arg-type]


def test_the_prompt_bound_covers_bytes_and_template_overhead():
    messages = [{"role": "user", "content": "héllo"}]  # é is two bytes
    assert prompt_bound(messages) == 64 + 8 + len(b"user") + len("héllo".encode())


# -- through the CLI, on the echo provider ---------------------------------------------


def test_a_token_limit_stops_the_rest_and_a_resume_with_more_finishes(make_project, cli):
    root = make_project({"promptctl.yaml": ECHO, "prompts/p.yaml": PROMPTS,
                         "suites/s.yaml": suite(5)})
    # each call's bound: 64 + 8 + 4 + len("Say wN") = 82 prompt + 10 completion; echo
    # answers 2 + 2 words: the first call leaves room for the second, and so on
    bound = 82 + 10
    first = cli("run", "--no-cache", "--max-tokens", str(bound + 2 * 4))
    assert first.exit_code == 3, first.output
    recs = records(root)
    not_run = [r for r in recs if r.error == NOT_RUN]
    made = [r for r in recs if r.error is None]
    assert len(made) == 3 and len(not_run) == 2  # 92, 4+92, 8+92 fit; 12+92 does not
    assert all(r.output is None and not r.assertions for r in not_run)
    assert "budget reached: 2 calls not run (spent 12 of 100 tokens)" in first.stdout
    summary = json.loads((resolve_run(runs_dir_of(root), None) / "summary.json").read_text())
    assert summary["summary"]["not_run"] == 2
    meta = json.loads((resolve_run(runs_dir_of(root), None) / "meta.json").read_text())
    assert meta["budget"] == {"max_tokens": 100}
    assert "max_tokens" not in meta["options"]  # plan-neutral

    # the limit counts the run's earlier spend: 12 spent + 92 fits 105, then 16 + 92
    # does not
    short = cli("run", "--resume", "--max-tokens", "105")
    assert short.exit_code == 3, short.output
    assert "2 not run by the budget" in short.stderr
    assert "budget reached: 1 call not run (spent 16 of 105 tokens)" in short.stdout
    done = cli("run", "--resume", "--max-tokens", "1000")
    assert done.exit_code == 0, done.output
    final = records(root)
    assert len(final) == 5 and all(r.error is None and r.passed for r in final)
    assert json.loads((resolve_run(runs_dir_of(root), None) / "meta.json").read_text()
                      )["resumed"][-1]["budget"] == {"max_tokens": 1000}


def test_the_files_budget_applies_and_the_flag_wins(make_project, cli):
    make_project({"promptctl.yaml": ECHO + "budget: {max_tokens: 50}\n",
                  "prompts/p.yaml": PROMPTS, "suites/s.yaml": suite(2)})
    capped = cli("run", "--no-cache")
    assert capped.exit_code == 3 and "2 calls not run" in capped.stdout  # 92 > 50
    assert cli("run", "--no-cache", "--max-tokens", "500").exit_code == 0


@pytest.mark.parametrize(("value", "why"), [("-1", "greater than or equal to 0"),
                                            ("lots", "number")])
def test_a_bad_budget_in_the_file_is_exit_2_at_its_line(make_project, cli, value, why):
    make_project({"promptctl.yaml": ECHO + f"budget:\n  max_cost: {value}\n",
                  "prompts/p.yaml": PROMPTS, "suites/s.yaml": suite(1)})
    result = cli("run")
    assert result.exit_code == 2
    assert "promptctl.yaml:4" in result.stderr and why in result.stderr, result.stderr


def test_check_and_baseline_update_stop_at_the_limit_with_exit_3(make_project, cli):
    root = make_project({"promptctl.yaml": ECHO, "prompts/p.yaml": PROMPTS,
                         "suites/s.yaml": suite(3)})
    refused = cli("baseline", "update", "--max-tokens", "50")
    assert refused.exit_code == 3 and not (root / "baselines").exists(), refused.output
    assert "not run: the budget was reached; no baseline written" in refused.stderr
    assert "promptctl run --resume" in refused.stderr
    assert cli("baseline", "update").exit_code == 0
    checked = cli("check", "--no-cache", "--max-tokens", "99")  # 92, 4 + 92; not 8 + 92
    assert checked.exit_code == 3, checked.output
    assert "not run" in checked.stdout


def test_a_judge_call_the_budget_does_not_allow_is_not_made(make_project, cli,
                                                            fault_proxy):
    """The judge's call reserves too: with room for the call under test only, the
    judge is not called and the case is 'not run' (resumable), not a verdict."""
    proxy = fault_proxy(upstream="http://127.0.0.1:9")  # never reached
    make_project({"promptctl.yaml": ECHO + (
        f"  grader: {{provider: openai, base_url: '{proxy.base_url}/v1', model: smollm2, "
        "price: {input: 0.001, output: 0.001}}\njudge: grader\n"),
        "prompts/p.yaml": PROMPTS,
        "suites/s.yaml": "prompts: [p]\nmodels: [e]\ncases:\n  - {id: a, vars: {word: x}, "
                         "assert: [{type: llm-rubric, value: 'says x'}]}\n"})
    result = cli("run", "--max-cost", "0.05")  # the echo call is free; a judge's is not
    assert result.exit_code == 3, result.output
    assert f"llm-rubric: {NOT_RUN}" in result.stdout
    assert proxy.total == 0
    assert "1 call not run" in result.stdout


def test_dry_run_prints_the_plan_and_writes_nothing(make_project, cli, tmp_path):
    root = make_project({"promptctl.yaml": ECHO, "prompts/p.yaml": PROMPTS,
                         "suites/s.yaml": suite(4)})
    dry = cli("run", "--dry-run", "--max-tokens", "200", "-o", "plan.json")
    assert dry.exit_code == 0, dry.output
    assert not (root / ".promptctl").exists()  # no run folder, no cache made
    plan = json.loads((root / "plan.json").read_text())
    assert plan["models"]["e"] == {"calls": 4, "cached": 0, "prompt_tokens": 4 * 82,
                                   "completion_tokens": 40, "cost": 0.0, "priced": False}
    assert plan["budget"] == {"max_tokens": 200, "uncached": 4, "fit": 2}
    assert "2 of the 4 calls fit by the estimate" in dry.stdout
    assert cli("run", "-k", "c1,c2").exit_code == 0
    cache = root / ".promptctl" / "cache.sqlite"
    before = cache.read_bytes()
    again = cli("run", "--dry-run", "-o", "plan.json")
    assert "dry run: 4 calls, 2 cached, 2 to make" in again.stdout
    assert json.loads((root / "plan.json").read_text())["total"]["cached"] == 2
    assert cache.read_bytes() == before  # read-only: no hit counted, nothing marked
    assert len([p for p in runs_dir_of(root).iterdir() if p.name != "latest"]) == 1
    assert cli("check", "--dry-run").exit_code == 0
    assert cli("baseline", "update", "--dry-run").exit_code == 0
    assert not (root / "baselines").exists()
    bad = cli("run", "--dry-run", "-o", "plan.md")
    assert bad.exit_code == 2 and "JSON only" in bad.stderr


# -- priced calls on the real server --------------------------------------------------


@pytest.mark.slow
def test_a_cost_limit_on_real_priced_calls(make_project, cli, llama_server, fault_proxy):
    """Real token counts from llama_cpp.server, priced by the entry: a limit that fits
    some calls stops the rest, the spend stays under it, every call's real prompt
    tokens are within the estimate's bound; a resume with more finishes the run and
    makes only the calls not run; a dry run makes no request."""
    proxy = fault_proxy(upstream=llama_server.removesuffix("/v1"))
    price = 1e-4
    root = make_project({
        "promptctl.yaml": f"""
            models:
              m: {{provider: openai, base_url: '{proxy.base_url}/v1', model: smollm2,
                  price: {{input: {price}, output: {price}}},
                  params: {{max_tokens: 4, temperature: 0}}}}
            """,
        "prompts/p.yaml": PROMPTS, "suites/s.yaml": suite(6, "m")})
    dry = cli("run", "--dry-run", "-o", "plan.json")
    assert dry.exit_code == 0 and proxy.total == 0, dry.output
    planned = json.loads((root / "plan.json").read_text())["models"]["m"]
    per_call = planned["cost"] / 6
    # room for one call by the estimate and a half: a second call waits for the first
    # to settle to its real cost (well under the bound), then fits; later ones do not
    limit = round(1.5 * per_call, 6)
    first = cli("run", "-j", "2", "--max-cost", str(limit))
    assert first.exit_code == 3, first.output
    recs = records(root)
    made = [r for r in recs if r.error is None]
    skipped = [r for r in recs if r.error == NOT_RUN]
    assert len(made) >= 2 and skipped and len(made) + len(skipped) == 6
    assert proxy.total == len(made)
    spent = sum(r.cost for r in made)
    assert 0 < spent <= limit
    for r in made:
        assert 0 < r.tokens["prompt"] <= prompt_bound(r.messages)  # the bound held
        assert r.tokens["completion"] <= 4
        assert r.cost == pytest.approx(price * sum(r.tokens.values()))
    assert f"of ${limit:g}" in first.stdout
    dry_after = cli("run", "--dry-run")
    assert f"6 calls, {len(made)} cached" in dry_after.stdout
    done = cli("run", "--resume", "--max-cost", "1")
    assert done.exit_code in (0, 1), done.output
    assert proxy.total == 6  # only the calls not run were made
    assert all(r.error is None for r in records(root))


def test_a_judges_spend_counts_against_the_limit(make_project, cli, scripted):
    """A judge's call that fits is made and its real usage settles in the ledger: the
    spend the terminal reports is the call under test's plus the judge's (the
    scripted judge stands in for a model only to count; its verdict is not tested)."""
    scripted.default = '{"reason": "it says x", "pass": true, "score": 1}'
    make_project({"promptctl.yaml": ECHO + "  grader: {provider: scripted, model: g}\n"
                                           "judge: grader\n",
                  "prompts/p.yaml": PROMPTS,
                  "suites/s.yaml": "prompts: [p]\nmodels: [e]\ncases:\n  - {id: a, vars: "
                                   "{word: x}, assert: [{type: llm-rubric, value: 'says x'}]}\n"})
    result = cli("run", "--max-tokens", "5000")
    assert result.exit_code == 0, result.output
    (prompt, _), = scripted.calls
    judge_tokens = len(prompt.split()) + len(scripted.default.split())
    # echo: "Say x" is 2 words in, 2 out
    assert f"budget: spent {4 + judge_tokens:,} of 5,000 tokens" in result.stdout


@pytest.mark.slow
def test_the_local_model_counts_its_prompt_exactly(make_project, cli):
    """llama-cpp's estimate is its own tokenizer's count of the chat-templated prompt:
    the dry run's prompt tokens are the ones the real call then reports."""
    root = make_project({
        "promptctl.yaml": "models:\n  m: {provider: llama-cpp, model: builtin:smollm2, "
                          "params: {max_tokens: 2}}\n",
        "prompts/p.yaml": "prompts:\n  p: {messages: [{role: system, content: Be brief.}, "
                          "{role: user, content: 'Say {{ word }}, héllo'}]}\n",
        "suites/s.yaml": suite(1, "m")})
    assert cli("run", "--dry-run", "-o", "plan.json").exit_code == 0
    planned = json.loads((root / "plan.json").read_text())["models"]["m"]
    ran = cli("run", "--max-tokens", str(planned["prompt_tokens"] + 2))
    assert ran.exit_code in (0, 1), ran.output  # the exact estimate fits exactly
    (rec,) = records(root)
    assert rec.tokens["prompt"] == planned["prompt_tokens"]
    assert rec.tokens["prompt"] < prompt_bound(rec.messages)
