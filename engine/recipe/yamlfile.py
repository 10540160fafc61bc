"""The recipe file as written: syntax errors with their line, and the line of every key.

Hydra reports a YAML syntax error without telling which line is wrong, and the composed
config no longer knows where a key came from. Reading the file once with PyYAML gives both:
a :class:`~engine.errors.Problem` pointing at the bad line, and a ``key path -> line`` index
that lets later problems say ``recipes/churn.yaml:14: split.test_size``.

It is also where alias expansion is bounded: YAML aliases share a node, but OmegaConf (and
any walk of the tree) copies it, so 500 bytes of nested aliases ("billion laughs") become
hundreds of thousands of nodes and minutes of CPU. The file's event stream is scanned first,
in time linear in its size, and a file whose aliases expand past
:data:`MAX_ALIAS_EXPANSION` nodes is refused at the offending alias's line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from engine.errors import Problem, RecipeError
from engine.recipe.problems import join

MAX_ALIAS_EXPANSION = 10_000  # nodes copied by aliases; a real recipe uses a handful


@dataclass(frozen=True)
class RecipeFile:
    """What the recipe file says before Hydra composes it."""

    path: Path
    data: dict[str, Any]
    lines: dict[str, int] = field(default_factory=dict)

    def defaults(self) -> list[Any]:
        """The ``defaults:`` list as written (empty if it is not a list: Hydra says why)."""
        entries = self.data.get("defaults")
        return entries if isinstance(entries, list) else []

    def default_groups(self) -> set[str]:
        """Config groups the file's own ``defaults:`` list selects (``/split``, ``split``...)."""
        groups: set[str] = set()
        for entry in self.defaults():
            if isinstance(entry, dict):
                for key in entry:
                    name = str(key).split()[-1]  # "optional /x" / "override /x"
                    groups.add(name.lstrip("/").split("@")[0])
        return groups


def read_recipe_file(path: Path) -> RecipeFile:
    """Parse ``path``; a syntax error or a non-mapping top level raises a RecipeError."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        problem = Problem(
            key_path="",
            message=f"not UTF-8 text: byte {raw[exc.start]:#04x} at line {line}",
            expected="a UTF-8 encoded YAML file",
            got=f"invalid byte at offset {exc.start}",
            hint="save the recipe as UTF-8",
            file=str(path),
            line=line,
        )
        raise RecipeError([problem], recipe=str(path)) from None
    check_alias_expansion(text, path)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RecipeError([syntax_problem(path, exc)], recipe=str(path)) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        problem = Problem(
            key_path="",
            message="a recipe must be a YAML mapping of keys (name, task, data, models...)",
            expected="a mapping",
            got=type(data).__name__,
            file=str(path),
            line=1,
        )
        raise RecipeError([problem], recipe=str(path))
    lines: dict[str, int] = {}
    if node is not None:
        _index(node, "", lines)
    return RecipeFile(path=path, data=data, lines=lines)


def check_alias_expansion(text: str, path: Path) -> None:
    """Refuse (RecipeError, with the line) YAML whose aliases expand past the bound.

    Streams parser events: each anchor's expanded size is known when its node ends, and each
    alias adds that size; nothing is built. A syntax error is left to the real parse."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    sizes: dict[str, int] = {}
    open_nodes: list[list[Any]] = []  # [expanded size so far, anchor] per open collection
    copied = 0
    try:
        for event in yaml.parse(text, Loader=loader):
            if isinstance(event, yaml.CollectionStartEvent):
                open_nodes.append([1, event.anchor])
                continue
            if isinstance(event, yaml.CollectionEndEvent):
                size, anchor = open_nodes.pop()
            elif isinstance(event, yaml.ScalarEvent):
                size, anchor = 1, event.anchor
            elif isinstance(event, yaml.AliasEvent):
                size, anchor = sizes.get(str(event.anchor), 1), None
                copied += size
                if copied > MAX_ALIAS_EXPANSION:
                    raise RecipeError([_expansion_problem(path, event)], recipe=str(path))
            else:
                continue
            if anchor is not None:
                sizes[str(anchor)] = size
            if open_nodes:
                open_nodes[-1][0] += size
    except yaml.YAMLError:
        return


def _expansion_problem(path: Path, event: Any) -> Problem:
    line = event.start_mark.line + 1
    return Problem(
        key_path="",
        message=f"YAML aliases expand to more than {MAX_ALIAS_EXPANSION:,} nodes at line "
        f"{line} (*{event.anchor}): refused as an alias bomb",
        expected=f"at most {MAX_ALIAS_EXPANSION:,} nodes copied by aliases",
        got=f"more, by line {line}",
        hint="write the values out, or use fewer nested aliases",
        file=str(path),
        line=line,
    )


def syntax_problem(path: Path, exc: yaml.YAMLError) -> Problem:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = mark.line + 1 if mark is not None else None
    column = mark.column + 1 if mark is not None else None
    reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    where = f" at line {line}, column {column}" if line else ""
    return Problem(
        key_path="",
        message=f"malformed YAML{where}: {reason}",
        hint="fix the YAML syntax (indentation, a missing ':' or an unclosed bracket or quote)",
        file=str(path),
        line=line,
    )


def _index(node: yaml.Node, path: str, lines: dict[str, int]) -> None:
    """Record the 1-based line of every mapping key and list item under ``node``."""
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = join(path, str(key_node.value))
            lines[key] = key_node.start_mark.line + 1
            _index(value_node, key, lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            key = join(path, i)
            lines[key] = item.start_mark.line + 1
            _index(item, key, lines)
