"""Issue 11: a YAML alias bomb is refused at its line before Hydra or OmegaConf copy it
(on main a 515-byte bomb took 28 s of CPU to validate, one level deeper took minutes)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from engine.cli import main
from engine.errors import RecipeError
from engine.recipe.yamlfile import MAX_ALIAS_EXPANSION, check_alias_expansion

HEAD = """name: bomb
task: classification
target: target
data: {sources: {iris: {kind: sklearn, name: iris}}}
models: {rf: {_target_: sklearn.ensemble.RandomForestClassifier}}
"""


def bomb(levels: int, width: int = 9, key: str = "lol") -> str:
    """``a0`` is ``width`` strings; each next anchor is ``width`` aliases of the previous."""
    lines = [f"{key}0: &a0 [" + ",".join(['"lol"'] * width) + "]"]
    for i in range(1, levels + 1):
        lines.append(f"{key}{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def first_refused_line(text: str) -> int:
    """The line where the aliases copied so far first pass the bound (computed naively)."""
    sizes: dict[str, int] = {}
    copied = 0
    for number, line in enumerate(text.splitlines(), 1):
        if "&" not in line:
            continue
        anchor = line.split("&", 1)[1].split()[0]
        refs = [r.strip("*],") for r in line.split("[", 1)[1].split(",") if r.startswith("*")]
        for ref in refs:
            copied += sizes[ref]
            if copied > MAX_ALIAS_EXPANSION:
                return number
        sizes[anchor] = 1 + (sum(sizes[r] for r in refs) if refs else line.count('"lol"'))
    raise AssertionError("not a bomb")


BOMB_515 = HEAD + bomb(6)  # the 515-byte class of the issue (nine to the sixth strings)
assert 500 <= len(BOMB_515.encode()) <= 530, len(BOMB_515.encode())


@pytest.mark.timeout(60)  # main needs minutes for the deeper one; refused now at parse time
@pytest.mark.parametrize(
    "text",
    [
        pytest.param(BOMB_515, id="515-bytes-six-levels"),
        pytest.param(HEAD + bomb(9), id="nine-levels"),
        pytest.param(HEAD + bomb(30, width=2), id="thirty-levels-of-two"),
        pytest.param(
            HEAD + "x: &x {a: 1, b: 2, c: 3}\n" + "y: [" + ",".join(["*x"] * 3000) + "]\n",
            id="many-aliases-of-one-mapping",
        ),
    ],
)
def test_alias_bomb_is_refused_at_its_line(
    text: str, write_recipe: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_recipe(text)
    with pytest.raises(RecipeError) as info:
        check_alias_expansion(text, path)
    (problem,) = info.value.problems
    if "lol0" in text:
        assert problem.line == first_refused_line(text)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:{problem.line}:" in err
    assert "alias bomb" in err


@pytest.mark.timeout(60)
def test_bomb_in_a_config_group_file_is_refused(
    minimal: str,
    write_recipe: Callable[..., Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "extra").mkdir()
    (tmp_path / "extra" / "boom.yaml").write_text(
        "# @package _global_\n" + bomb(7), encoding="utf-8"
    )
    path = write_recipe("defaults:\n  - _self_\n  - extra: boom\n" + minimal)
    assert main(["validate", str(path)]) == 2
    assert "boom.yaml" in capsys.readouterr().err


def test_ordinary_aliases_still_work(write_recipe: Callable[..., Path]) -> None:
    text = HEAD.replace(
        "models: {rf: {_target_: sklearn.ensemble.RandomForestClassifier}}",
        "models:\n"
        "  a: &forest {_target_: sklearn.ensemble.RandomForestClassifier, n_estimators: 5}\n"
        "  b: *forest\n",
    )
    path = write_recipe(text)
    check_alias_expansion(text, path)
    assert main(["validate", str(path)]) == 0


def test_a_recipe_that_is_not_utf8_is_a_user_error(
    write_recipe: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by the fuzzer: a stray byte made validation crash with a UnicodeDecodeError."""
    path = write_recipe(HEAD)
    path.write_bytes(path.read_bytes() + b"name2: \xed\xa0\x80\n")
    assert main(["validate", str(path)]) == 2
    assert f"{path}:6:" in capsys.readouterr().err
