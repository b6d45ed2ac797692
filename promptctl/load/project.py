"""Load a project: promptctl.yaml, prompt collections, suites and their data files.

Every problem in what the user wrote becomes a UserError naming file:line and a fix.
Loading is lazy: `lint` and `render` never touch a model or a provider module.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import jinja2
from pydantic import BaseModel

from ..boundary import display_path, project_boundary, safe_path
from ..errors import UserError, suggest
from ..schema import (
    Message,
    ModelEntry,
    Params,
    ProjectConfig,
    Prompt,
    PromptCollection,
)
from . import bodies, templates
from .validate import validate
from .yamlsrc import Loc, Source, load_yaml

if TYPE_CHECKING:
    from ..providers import Provider

CONFIG_NAMES = ("promptctl.yaml", "promptctl.yml")
YAML_SUFFIXES = (".yaml", ".yml")
DEFAULT_MODEL = ModelEntry(provider="llama-cpp", model="builtin:smollm2",
                           params=Params(temperature=0, seed=0))

M = TypeVar("M", bound=BaseModel)


class PromptText(NamedTuple):
    """One template text of a prompt, and where it is written: `file` is the
    collection, or the prompt's template_file / messages_file; `line` the line of
    that file the text is written at, `layout` how it lies there (templates.YAML,
    WHOLE, ONE_LINE), so that a line of the text maps to a line of the file."""

    what: str  # "template", "messages[0]", "examples[1].user"
    text: str
    loc: Loc  # where the collection names it (a body file's text: its *_file key)
    file: str
    line: int | None
    layout: str = templates.YAML

    def line_of(self, lineno: int | None) -> int | None:
        """The file's line of line `lineno` (from 1) of the text."""
        return templates._line_in_file(self.text, self.line, lineno, self.layout)


@dataclass
class PromptRef:
    """A prompt found in a collection, with where it was written; `body` is its
    template_file or messages_file, read (bodies.py)."""

    id: str
    spec: Prompt
    file: str
    source: Source
    loc: Loc
    body: bodies.BodyFile | None = None
    _compiled: dict[str, jinja2.Template] = field(default_factory=dict, repr=False)
    # how rendering.py may skip Jinja for its templates: worked out on first render
    _shapes: Any = field(default=None, repr=False, compare=False)
    _texts: list[PromptText] | None = field(default=None, repr=False, compare=False)
    # its tools as the API takes them, when no string in them is a template: the same
    # for every case (load/tools.py), so made once
    _static_tools: Any = field(default=None, repr=False, compare=False)

    @property
    def line(self) -> int | None:
        return self.source.line(self.loc, key=True)

    @property
    def template(self) -> str | None:
        """The one user message's template: written inline or in its template_file."""
        return self.body.template if self.body is not None else self.spec.template

    @property
    def messages(self) -> list[Message] | None:
        """The messages: written inline or in its messages_file."""
        return self.body.messages if self.body is not None else self.spec.messages

    def texts(self) -> list[PromptText]:
        """Every template text of the prompt, in order (worked out once)."""
        if self._texts is None:
            self._texts = list(_prompt_texts(self))
        return self._texts


