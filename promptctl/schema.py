"""The shapes of everything a user writes: promptctl.yaml, prompts/*.yaml, suites/*.yaml.

Every model forbids unknown keys so that a typo ("tempreature") is an error with a
line number instead of a silently ignored setting.

Start-up: every model (`Model`) is built on first use (defer_build), with pydantic's
plugins off: looking for them reads the entry points of every installed distribution
(14-40 ms here), and promptctl's own shapes want none.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from .errors import UserError, quote

_PLUGINS_OFF = "PYDANTIC_DISABLE_PLUGINS"
_plugins_lock = threading.RLock()


@contextlib.contextmanager
def plugins_off() -> Iterator[None]:
    """pydantic's plugins off while validators are built (as typer does for its own):
    pydantic reads the variable when it builds one, never when it validates."""
    with _plugins_lock:
        previous = os.environ.get(_PLUGINS_OFF)
        os.environ[_PLUGINS_OFF] = "1"
        try:
            yield
        finally:
            if previous is None:
                del os.environ[_PLUGINS_OFF]
            else:
                os.environ[_PLUGINS_OFF] = previous


class Model(BaseModel):
    """The base of promptctl's pydantic models (here and in artifacts.py): built on
    first use, without plugins."""

    model_config = ConfigDict(defer_build=True)

    @classmethod
    def model_rebuild(cls, *, force: bool = False, raise_errors: bool = True,
                      _parent_namespace_depth: int = 2, _types_namespace: Any = None
                      ) -> bool | None:
        # pydantic builds a deferred model through this method, on first use
        with plugins_off():
            return super().model_rebuild(force=force, raise_errors=raise_errors,
                                         _parent_namespace_depth=_parent_namespace_depth + 1,
                                         _types_namespace=_types_namespace)


class Strict(Model):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _listify(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


StrList = Annotated[list[str], BeforeValidator(_listify)]


def _response_format(value: Any) -> Any:
    """Accept `json`, `{type: json_object}`, `{type: json_schema, schema: {...}}` and
    OpenAI's `{type: json_schema, json_schema: {schema: {...}}}`; keep one canonical form."""
    if value is None:
        return None
    if value in ("json", "json_object"):
        return {"type": "json_object"}
    if value == "text":
        return None
    if not isinstance(value, dict):
        raise ValueError("response_format must be 'json' or a mapping with a 'type'")
    kind = value.get("type")
    if kind == "text":
        return None
    schema = value.get("schema")
    strict = value.get("strict")
    if isinstance(value.get("json_schema"), dict):
        schema = value["json_schema"].get("schema", schema)
        strict = value["json_schema"].get("strict", strict)
    if kind == "json_object" and schema is None:
        return {"type": "json_object"}
    if kind in ("json_object", "json_schema"):
        if not isinstance(schema, dict):
            raise ValueError("response_format of type json_schema needs a 'schema' mapping")
        _check_json_schema(schema)
        out: dict[str, Any] = {"type": "json_schema", "schema": schema}
        if strict is not None:  # OpenAI's strict mode: every property required, no extras
            out["strict"] = bool(strict)
        return out
    raise ValueError(f"unknown response_format type {quote(kind)}: use json_object or json_schema")


def _check_json_schema(schema: dict[str, Any]) -> None:
    """A response_format schema must itself be a valid JSON Schema."""
    import jsonschema  # only when a project declares a schema: lint and --help stay fast

    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path)
        raise ValueError(f"response_format schema is not a valid JSON Schema"
                         f"{f' at {where}' if where else ''}: {exc.message}") from None


def _url(value: Any) -> Any:
    """base_url: an http(s) URL with a host, e.g. http://127.0.0.1:8080/v1."""
    if value is None:
        return None
    from .redact import is_http_url, redact_url  # never quote a URL's credentials

    if not is_http_url(str(value)):
        raise ValueError(f"base_url '{redact_url(str(value))}' is not a valid http(s) URL "
                         "with a host, e.g. http://127.0.0.1:8080/v1")
    return value


