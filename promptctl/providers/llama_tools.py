"""Function tools for an in-process GGUF whose chat template has no tools section (most
small models: SmolLM2's has none, and llama-cpp-python's default handler then never
shows `tools` to the model).

promptctl lists the tools in the system message and constrains the reply with a JSON
Schema grammar to `{"tool": NAME, "arguments": {...}}`, where NAME is one of the tools
and the arguments follow that tool's own `parameters` schema; with `tool_choice: auto`
the reply may instead be `{"answer": TEXT}`. So a call is always well-formed; which
tool and which values are the model's choice. One call per reply.

The conversation's earlier calls and tool results are written into the messages in the
same words (an assistant message with the JSON it produced; the tool's result as a user
message that names the tool), since the template knows no other roles.

Invariant: the Completion it parses carries either text or one tool call, never a
half-parsed reply: a reply that is not the promised JSON (cut off by max_tokens) is its
raw text, with no call.
"""

from __future__ import annotations

import json
from typing import Any

from ..results import ToolCall, tool_call_of

INSTRUCTIONS = (
    "You can call these tools:\n{tools}\n\n"
    "To call a tool, reply with JSON only: "
    '{{"tool": "<tool name>", "arguments": {{<the tool\'s arguments>}}}}.'
)
AUTO_INSTRUCTIONS = ' To answer without a tool, reply with JSON only: {"answer": "<your answer>"}.'


def _describe(tool: dict[str, Any]) -> str:
    fn = tool["function"]
    params = json.dumps(fn.get("parameters") or {}, ensure_ascii=False, sort_keys=True)
    about = f": {fn['description']}" if fn.get("description") else ""
    return f"- {fn['name']}{about}. Arguments (JSON Schema): {params}"


def chosen(tools: list[dict[str, Any]], choice: Any) -> tuple[list[dict[str, Any]], bool]:
    """The tools the reply may call, and whether it may answer in words instead."""
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        return [t for t in tools if t["function"]["name"] == name], False
    return tools, choice != "required"


def reply_schema(tools: list[dict[str, Any]], may_answer: bool) -> dict[str, Any]:
    options: list[dict[str, Any]] = [{
        "type": "object",
        "properties": {"tool": {"const": t["function"]["name"]},
                       "arguments": t["function"].get("parameters")
                       or {"type": "object"}},
        "required": ["tool", "arguments"],
    } for t in tools]
    if may_answer:
        options.append({"type": "object", "properties": {"answer": {"type": "string"}},
                        "required": ["answer"]})
    return options[0] if len(options) == 1 else {"anyOf": options}


def messages_with_tools(messages: list[dict[str, Any]], tools: list[dict[str, Any]],
                        may_answer: bool) -> list[dict[str, str]]:
    """The messages as the plain template takes them: the tools described in the
    system message (a new one first when there is none), earlier calls and results
    in words."""
    text = INSTRUCTIONS.format(tools="\n".join(_describe(t) for t in tools))
    if may_answer:
        text += AUTO_INSTRUCTIONS
    out = plain_messages(messages, answers=may_answer)
    if out and out[0]["role"] == "system":
        out[0] = {"role": "system", "content": f"{out[0]['content']}\n\n{text}"}
    else:
        out.insert(0, {"role": "system", "content": text})
    return out


def plain_messages(messages: list[dict[str, Any]], *,
                   answers: bool = False) -> list[dict[str, str]]:
    """A conversation's tool calls and tool results as text messages; with `answers`,
    the assistant's earlier words in the reply form it may use again ({"answer": ...}),
    so that the examples the model sees follow the form it is held to."""
    out: list[dict[str, str]] = []
    for m in messages:
        role = m.get("role", "user")
        if role == "tool":
            out.append({"role": "user", "content": f"Result of the tool {m.get('name', '')}"
                                                   f": {m.get('content', '')}"})
        elif role == "assistant" and m.get("tool_calls"):
            calls = [c.get("function") or {} for c in m["tool_calls"]]
            said = [m["content"]] if m.get("content") else []
            said += [json.dumps({"tool": c.get("name"), "arguments": _loaded(c)},
                                ensure_ascii=False) for c in calls]
            out.append({"role": "assistant", "content": "\n".join(said)})
        elif role == "assistant" and answers:
            out.append({"role": "assistant", "content": json.dumps(
                {"answer": str(m.get("content") or "")}, ensure_ascii=False)})
        else:
            out.append({"role": role, "content": str(m.get("content") or "")})
    return out


def _loaded(call: dict[str, Any]) -> Any:
    raw = call.get("arguments")
    try:
        return json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return raw


def parse_reply(text: str) -> tuple[str, list[ToolCall]]:
    """The reply's words and its tool call (see the module's invariant)."""
    try:
        data = json.loads(text)
    except ValueError:
        return text, []
    if isinstance(data, dict) and isinstance(data.get("tool"), str):
        return "", [tool_call_of(data["tool"], data.get("arguments", {}))]
    if isinstance(data, dict) and isinstance(data.get("answer"), str):
        return data["answer"], []
    return text, []


def handler_calls(message: dict[str, Any]) -> list[ToolCall]:
    """The tool calls of a reply from llama-cpp-python's own function-calling handler
    (a `chat_format` such as chatml-function-calling): the API's form."""
    calls = []
    for c in message.get("tool_calls") or []:
        fn = c.get("function") or {}
        calls.append(tool_call_of(str(fn.get("name", "")), fn.get("arguments") or "",
                                  str(c.get("id", ""))))
    return calls