class Project:
    """The loaded state of one promptctl project directory."""

    def __init__(self, root: Path, config: ProjectConfig, config_file: str | None,
                 config_source: Source | None) -> None:
        self.root = root
        self.config = config
        self.config_file = config_file
        self.config_source = config_source
        self._prompts: dict[str, PromptRef] | None = None
        self.prompt_files: list[str] = []

    # -- paths ---------------------------------------------------------------
    @functools.cached_property
    def boundary(self) -> Path:
        """Where project input may live (boundary.py): the git work tree holding the
        root, else the root."""
        return project_boundary(self.root)

    def check_input(self, path: Path, *, what: str, file: str | None = None,
                    line: int | None = None, written: str | None = None,
                    expect: str = "file") -> Path:
        """`path` resolved, if it may be read as project input (inside the boundary,
        a regular file or, with expect="dir", a directory); else a UserError naming it
        as written, where it resolves, and file:line that referenced it."""
        return safe_path(path, self.boundary, file=file, line=line, what=what,
                         written=written if written is not None else display_path(path),
                         expect=expect)

    def _check_dir(self, key: str) -> Path | None:
        """prompts/ or suites/ (paths.KEY), resolved, if it exists; it must resolve
        inside the boundary. The error names promptctl.yaml's line when it set the path."""
        path = self.root / getattr(self.config.paths, key)
        if not os.path.lexists(path):
            return None
        file = line = None
        if self.config_source is not None and key in self.config.paths.model_fields_set:
            file, line = self.config_file, self.config_source.line(("paths", key))
        real = self.check_input(path, what=f"{key} directory", file=file, line=line,
                                expect="dir")
        return real if real.is_dir() else None

    @property
    def prompts_dir(self) -> Path:
        return self.root / self.config.paths.prompts

    @property
    def suites_dir(self) -> Path:
        return self.root / self.config.paths.suites

    @property
    def state_dir(self) -> Path:
        return self.root / self.config.paths.state

    @property
    def baselines_dir(self) -> Path:
        return self.root / self.config.paths.baselines

    @functools.cached_property
    def env(self) -> jinja2.sandbox.SandboxedEnvironment:
        """The Jinja environment of prompts/ (one per project: finding it resolves a path,
        and every prompt, case and lint check asks for it)."""
        return templates.prompts_env(self.root, self.config.paths.prompts, self.boundary,
                                     self.config.limits)

    # -- prompts ---------------------------------------------------------------
    def prompt_paths(self) -> list[Path]:
        # every YAML-named entry, files or not: load_collection refuses the others
        if self._check_dir("prompts") is None:
            return []
        return sorted(p for p in self.prompts_dir.iterdir() if p.suffix in YAML_SUFFIXES)

    def load_collection(self, path: Path) -> dict[str, PromptRef]:
        file = display_path(path)
        self.check_input(path, what="prompt collection")
        data, src = load_yaml(path, file)
        if isinstance(data, list):
            raise src.error("a prompt collection is a mapping with 'prompts:', not a list",
                            hint="a list of messages for `messages_file:` goes in a "
                                 "subfolder of prompts/ (prompts/chats/NAME.yaml) or in "
                                 "a .json file")
        coll = validate(PromptCollection, data, src)
        name = coll.name or path.stem
        refs: dict[str, PromptRef] = {}
        for key, prompt in coll.prompts.items():
            ref = PromptRef(f"{name}.{key}", prompt, file, src, ("prompts", key))
            ref.body = bodies.load_body(prompt, collection=path, prompts_dir=self.prompts_dir,
                                        boundary=self.boundary, src=src, loc=ref.loc)
            compile_prompt(self.env, ref)
            check_prompt_includes(self.env, ref)
            refs[ref.id] = ref
        return refs

    @property
    def prompts(self) -> dict[str, PromptRef]:
        if self._prompts is None:
            found: dict[str, PromptRef] = {}
            for path in self.prompt_paths():
                refs = self.load_collection(path)
                for rid, ref in refs.items():
                    if rid in found:
                        raise UserError(f"prompt '{rid}' is defined twice (also in "
                                        f"{found[rid].file}:{found[rid].line})",
                                        file=ref.file, line=ref.line,
                                        hint="rename one of the collections or prompts")
                    found[rid] = ref
                self.prompt_files.append(display_path(path))
            self._prompts = found
        return self._prompts

    def prompt(self, name: str, *, file: str | None = None, line: int | None = None
               ) -> PromptRef:
        prompts = self.prompts
        if name in prompts:
            return prompts[name]
        matches = [p for p in prompts if p.split(".", 1)[1] == name]
        if len(matches) == 1:
            return prompts[matches[0]]
        configured = self.config_source.key_lines.get(("paths", "prompts")) \
            if self.config_source is not None else None
        if configured and not self.prompts_dir.is_dir():  # the culprit is the setting
            asked = f" (prompt '{name}' is asked for at {file}:{line})" if file else ""
            raise UserError(f"paths.prompts '{self.config.paths.prompts}': no such "
                            f"directory{asked}",
                            file=self.config_file, line=configured,
                            hint="fix the path, or create the directory")
        hint = suggest(name, prompts) or (
            "known prompts: " + ", ".join(sorted(prompts)) if prompts
            else f"no prompts found in {display_path(self.prompts_dir)}/")
        raise UserError(f"unknown prompt '{name}'", file=file, line=line, hint=hint)

    # -- models ----------------------------------------------------------------
    def model(self, name: str, *, file: str | None = None, line: int | None = None
              ) -> ModelEntry:
        """A model alias from promptctl.yaml, or a shorthand: builtin:smollm2,
        PATH.gguf, echo, PROVIDER:MODEL (e.g. openai:gpt-4o-mini)."""
        from ..providers import registry  # registry names only; no provider is imported

        if name in self.config.models:
            return self.config.models[name]
        if name == "default":
            return DEFAULT_MODEL
        if name.startswith("builtin:") or name.endswith(".gguf"):
            return ModelEntry(provider="llama-cpp", model=name,
                              params=Params(temperature=0, seed=0))
        provider, sep, model = name.partition(":")
        if sep and model and provider in registry.BUILTIN:  # no plugin scan: start-up
            return ModelEntry(provider=provider, model=model)
        if registry.is_known(name):
            return ModelEntry(provider=name, model=name)
        if sep and model and registry.is_known(provider):
            return ModelEntry(provider=provider, model=model)
        configured = sorted(self.config.models) or ["default"]
        hint = suggest(name, [*configured, *registry.names()]) or (
            "use an alias from promptctl.yaml (" + ", ".join(configured) +
            "), builtin:smollm2, a .gguf path, or PROVIDER:MODEL such as openai:gpt-4o-mini")
        raise UserError(f"unknown model '{name}'", file=file, line=line, hint=hint)

    def provider(self, alias: str) -> Provider:
        """The provider for a model alias; a configuration error names its entry."""
        # deferred: provider modules only when a model is used (start-up speed)
        from ..providers import get_provider

        try:
            return get_provider(self.model(alias), alias)
        except UserError as exc:
            if exc.file is None and alias in self.config.models and self.config_source:
                exc.file = self.config_file
                exc.line = self.config_source.line(("models", alias), key=True)
            raise

    # -- suites ------------------------------------------------------------------
    def suite_paths(self, targets: Sequence[str] = ()) -> list[Path]:
        if not targets:
            if self._check_dir("suites") is None:
                line = self.config_source.key_lines.get(("paths", "suites")) \
                    if self.config_source is not None else None
                raise UserError(f"no suites directory at {display_path(self.suites_dir)}",
                                file=self.config_file if line else None, line=line,
                                hint="create suites/NAME.yaml or name a suite file")
            # every YAML-named entry, files or not: load_suite refuses the others
            found = sorted(p for p in self.suites_dir.iterdir() if p.suffix in YAML_SUFFIXES)
            if not found:
                raise UserError(f"no suites found in {display_path(self.suites_dir)}/",
                                hint="add a suite file (see `promptctl init`)")
            return found
        out: list[Path] = []
        for target in targets:
            path = Path(target)
            if path.is_dir():
                self.check_input(path, what="suite directory", written=target, expect="dir")
                out.extend(sorted(p for p in path.iterdir() if p.suffix in YAML_SUFFIXES))
            elif path.is_file():
                out.append(path)
            else:
                if os.path.lexists(path):  # a FIFO, a device, a link that leads nowhere
                    self.check_input(path, what="suite file", written=target)
                named = [self.suites_dir / f"{target}{s}" for s in YAML_SUFFIXES]
                # a FIFO named like a suite is found, then refused by load_suite
                hit = next((p for p in named if os.path.lexists(p)), None)
                if hit is None:
                    known = [p.stem for p in self.suite_paths()] if self.suites_dir.is_dir() \
                        else []
                    raise UserError(f"no suite '{target}'",
                                    hint=suggest(target, known) or "give a suite file path "
                                    "or the name of a file in suites/")
                out.append(hit)
        return out