def _not_blank(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        raise ValueError("must not be empty")
    return value


def _none_is_empty(value: Any) -> Any:
    """`defaults:` or `vars:` with nothing under it (or only a comment) is empty."""
    return {} if value is None else value


NonBlank = Annotated[str, BeforeValidator(_not_blank)]
VarMap = Annotated[dict[str, Any], BeforeValidator(_none_is_empty)]


# -- case metadata and tags: what `-k KEY=VALUE` / `-k tag:NAME` select on (load/filters.py)

_META_KEY = re.compile(r"[^\s=,:!]+")


def _meta_key(key: str) -> str:
    if not _META_KEY.fullmatch(key):
        raise ValueError("a metadata key is one word without spaces, '=', ',', ':' or "
                         "'!' (-k KEY=VALUE must be able to name it)")
    return key


def _meta_value(value: Any, depth: int = 0) -> Any:
    """JSON values only: they are written to records and reports as they are."""
    if depth > 100:
        raise ValueError("a metadata value is nested more than 100 levels deep")
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("a metadata value must be a finite number")
        return value
    if isinstance(value, list):
        for item in value:
            _meta_value(item, depth + 1)
        return value
    if isinstance(value, dict):
        for k, item in value.items():
            if not isinstance(k, str):
                raise ValueError(f"a key in a metadata value must be text, got {quote(k)}")
            _meta_value(item, depth + 1)
        return value
    raise ValueError(f"a metadata value is text, a number, true/false, null, a list or "
                     f"a mapping, not a {type(value).__name__} ({value}): quote it")


def _tag(value: str) -> str:
    value = value.strip()
    if not value or "," in value:
        raise ValueError("a tag is a non-empty name without commas: write several tags "
                         "as a list")
    return value


Metadata = Annotated[dict[Annotated[str, AfterValidator(_meta_key)],
                          Annotated[Any, AfterValidator(_meta_value)]],
                     BeforeValidator(_none_is_empty)]
Tags = Annotated[list[Annotated[str, AfterValidator(_tag)]], BeforeValidator(_listify)]
# $/token; batch_input/batch_output: what a call through a batch API costs (run/batch.py)
Price = dict[Literal["input", "output", "batch_input", "batch_output"],
             Annotated[float, Field(ge=0)]]


class Params(Strict):
    """Generation parameters; each level of the merge only sets what it names."""

    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    top_k: int | None = Field(None, ge=0)
    max_tokens: int | None = Field(None, ge=1)
    seed: int | None = None
    stop: StrList | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    response_format: Annotated[dict[str, Any] | None, BeforeValidator(_response_format)] = None
    logprobs: bool | None = None  # ask hosted models for the reply's token logprobs

    def set_values(self) -> dict[str, Any]:
        if not self.model_fields_set:  # most levels set nothing: no dump needed
            return {}
        return self.model_dump(exclude_unset=True, exclude_none=True)


class BatchLimits(Strict):
    """How a batch model's calls are sent (run/batch.py): the API's limits per input
    file (a bigger plan is split) and how often a batch is polled."""

    max_requests: int = Field(50_000, ge=1)  # lines per input file
    max_bytes: int = Field(200 * 1024 * 1024, ge=1024)  # bytes per input file
    poll_seconds: float = Field(5.0, gt=0)  # the first wait; grows by half up to the max
    poll_max_seconds: float = Field(60.0, gt=0)


class ModelEntry(Strict):
    provider: str
    model: str | None = None
    base_url: Annotated[str | None, BeforeValidator(_url)] = None
    api_key: str | None = Field(None, repr=False)
    api_key_env: str | None = None
    params: Params = Field(default_factory=Params)
    concurrency: int | None = Field(None, ge=1)
    timeout: float = Field(120.0, gt=0)
    max_retries: int = Field(2, ge=0)
    n_ctx: int | None = Field(None, ge=64)
    n_threads: int | None = Field(None, ge=1)
    n_gpu_layers: int | None = None
    # llama-cpp: a llama-cpp-python chat handler instead of the GGUF's own template
    # (e.g. chatml-function-calling: its function calling; docs/tools.md)
    chat_format: NonBlank | None = None
    price: Price | None = None  # {input: $/token, output: $/token}, each >= 0
    # an openai model's uncached calls through the OpenAI Batch API (run/batch.py)
    batch: bool = False
    batch_limits: BatchLimits = Field(default_factory=BatchLimits)
    # as a judge: the lowest kappa against reviews/ that `calibrate --gate` accepts
    min_kappa: float | None = Field(None, ge=-1, le=1)

    @model_validator(mode="after")
    def _batch_is_openai(self) -> ModelEntry:
        if self.batch and self.provider != "openai":
            raise ValueError(f"batch: true needs provider openai (this is {self.provider}): "
                             "only the OpenAI Batch API is supported")
        return self


class Paths(Strict):
    prompts: str = "prompts"
    suites: str = "suites"
    baselines: str = "baselines"
    reviews: str = "reviews"  # human labels, reviews/<suite>.yaml (load/reviews.py)
    state: str = ".promptctl"


class CacheSettings(Strict):
    max_mb: float | None = Field(1024.0, gt=0)  # least recently used entries go past it


class Limits(Strict):
    """Bounds on the work a (possibly hostile) project can ask for: every check and
    render ends in bounded time and size. Past a limit a check fails with reason
    "timed out"; a render is exit 2 naming the template."""

    check_timeout: float = Field(30.0, gt=0)  # seconds per assertion / python check
    render_timeout: float = Field(10.0, gt=0)  # seconds to render one prompt
    max_prompt_chars: int = Field(1_000_000, ge=1)  # characters of one rendered prompt


class Budget(Strict):
    """A run's spend limits (run/budget.py); --max-cost / --max-tokens win over them."""

    max_cost: float | None = Field(None, ge=0)  # dollars, priced by the models' `price`
    max_tokens: int | None = Field(None, ge=0)  # prompt + completion tokens
class Tracing(Strict):
    """`tracing:` in promptctl.yaml: every run exports its spans over OTLP/HTTP
    (run/tracing.py, docs/tracing.md). OTEL_EXPORTER_OTLP_ENDPOINT wins over `endpoint`."""

    endpoint: str | None = None  # http(s)://HOST:4318; /v1/traces is added
    contents: bool = False  # prompts, outputs and assertion reasons in the spans
    headers: dict[str, str] = Field(default_factory=dict)  # sent to the collector only

    @field_validator("endpoint")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        from .redact import is_http_url, redact_url  # deferred: only with `tracing:`

        if value is not None and not is_http_url(value):
            raise ValueError(f"tracing.endpoint {redact_url(value)!r} is not an http(s) "
                             "URL (e.g. http://localhost:4318)")
        return value


class ProjectConfig(Strict):
    description: str | None = None
    models: dict[NonBlank, ModelEntry] = Field(default_factory=dict)
    judge: str | None = None  # model alias for llm-rubric, factuality, answer-relevance
    embedder: str | None = None  # model alias for `similar`
    paths: Paths = Field(default_factory=Paths)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    limits: Limits = Field(default_factory=Limits)
    assert_sets: AssertSets = Field(default_factory=dict)  # NAME: [assertion, ...]
    budget: Budget = Field(default_factory=Budget)
    tracing: Tracing | None = None  # OTLP spans of every run (run/tracing.py)


Role = Literal["system", "user", "assistant"]


class Message(Strict):
    role: Role
    content: str


class Example(Strict):
    """One few-shot turn: a user message and the assistant's answer."""

    user: str
    assistant: str



TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # what the OpenAI API accepts


def _tool_shorthand(value: Any) -> Any:
    """`{name, description, parameters}` is the short form of OpenAI's
    `{type: function, function: {name, description, parameters}}`."""
    if isinstance(value, dict) and "function" not in value and "name" in value:
        return {"type": "function", "function": value}
    return value


def _json_schema(value: Any) -> Any:
    """A tool's `parameters` must be a JSON Schema (jsonschema's own meta-schema check)
    describing an object: the arguments are always an object."""
    if not isinstance(value, dict):
        raise ValueError("a tool's 'parameters' must be a JSON Schema mapping, e.g. "
                         "{type: object, properties: {city: {type: string}}}")
    from jsonschema import exceptions, validators  # deferred: only prompts with tools

    try:
        validators.validator_for(value).check_schema(value)
    except exceptions.SchemaError as exc:
        where = "/".join(str(p) for p in exc.path)
        raise ValueError(f"'parameters' is not a valid JSON Schema"
                         f"{' at ' + where if where else ''}: {exc.message}") from None
    if value.get("type", "object") != "object":
        raise ValueError("a tool's 'parameters' must describe an object "
                         "(type: object): arguments are always named")
    return value


class ToolFunction(Strict):
    name: str
    description: str | None = None
    parameters: Annotated[dict[str, Any], AfterValidator(_json_schema)] = Field(
        default_factory=lambda: {"type": "object", "properties": {}})
    strict: bool | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not TOOL_NAME.match(value):
            raise ValueError(f"tool name {quote(value)} must be 1-64 letters, digits, "
                             "'_' or '-'")
        return value


class ToolSpec(Strict):
    """One function tool, as the OpenAI API takes it (the short form without
    `type`/`function` is accepted). Its strings are templates of the case's vars."""

    type: Literal["function"] = "function"
    function: ToolFunction


Tool = Annotated[ToolSpec, BeforeValidator(_tool_shorthand)]


class ToolChoiceFunction(Strict):
    name: str


class ToolChoiceSpec(Strict):
    type: Literal["function"] = "function"
    function: ToolChoiceFunction


def _tool_choice_shorthand(value: Any) -> Any:
    """`{name: X}` (or `{function: X}`) is the short form of
    `{type: function, function: {name: X}}`."""
    if isinstance(value, dict) and "name" in value and "function" not in value:
        return {"type": "function", "function": {"name": value["name"]},
                **{k: v for k, v in value.items() if k not in ("name", "type")}}
    if isinstance(value, dict) and isinstance(value.get("function"), str):
        return {**value, "function": {"name": value["function"]}}
    return value


ToolChoice = Annotated[Literal["auto", "none", "required"] | ToolChoiceSpec,
                       BeforeValidator(_tool_choice_shorthand)]


BODY_KEYS = ("template", "messages", "template_file", "messages_file")


class Prompt(Strict):
    """A prompt's body is one of: `template` (one user message), `messages`, or the
    same in a file of its own under prompts/ (`template_file`: a Jinja template;
    `messages_file`: a .json/.yaml list of messages), which load/bodies.py reads."""

    description: str | None = None
    version: int | str | None = None
    tags: StrList = Field(default_factory=list)
    template: str | None = None
    messages: list[Message] | None = None
    template_file: NonBlank | None = None
    messages_file: NonBlank | None = None
    examples: list[Example] = Field(default_factory=list)
    vars: VarMap = Field(default_factory=dict)
    params: Params = Field(default_factory=Params)
    tools: list[Tool] = Field(default_factory=list)  # function tools (docs/tools.md)
    tool_choice: ToolChoice | None = None  # auto (the default with tools), none, ...

    @model_validator(mode="after")
    def _tools(self) -> Prompt:
        names = [t.function.name for t in self.tools]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"tool {quote(twice[0])} is declared twice: tool names "
                             "must be unique within a prompt")
        if self.tool_choice is not None and not self.tools:
            raise ValueError("'tool_choice' without 'tools': declare the tools")
        if isinstance(self.tool_choice, ToolChoiceSpec) and \
                self.tool_choice.function.name not in names:
            raise ValueError(f"tool_choice names {quote(self.tool_choice.function.name)}, "
                             f"which is not one of the prompt's tools ({', '.join(names)})")
        return self

    @model_validator(mode="after")
    def _one_body(self) -> Prompt:
        given = [key for key in BODY_KEYS if getattr(self, key) is not None]
        if len(given) != 1:
            also = f" (it has {' and '.join(repr(k) for k in given)})" if given else ""
            raise ValueError("a prompt needs exactly one of 'template', 'messages', "
                             f"'template_file' or 'messages_file'{also}")
        if self.messages is not None and not self.messages:
            raise ValueError("'messages' is empty: add at least one message")
        return self


