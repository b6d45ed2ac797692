"""The real promptfoo, when it is installed: find it, run `promptfoo eval --providers
echo` offline on a config, and read what it rendered per (testIdx, promptIdx).

promptfoo is never downloaded by the tests. It is used when `PROMPTCTL_PROMPTFOO` names
its executable (e.g. /work/promptfoo/node_modules/.bin/promptfoo) or `promptfoo` is on
PATH; otherwise the tests that need it skip. Its state (the eval database) goes into a
temporary directory, telemetry and the update check are off, the cache is not used.

A rendered prompt is what promptfoo's chat providers send: a prompt whose rendered text
is a JSON list of {role, content} messages is that list, any other text is one user
message (promptfoo's parseChatPrompt). `echo` returns the rendered text unchanged, and
every result carries it as `prompt.raw`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from promptctl.integrations.promptfoo.resultsfile import messages as sent_messages

Messages = list[dict[str, str]]
RenderKey = tuple[int, int, int]  # (testIdx, promptIdx, repeat)


def promptfoo_bin() -> str | None:
    """The promptfoo executable to use, or None when there is none."""
    named = os.environ.get("PROMPTCTL_PROMPTFOO")
    if named:
        return named if Path(named).is_file() else None
    return shutil.which("promptfoo")


def offline_env(state: Path) -> dict[str, str]:
    """promptfoo with no network use of its own and its database under `state`."""
    return {**os.environ, "PROMPTFOO_DISABLE_TELEMETRY": "1",
            "PROMPTFOO_DISABLE_UPDATE": "1", "PROMPTFOO_DISABLE_SHARING": "1",
            "PROMPTFOO_CONFIG_DIR": str(state), "PROMPTFOO_CACHE_ENABLED": "false",
            "PROMPTFOO_SELF_HOSTED": "1", "NO_COLOR": "1", "FORCE_COLOR": "0",
            # a grader (llm-rubric, similar...) must fail at once, never reach a network
            "OPENAI_API_KEY": "sk-offline", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
            "PROMPTFOO_REQUEST_BACKOFF_MS": "0"}  # (its retries of that: no waiting)


def run_eval(binary: str, config: Path, out: Path, state: Path, *,
             extra: tuple[str, ...] = ("--providers", "echo"), timeout: float = 300
             ) -> dict[str, Any]:
    """`promptfoo eval -c CONFIG --providers echo -o OUT --no-cache`: its results JSON."""
    cmd = [binary, "eval", "-c", str(config), *extra, "-o", str(out), "--no-cache",
           "--no-table", "--no-progress-bar", "--no-share"]
    proc = subprocess.run(cmd, cwd=config.parent, env=offline_env(state),
                          capture_output=True, text=True, timeout=timeout)
    if not out.is_file():
        raise AssertionError(f"promptfoo wrote no {out.name} (exit {proc.returncode}):\n"
                             f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    data: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return data


def as_messages(text: str) -> Messages:
    """What a chat provider sends for a rendered prompt (see the module docstring):
    the results import's own reading of it."""
    return sent_messages(text)


def renders(results: dict[str, Any]) -> dict[RenderKey, Messages]:
    """(testIdx, promptIdx, repeat) -> messages, from promptfoo's results JSON. Results
    with the same (testIdx, promptIdx) are the repeats, numbered in file order."""
    out: dict[RenderKey, Messages] = {}
    seen: dict[tuple[int, int], int] = {}
    rows = sorted(results["results"]["results"],
                  key=lambda r: (r["testIdx"], r["promptIdx"], r.get("repeatIndex", 0)))
    for row in rows:
        pair = (int(row["testIdx"]), int(row["promptIdx"]))
        repeat = seen.get(pair, 0)
        seen[pair] = repeat + 1
        out[(*pair, repeat)] = as_messages(row["prompt"]["raw"])
    return out


def expected_renders(case_dir: Path) -> dict[RenderKey, Messages]:
    """The hand-written renders of a corpus config (its expected.json): an entry gives
    `messages`, or `user` for one user message; `repeat` defaults to 0."""
    data = json.loads((case_dir / "expected.json").read_text(encoding="utf-8"))
    out: dict[RenderKey, Messages] = {}
    for entry in data["renders"]:
        key = (int(entry["test"]), int(entry["prompt"]), int(entry.get("repeat", 0)))
        assert key not in out, f"{case_dir.name}: {key} written twice in expected.json"
        out[key] = (entry["messages"] if "messages" in entry
                    else [{"role": "user", "content": entry["user"]}])
    return out


def unordered(case_dir: Path) -> bool:
    """Does the config's expected.json leave the order of its prompts open? (promptfoo
    numbers the files of a prompt glob in the order its glob library lists them.)"""
    data = json.loads((case_dir / "expected.json").read_text(encoding="utf-8"))
    return bool(data.get("unordered_prompts"))


def by_test(renders: dict[RenderKey, Messages]) -> dict[RenderKey, Messages]:
    """The renders with each test's prompts numbered in the order of their text."""
    grouped: dict[tuple[int, int], list[Messages]] = {}
    for (test, _, repeat), messages in renders.items():
        grouped.setdefault((test, repeat), []).append(messages)
    return {(test, i, repeat): m for (test, repeat), group in grouped.items()
            for i, m in enumerate(sorted(group, key=json.dumps))}


def render_mismatches(expected: dict[RenderKey, Messages], actual: dict[RenderKey, Messages],
                      *, any_prompt_order: bool = False) -> list[str]:
    """One line per (test, prompt, repeat) that is missing, extra or different."""
    if any_prompt_order:
        expected, actual = by_test(expected), by_test(actual)
    out = []
    for key in sorted(set(expected) | set(actual)):
        if key not in actual:
            out.append(f"{key}: expected {expected[key]!r}, not rendered")
        elif key not in expected:
            out.append(f"{key}: rendered {actual[key]!r}, not expected")
        elif expected[key] != actual[key]:
            out.append(f"{key}: expected {expected[key]!r}\n{' ' * len(str(key))}  got "
                       f"{actual[key]!r}")
    return out