def missing_model_file(root: Path, entry: ModelEntry) -> str | None:
    """Why a llama-cpp entry's model could not be loaded, or None; nothing is imported
    or opened. A relative path is looked up where a run looks (the working directory)
    and in the project root."""
    if entry.provider != "llama-cpp":
        return None
    if not entry.model:
        return "a llama-cpp model needs 'model': builtin:smollm2 or a .gguf path"
    if entry.model.startswith("builtin:"):
        return None
    path = Path(entry.model).expanduser()
    if path.is_file() or (not path.is_absolute() and (root / path).is_file()):
        return None
    return f"model file not found: {entry.model}"


def _prompt_texts(ref: PromptRef) -> Iterable[PromptText]:
    spec, body, src, file = ref.spec, ref.body, ref.source, ref.file

    def inline(what: str, text: str, loc: Loc) -> PromptText:
        return PromptText(what, text, loc, file, src.line(loc))

    if body is not None and body.template is not None:
        yield PromptText("template", body.template, (*ref.loc, body.key), body.file, 1,
                         templates.WHOLE)
    elif spec.template is not None:
        yield inline("template", spec.template, (*ref.loc, "template"))
    if body is not None:
        for i, msg in enumerate(body.messages or []):
            yield PromptText(f"messages[{i}]", msg.content, (*ref.loc, body.key), body.file,
                             body.content_line(i), body.layout)
    for i, msg in enumerate(spec.messages or []):
        yield inline(f"messages[{i}]", msg.content, (*ref.loc, "messages", i, "content"))
    for i, ex in enumerate(spec.examples):
        yield inline(f"examples[{i}].user", ex.user, (*ref.loc, "examples", i, "user"))
        yield inline(f"examples[{i}].assistant", ex.assistant,
                     (*ref.loc, "examples", i, "assistant"))