class MessagesFile(Strict):
    """A `messages_file`'s list, validated as `messages` is (load/bodies.py)."""

    messages: list[Message] = Field(min_length=1)


class PromptCollection(Strict):
    name: NonBlank | None = None
    description: str | None = None
    prompts: dict[NonBlank, Prompt] = Field(min_length=1)


class AssertionSpec(Model):
    """An assertion as written. Options beyond the common keys (max_words, ...) are
    checked against the assertion type's own list when the suite is resolved."""

    model_config = ConfigDict(extra="allow")

    type: str
    value: Any = None
    threshold: float | None = None
    weight: float = Field(1.0, ge=0)
    metric: str | None = None
    transform: str | None = None
    max_drop: float | None = Field(None, ge=0, le=1)  # tolerated score drop vs the baseline
    timeout: float | None = Field(None, gt=0)  # seconds; default limits.check_timeout
    # in a conversation: the turn it checks (1-based), every turn, or the last (None)
    turn: Annotated[int, Field(ge=1, strict=True)] | Literal["each", "last"] | None = None

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class UseSets(Strict):
    """`{use: NAME}` or `{use: [A, B]}` in an assert list: the assertions of the named
    assertion sets, in place (load/expand.py). It takes no other key."""

    use: Annotated[list[NonBlank], BeforeValidator(_listify), Field(min_length=1)]


