"""Every YAML recipe snippet and every `sous ...` command in the docs is checked (issue 15).

YAML blocks whose top-level keys are recipe keys are validated in-process as `sous validate`
would: a whole recipe (name, task, data, models) is composed from a file with Hydra; a part of
one is merged into a small iris recipe first. Commands in shell blocks (```bash, ```console,
or unlabelled) are parsed by the CLI's own parser; in a synopsis line, `[--flag]` is read as
`--flag` and what follows two spaces is its description.

A block that is not meant to pass says so on the line just above its fence:
  <!-- docs-check: skip REASON -->        not a recipe or not commands (Prometheus rules...)
  <!-- docs-check: invalid -->            a recipe that must fail validation
  <!-- docs-check: under data.sources --> a fragment of that section
Data files named by snippets do not exist here: "no such file" problems on a source's
``path`` are the only ones ignored; sources a fragment's ``integrate`` names are stubbed.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from omegaconf import OmegaConf

from engine.errors import Problem, RecipeError
from engine.recipe import keys, load_recipe, to_spec

ROOT = Path(__file__).resolve().parents[3]
PAGES = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.S | re.M)
MARK = re.compile(r"<!--\s*docs-check:\s*(skip|invalid|under)\s*(.*?)\s*-->\s*$")
SHELL = {"", "bash", "console", "sh", "shell"}
BASE: dict[str, Any] = {
    "name": "docs",
    "task": "classification",
    "target": "target",
    "data": {"sources": {"iris": {"kind": "sklearn", "name": "iris"}}},
    "models": {"rf": {"_target_": "sklearn.ensemble.RandomForestClassifier"}},
}
WHOLE = {"name", "task", "target", "data", "models"}


@dataclass(frozen=True)
class Block:
    page: str
    line: int
    lang: str
    text: str
    mark: str | None  # skip | invalid | under
    arg: str

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"


def blocks() -> list[Block]:
    out = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for m in FENCE.finditer(text):
            before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1]
            mark = MARK.search(before)
            out.append(
                Block(
                    page=page.relative_to(ROOT).as_posix(),
                    line=text.count("\n", 0, m.start()) + 1,
                    lang=m[1],
                    text=textwrap.dedent(m[2]),
                    mark=mark[1] if mark else None,
                    arg=mark[2] if mark else "",
                )
            )
    return out


BLOCKS = blocks()
YAML_BLOCKS = [b for b in BLOCKS if b.lang in ("yaml", "yml") and b.mark != "skip"]
SHELL_BLOCKS = [b for b in BLOCKS if b.lang in SHELL and b.mark != "skip"]


def _nest(block: Block, data: Any) -> Any:
    for part in reversed(block.arg.split(".") if block.mark == "under" else []):
        data = {part: data}
    return data


def _integrated(data: Any) -> list[str]:
    """Sources named by a snippet's ``data.integrate`` ops (join/union/asof: SOURCE)."""
    ops = (data.get("data") or {}).get("integrate") or []
    names = [op.get(k) for op in ops for k in ("join", "union", "asof") if k in op]
    return [n for n in names if isinstance(n, str)]


def _environmental(problem: Problem) -> bool:
    return problem.key_path.endswith(".path") and "no such file" in problem.message


def _validate(block: Block, tmp_path: Path) -> list[Problem]:
    """The problems `sous validate` finds in the snippet (as a recipe, or merged into one)."""
    data = _nest(block, yaml.safe_load(block.text))
    try:
        if set(data) >= WHOLE:
            path = tmp_path / "snippet.yaml"
            path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
            load_recipe(str(path))
        else:
            base = OmegaConf.create(BASE)
            if "models" in data:
                base.models = {}
            if "sources" in data.get("data", {}):
                base.data.sources = {}
            snippet = OmegaConf.create(block.text if block.mark != "under" else data)
            merged = OmegaConf.merge(base, snippet)
            for name in _integrated(data):  # a fragment's joins name the page's sources
                merged.data.sources.setdefault(name, {"kind": "sklearn", "name": "iris"})
            to_spec(merged)
    except RecipeError as exc:
        return [p for p in exc.problems if not _environmental(p)]
    return []


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOUS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SOUS_PII_SALT", "docs")


@pytest.mark.parametrize("block", YAML_BLOCKS, ids=[b.id for b in YAML_BLOCKS])
def test_yaml_snippet_is_a_valid_recipe(block: Block, tmp_path: Path) -> None:
    data = _nest(block, yaml.safe_load(block.text))
    assert isinstance(data, dict) and set(data) <= {"defaults", *keys.TOP_LEVEL}, (
        f"{block.id}: not a recipe snippet; mark it <!-- docs-check: skip REASON -->, or "
        f"<!-- docs-check: under SECTION --> for a fragment"
    )
    problems = _validate(block, tmp_path)
    if block.mark == "invalid":
        assert problems, f"{block.id} is marked invalid but validates"
    else:
        assert not problems, f"{block.id}: " + "; ".join(
            f"{p.key_path}: {p.message}" + (f" ({p.hint})" if p.hint else "") for p in problems
        )


def _synopsis(line: str) -> str:
    """`sous x NAME [--json]   what it does` -> `sous x NAME --json`."""
    if "[" not in line:
        return line
    line = re.sub(r"\[([^\[\]]*)\]", r"\1", line)
    return re.split(r"\s{2,}(?=[^\s#-])", line)[0]


def commands(block: Block) -> list[tuple[str, list[str]]]:
    """(line, argv) of each `sous` command in a shell block."""
    out = []
    for raw in block.text.replace("\\\n", " ").splitlines():
        line = raw.strip().removeprefix("$ ").strip()
        if not line.startswith("sous "):
            continue
        line = re.sub(r"\"\$\(.*\)\"", "VALUE", line)  # a command substitution: one argument
        line = re.split(r"\s(?:\||&&|\|\||;|>|2>|2>&1)\s", _synopsis(line))[0]
        argv = shlex.split(line, comments=True)[1:]
        out.append((raw.strip(), [a for a in argv if a != "&"]))
    return out


SHELL_COMMANDS = [(b, line, argv) for b in SHELL_BLOCKS for line, argv in commands(b)]


def test_the_docs_show_commands() -> None:
    assert len(SHELL_COMMANDS) > 50


@pytest.mark.parametrize(
    ("block", "line", "argv"),
    SHELL_COMMANDS,
    ids=[f"{b.id}:{' '.join(argv[:3])}" for b, _, argv in SHELL_COMMANDS],
)
def test_sous_command_parses(block: Block, line: str, argv: list[str]) -> None:
    from engine.cli import build_parser

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            build_parser().parse_args(argv)
        except SystemExit as exc:
            assert not exc.code, f"{block.id}: `{line}`: {err.getvalue().strip()}"


@pytest.mark.parametrize(
    ("text", "mark"),
    [
        pytest.param("split: {kind: stratifed}\n", "invalid", id="typo-in-a-value"),
        pytest.param("preprocess: {numeric: {scale: robust}}\n", None, id="robust"),
        pytest.param("sources: {a: {kind: sklearn, name: iris}}\n", "under", id="fragment"),
    ],
)
def test_the_checker_itself(text: str, mark: str | None, tmp_path: Path) -> None:
    block = Block("t.md", 1, "yaml", text, mark, "data" if mark == "under" else "")
    assert bool(_validate(block, tmp_path)) == (mark == "invalid")