def compile_prompt(env: jinja2.sandbox.SandboxedEnvironment, ref: PromptRef) -> None:
    """Compile each of the prompt's texts; a syntax error names the file and line the
    text is written at (the collection, or its template_file / messages_file)."""
    for pt in ref.texts():
        ref._compiled[pt.what] = templates.compile_template(
            env, pt.text, file=pt.file, line=pt.line, what=f"{ref.id} {pt.what}",
            layout=pt.layout)


def check_prompt_includes(env: jinja2.sandbox.SandboxedEnvironment, ref: PromptRef
                          ) -> None:
    """Every template the prompt includes or imports by name must load (inside the
    boundary): templates.check_includes, at the line of the include."""
    for pt in ref.texts():
        templates.check_includes(env, pt.text, file=pt.file, line=pt.line,
                                 what=f"{ref.id} {pt.what}", layout=pt.layout)


def find_root(start: Path | None = None) -> Path:
    """The nearest directory upwards holding promptctl.yaml; else the start directory."""
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if any((d / n).is_file() for n in CONFIG_NAMES):
            return d
        if (d / ".git").exists():
            break
    return here


def load_project(root: Path | None = None, config: Path | None = None) -> Project:
    """Load promptctl.yaml (optional: defaults work without one)."""
    if config is not None:
        if not config.is_file():
            raise UserError("config file not found", file=display_path(config),
                            hint="check the --config path")
        cfg_path: Path | None = config
        root = config.resolve().parent
    else:
        root = find_root(root)
        cfg_path = next((root / n for n in CONFIG_NAMES if (root / n).is_file()), None)
    if cfg_path is None:
        return Project(root, ProjectConfig(), None, None)
    file = display_path(cfg_path)
    safe_path(cfg_path, project_boundary(root), what="config file", written=file)
    data, src = load_yaml(cfg_path, file)
    cfg = validate(ProjectConfig, data, src)
    # deferred: provider modules only when a model is used (start-up speed)
    from ..providers import registry

    for alias, entry in cfg.models.items():
        if not registry.is_known(entry.provider):
            known = registry.names()
            raise src.error(f"unknown provider '{entry.provider}' for model '{alias}'",
                            ("models", alias, "provider"),
                            hint=suggest(entry.provider, known)
                            or "known providers: " + ", ".join(known))
    project = Project(root, cfg, file, src)
    for key in ("judge", "embedder"):
        alias = getattr(cfg, key)
        if alias is not None:
            project.model(alias, file=file, line=src.line((key,)))
    return project