# The two kinds of an assert list's item. The tags appear in pydantic's error locations;
# load/validate.py drops them (no key a user writes looks like them).
ITEM_TAGS = ("[assertion]", "[use]")


def _item_kind(value: Any) -> str:
    return ITEM_TAGS[1] if isinstance(value, dict) and "use" in value else ITEM_TAGS[0]


AssertItem = Annotated[
    Annotated[AssertionSpec, Tag(ITEM_TAGS[0])] | Annotated[UseSets, Tag(ITEM_TAGS[1])],
    Discriminator(_item_kind)]
AssertList = list[AssertItem]
# `matrix: {KEY: [VALUE, ...]}`: one case per combination (load/expand.py)
Matrix = Annotated[dict[NonBlank, Annotated[list[Any], Field(min_length=1)]],
                   BeforeValidator(_none_is_empty)]
AssertSets = dict[NonBlank, Annotated[AssertList, Field(min_length=1)]]


# -- perturb: perturbed variants of cases (load/variants.py expands them) -------------

_PERTURB_ID = re.compile(r"[\w.-]+")
PERTURB_KEYS = ("type", "id", "vars", "seed", "max_drop", "function", "timeout")


def _perturb_item(value: Any) -> Any:
    """`- typos` is `- {type: typos}`: the family with its defaults."""
    if isinstance(value, str):
        return {"type": value}
    if isinstance(value, dict) and "params" in value:
        raise ValueError("a perturbation's family params are written beside 'type' "
                         "(type: typos, rate: 0.1), not under 'params'")
    return value


