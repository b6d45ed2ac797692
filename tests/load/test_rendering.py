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


# ------------------------------------------------- renders that skip Jinja (rendering.py)

SKIPPED_TEMPLATES = [
    "Ticket: {{ ticket }}",  # plain: literal text and names
    "{{ ticket }}{{ ticket }} and {{ n }}",
    "{{ self }}",  # Jinja's own name: never taken from the vars
    "One of {{ teams | join(', ') }}.",  # remembered per value of `teams`
    "{% for t in teams %}{{ loop.index }}. {{ t }}\n{% endfor %}{{ n + 1 if n is number }}",
    "{{ teams }} {{ n }}",
    "{{ teams | length }} {{ n }}",
    "{{ missing | default('none') }} {{ n is defined }}",
]
VALUES = [
    {"ticket": "lost parcel", "teams": ["billing", "shipping"], "n": 1},
    {"ticket": "lost parcel", "teams": ["billing", "shipping"], "n": 1.0},  # 1.0 != 1
    {"ticket": "x", "teams": ["billing"], "n": True},
    {"ticket": 7, "teams": ("a", "b"), "n": -0.0},
    {"ticket": 7, "teams": ("a", "b"), "n": 0.0},  # 0.0 != -0.0
    {"ticket": None, "teams": [{"k": 1}, {"k": 1.0}], "n": 10**30},
    {"ticket": False, "teams": {"b": 1, "a": 2}, "n": float("nan")},
    {"ticket": "", "teams": {"a": 2, "b": 1}, "n": 3},  # same mapping, other order
    {"ticket": ["a"], "teams": [], "n": 0},
]


@pytest.mark.parametrize("template", SKIPPED_TEMPLATES)
def test_a_render_that_skips_jinja_gives_jinja_s_text(make_project, template):
    """Each prompt renders every value set three times over (plain templates skip Jinja,
    others are remembered after their first render): every text is the one Jinja
    renders from the same values, whatever rendered before it."""
    import json

    from promptctl.load import templates

    make_project({"prompts/s.yaml": "prompts: {q: {messages: [{role: system, content: "
                  f"{json.dumps(template)}}}, {{role: user, content: 'Q'}}]}}}}\n"})
    ref = load_project().prompt("s.q")
    jinja = templates.environment("prompts")
    for _ in range(3):
        for values in VALUES:
            expected = jinja.from_string(template).render(values)
            assert render_messages(ref, values)[0]["content"] == expected, values


def test_a_missing_name_in_a_plain_template_is_still_jinja_s_error(make_project):
    make_project({"prompts/s.yaml": "prompts: {q: {template: 'Q: {{ q }}'}}\n"})
    ref = load_project().prompt("s.q")
    assert render_messages(ref, {"q": "a"}) == [{"role": "user", "content": "Q: a"}]
    with pytest.raises(UserError, match="'q' is undefined") as exc:
        render_messages(ref, {}, file="suites/x.yaml", line=7, case="c1")
    assert exc.value.location == "prompts/s.yaml:1"
    assert "prompt 's.q' (case 'c1' of suites/x.yaml:7)" in exc.value.message


def test_the_character_budget_covers_texts_that_skip_jinja(make_project):
    """Two plain messages of 15 characters under max_prompt_chars 20: the second passes
    the budget, named as Jinja's render names it, however many times it renders."""
    make_project({
        "promptctl.yaml": "limits: {max_prompt_chars: 20}\n",
        "prompts/s.yaml": "prompts:\n  q:\n    messages:\n"
                          "      - {role: system, content: 'System: {{ a }}'}\n"
                          "      - {role: user, content: 'Ticket: {{ b }}'}\n"})
    ref = load_project().prompt("s.q")
    assert render_messages(ref, {"a": "x", "b": "y"})[1]["content"] == "Ticket: y"
    for _ in range(2):
        with pytest.raises(UserError, match=r"messages\[1\].*longer than 20 characters"):
            render_messages(ref, {"a": "1234567", "b": "1234567"})


def test_a_random_template_is_never_remembered(make_project):
    make_project({"prompts/s.yaml":
                  "prompts: {q: {template: '{{ range(1000) | random }}'}}\n"})
    ref = load_project().prompt("s.q")
    assert len({render_messages(ref, {})[0]["content"] for _ in range(20)}) > 1
