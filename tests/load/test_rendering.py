"""Rendering: sandboxed Jinja, strict variables, includes and macros, few-shot turns."""

from __future__ import annotations

import pytest

from promptctl.errors import UserError
from promptctl.load.project import load_project
from promptctl.load.rendering import render_messages


def test_messages_examples_and_defaults(make_project):
    make_project({"prompts/s.yaml": """
        prompts:
          triage:
            vars: {teams: [billing, shipping]}
            examples:
              - {user: "Ticket: card charged", assistant: billing}
              - {user: "Ticket: {{ example }}", assistant: shipping}
            messages:
              - {role: system, content: "One of {{ teams | join('/') }}."}
              - {role: user, content: "Ticket: {{ ticket }}"}
        """})
    ref = load_project().prompt("s.triage")
    msgs = render_messages(ref, {"ticket": "lost parcel", "example": "late box"})
    assert msgs == [
        {"role": "system", "content": "One of billing/shipping."},
        {"role": "user", "content": "Ticket: card charged"},
        {"role": "assistant", "content": "billing"},
        {"role": "user", "content": "Ticket: late box"},
        {"role": "assistant", "content": "shipping"},
        {"role": "user", "content": "Ticket: lost parcel"},
    ]
    # case vars override prompt defaults
    msgs = render_messages(ref, {"ticket": "x", "example": "y", "teams": ["a"]})
    assert msgs[0]["content"] == "One of a."


def test_template_form_is_one_user_message(make_project):
    make_project({"prompts/s.yaml": "prompts: {q: {template: 'Q: {{ q }}'}}\n"})
    assert render_messages(load_project().prompt("s.q"), {"q": "why"}) == [
        {"role": "user", "content": "Q: why"}]


def test_includes_and_macros_resolve_inside_prompts(make_project):
    make_project({
        "prompts/partials/rules.j2": "Rules: be brief.",
        "prompts/macros.j2": "{% macro bullet(items) %}{% for i in items %}- {{ i }}\n"
                             "{% endfor %}{% endmacro %}",
        "prompts/s.yaml": """
            prompts:
              q:
                template: |
                  {% include "partials/rules.j2" %}
                  {% import "macros.j2" as m %}
                  {{ m.bullet(points) }}
            """,
    })
    text = render_messages(load_project().prompt("s.q"), {"points": ["a", "b"]})[0]["content"]
    assert "Rules: be brief." in text
    assert "- a\n- b" in text


def test_undefined_variable_names_the_template_line_and_the_case(make_project):
    make_project({"prompts/s.yaml": "prompts: {q: {template: 'Q: {{ q }}'}}\n"})
    with pytest.raises(UserError, match="'q' is undefined") as exc:
        render_messages(load_project().prompt("s.q"), {}, file="suites/x.yaml", line=7,
                        case="c1")
    assert exc.value.location == "prompts/s.yaml:1"
    assert "prompt 's.q' (case 'c1' of suites/x.yaml:7)" in exc.value.message


def test_sandbox_blocks_attribute_escapes(make_project):
    make_project({"prompts/s.yaml":
                  "prompts: {q: {template: \"{{ ''.__class__.__mro__[1].__subclasses__() }}\"}}\n"})
    with pytest.raises(UserError, match=r"sandbox|unsafe|undefined"):
        render_messages(load_project().prompt("s.q"), {})


def test_missing_include_is_a_user_error(make_project):
    make_project({"prompts/s.yaml": "prompts: {q: {template: '{% include \"nope.j2\" %}'}}\n"})
    with pytest.raises(UserError, match=r"'nope\.j2' not found"):
        render_messages(load_project().prompt("s.q"), {})


def test_syntax_error_in_a_block_template_points_at_its_line(make_project):
    make_project({"prompts/s.yaml": "prompts:\n  q:\n    template: |\n      line one\n"
                                    "      {% if x %}\n      never closed\n"})
    with pytest.raises(UserError, match="template syntax error") as exc:
        load_project().prompts  # noqa: B018
    assert exc.value.file == "prompts/s.yaml"
    assert exc.value.line is not None and 4 <= exc.value.line <= 7