def _perturb_id(value: Any) -> Any:
    if value is None:
        return None
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not _PERTURB_ID.fullmatch(text):
        raise ValueError("a perturbation id is one word of letters, digits, '-', '_' and "
                         "'.' (it ends the variant's case id: CASE~ID)")
    return text


def _seed(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"seed must be a whole number, got {quote(value)}")
    return value


class PerturbSpec(BaseModel):
    """One perturbation as written: `type` (a family, or `custom` with `function:
    path.py:fn`), `id` (the variant's suffix, default the type), `vars` (default: every
    string var the suite's prompts read), `seed`, `max_drop` (robust's gate), and the
    family's own params beside them (`rate: 0.1`), which the loader validates against
    the family (promptctl.perturb.check_params) and stores, defaults filled in, in
    `params`. Two specs are the same perturbation when their dumps are equal."""

    model_config = ConfigDict(extra="allow")

    type: NonBlank
    id: Annotated[str, BeforeValidator(_perturb_id)] = ""  # "": the type
    vars: StrList | None = None
    seed: Annotated[int, BeforeValidator(_seed)] = 0
    max_drop: float | None = Field(None, ge=0, le=1)
    function: NonBlank | None = None  # custom: path.py:fn or module:fn, fn(text, rng)
    timeout: float | None = Field(None, gt=0)  # custom: seconds; limits.check_timeout
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _fill(self) -> PerturbSpec:
        if not self.id:
            self.id = self.type  # a family's name is a valid id; an unknown one is refused
        if self.type == "custom":
            if self.function is None:
                raise ValueError("a 'custom' perturbation needs 'function: "
                                 "path/to/file.py:function' (called as fn(text, rng))")
        elif self.function is not None or self.timeout is not None:
            key = "function" if self.function is not None else "timeout"
            raise ValueError(f"'{key}' is for 'type: custom' only")
        if not self.params:
            self.params = dict(self.model_extra or {})
        return self


PerturbList = list[Annotated[PerturbSpec, BeforeValidator(_perturb_item)]]


ToolResults = dict[Annotated[str, Field(pattern=TOOL_NAME.pattern)], Any]


class CaseDefaults(Strict):
    vars: VarMap = Field(default_factory=dict)
    assert_: AssertList = Field(default_factory=list, alias="assert")
    matrix: Matrix = Field(default_factory=dict)
    params: Params = Field(default_factory=Params)
    threshold: float | None = Field(None, ge=0, le=1)
    metadata: Metadata = Field(default_factory=dict)  # merged key by key under a case's
    tags: Tags = Field(default_factory=list)  # unioned with a case's
    perturb: PerturbList | None = None  # replaces the suite's
    tool_results: ToolResults = Field(default_factory=dict)  # merged under a case's


class CaseSpec(Strict):
    """A case, or (with `from`) a data file whose rows are cases; a `from` entry's `id`
    is a prefix of its rows' ids (`PREFIX/ROW`)."""

    id: NonBlank | int | None = None
    description: str | None = None
    from_: NonBlank | None = Field(None, alias="from")
    vars: VarMap = Field(default_factory=dict)
    assert_: AssertList = Field(default_factory=list, alias="assert")
    matrix: Matrix = Field(default_factory=dict)
    params: Params = Field(default_factory=Params)
    threshold: float | None = Field(None, ge=0, le=1)
    metadata: Metadata = Field(default_factory=dict)  # with `from`: every row's
    tags: Tags = Field(default_factory=list)
    perturb: PerturbList | None = None  # replaces what it inherits; [] opts out
    # a conversation (run/turns.py): user messages after the prompt's own, one a turn
    turns: Annotated[list[str], Field(min_length=1)] | None = None
    # canned answers to the model's tool calls: tool name -> a template (or a value,
    # sent as JSON) of the case's vars and the call's `args`
    tool_results: ToolResults = Field(default_factory=dict)

    @model_validator(mode="after")
    def _id_or_from(self) -> CaseSpec:
        if self.from_ is None and self.id is None:
            raise ValueError("a case needs an 'id' (or 'from: FILE' for a data file)")
        return self


class Gate(Strict):
    """A suite's consistency gate over its repeats (docs/passk.md): `check` fails the
    suite when its pass^k / pass@k is significantly below the threshold, or dropped
    significantly from a baseline with repeats. The keys are written as they read,
    `pass^k` and `pass@k` (no other spelling); `k` defaults to the run's smallest
    number of samples per cell."""

    model_config = ConfigDict(extra="forbid", populate_by_name=False)

    pass_hat_k: float | None = Field(None, alias="pass^k", ge=0, le=1)  # all k pass
    pass_at_k: float | None = Field(None, alias="pass@k", ge=0, le=1)  # any of k passes
    k: int | None = Field(None, ge=1, strict=True)

    @model_validator(mode="after")
    def _a_threshold(self) -> Gate:
        if self.pass_hat_k is None and self.pass_at_k is None:
            raise ValueError("a gate needs 'pass^k' and/or 'pass@k', each a share from 0 "
                             "to 1, e.g. gate: {pass^k: 0.9}")
        return self


class SuiteSpec(Strict):
    description: str | None = None
    prompts: Annotated[StrList, Field(min_length=1)]
    models: Annotated[StrList, Field(min_length=1)] | None = None
    repeat: int | str = 1  # a count, or "auto": sample more only where uncertain
    params: Params = Field(default_factory=Params)
    defaults: Annotated[CaseDefaults, BeforeValidator(_none_is_empty)] = Field(
        default_factory=CaseDefaults)
    cases: list[CaseSpec] = Field(min_length=1)
    tags: StrList = Field(default_factory=list)
    assert_sets: AssertSets = Field(default_factory=dict)  # shadow promptctl.yaml's
    # tolerated drop vs the baseline, for assertion scores and named metrics
    max_drop: float | None = Field(None, ge=0, le=1)
    perturb: PerturbList | None = None  # every case's perturbed variants
    # a .csv/.jsonl file of rows `id` + vars, merged into the vars of the case with that
    # id (the case's own vars win): what `review promote --to FILE` writes
    references: str | None = None
    gate: Gate | None = None  # pass^k / pass@k thresholds (docs/passk.md)

    @field_validator("repeat", mode="before")
    @classmethod
    def _repeat(cls, value: Any) -> int | str:
        if value == "auto":
            return "auto"
        if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            return value
        raise ValueError(f"repeat must be a whole number >= 1 or 'auto', got {quote(value)}")


# -- --shard I/N: written on the command line, recorded in meta.json -------------------

_SHARD = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


def parse_shard(text: str) -> tuple[int, int]:
    """'2/3' -> (2, 3). I is 1-based: 1 <= I <= N."""
    m = _SHARD.fullmatch(text or "")
    if m is None:
        raise UserError(f"bad --shard '{text}'", hint="write I/N with 1 <= I <= N, e.g. 2/3")
    index, count = int(m.group(1)), int(m.group(2))
    if count < 1 or not 1 <= index <= count:
        why = "N must be at least 1" if count < 1 else f"I must be between 1 and {count}"
        raise UserError(f"bad --shard '{text}': {why}",
                        hint="write I/N with 1 <= I <= N, e.g. 2/3; shards count from 1")
    return index, count


def format_shard(shard: tuple[int, int] | None) -> str | None:
    return f"{shard[0]}/{shard[1]}" if shard else None


# -- reviews/<suite>.yaml: human labels of outputs (load/reviews.py) -----------------

# a label's output digest and time (reviews/ files, the review page's labels file)
SHA256 = re.compile(r"[0-9a-f]{64}")
UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def _sha256(value: Any) -> Any:
    if not isinstance(value, str) or not SHA256.fullmatch(value):
        raise ValueError("output_sha256 must be 64 lowercase hex digits (the sha256 of the "
                         "output text)")
    return value


def _utc(value: Any) -> Any:
    if not isinstance(value, str) or not UTC.fullmatch(value):
        raise ValueError(f"at must be a UTC time like 2026-12-02T22:40:00Z, got {quote(value)}")
    return value


class LabelSpec(Strict):
    """One human label: a verdict on one exact output of one (case, prompt, model)."""

    case: NonBlank
    prompt: NonBlank
    model: NonBlank
    output_sha256: Annotated[str, BeforeValidator(_sha256)]
    verdict: Literal["pass", "fail"]
    score: float | None = Field(None, ge=0, le=1)
    note: str | None = None
    by: NonBlank
    at: Annotated[str, BeforeValidator(_utc)]
    output: str | None = None


class ReviewsFile(Strict):
    version: Literal[1] = 1
    suite: NonBlank
    labels: list[LabelSpec] = Field(default_factory=list)
