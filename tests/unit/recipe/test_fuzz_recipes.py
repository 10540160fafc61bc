"""Issue 11: generated and mutated recipes against the loader and validator.

Whatever the recipe and overrides, ``sous validate`` answers 0 or 2, never a traceback, and
runs nothing a recipe names: every callable of the ``canary`` package (conftest) leaves a
marker file, and the generated recipes point ``_target_``, Hydra callbacks, logging factories
and search paths at it. Bounded: ~50 examples per property, no deadline, a few seconds.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from engine.cli import main

BASE: dict[str, Any] = {
    "name": "fuzz",
    "task": "classification",
    "target": "target",
    "data": {"sources": {"iris": {"kind": "sklearn", "name": "iris"}}},
    "models": {"rf": {"_target_": "sklearn.ensemble.RandomForestClassifier", "n_estimators": 3}},
}
PATHS = [
    ("name",), ("task",), ("target",), ("seed",), ("data",), ("data", "sources"),
    ("data", "sources", "iris"), ("data", "sources", "iris", "kind"), ("models",),
    ("models", "rf"), ("models", "rf", "_target_"), ("models", "rf", "n_estimators"),
    ("models", "evil"), ("models", "evil", "_target_"), ("split", "test_size"),
    ("split", "kind"), ("cv", "folds"), ("select", "metric"), ("select", "gates", "f1"),
    ("deploy", "enabled"), ("cluster", "kind"), ("security", "allow_targets"),
    ("hydra", "callbacks", "evil"), ("hydra", "searchpath"), ("hydra", "job", "env_set"),
    ("hydra", "launcher", "_target_"), ("hydra", "job_logging", "handlers", "h"),
    ("extra", "loader"), ("defaults",), ("sweep", "strategy"), ("preprocess", "pca"),
]  # fmt: skip
TARGETS = [
    "sous_canary.touch", "sous_canary.NotAnEstimator", "sous_canary.Estimator",
    "sous_canary._private.Estimator", "sous_canary_import.Model", "os.system",
    "sklearn.utils._testing.assert_run_python_script_without_output",
    "sklearn.datasets.dump_svmlight_file", "sklearn.ensemble.RandomForestClassifier",
    "sklearn.ensemble._forest.os.system", "builtins.eval", "", ".", "a..b", "sklearn.",
]  # fmt: skip
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(TARGETS),
    st.sampled_from(
        [
            "???",
            "${oc.env:HOME}",
            "${oc.env:SOUS_NOPE}",
            "${name}",
            "${nope.x}",
            "${",
            "}",
            "${oc.decode:'[1, 2]'}",
            "file:///etc",
            "stratified",
            "f1",
            ">= 0.5",
            "sync",
        ]
    ),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.sampled_from(["_target_", "()", "a", "class", "kind"]), inner, max_size=3
        ),
        st.builds(lambda t: {"_target_": t}, st.sampled_from(TARGETS)),
    ),
    max_leaves=6,
)
OVERRIDES = st.lists(
    st.one_of(
        st.sampled_from(
            [
                "+security.allow_targets=[sous_canary]",
                "+hydra.callbacks.e._target_=sous_canary.touch",
                "hydra.searchpath=[file:///tmp]",
                "+hydra.job.env_set.X=1",
                "hydra/callbacks=x",
                "hydra.launcher._target_=sous_canary.touch",
                "+models.e._target_=sous_canary.touch",
                "+extra._target_=os.system",
                "split=random",
                "split=nope",
                "model=rf",
                "seed=1,2",
                "cv.folds=3",
                "+x=${oc.env:HOME}",
                "~models",
                "models.rf.n_estimators=abc",
                "=",
                "+",
            ]
        ),
        st.text(max_size=15),
    ),
    max_size=3,
)


def validate(text: str, overrides: list[str]) -> tuple[int, str]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                code = main(["validate", str(path), *overrides])
            except SystemExit as exc:  # argparse: an override that looks like an option
                code = int(exc.code or 0)
    return code, err.getvalue()


def assert_safe(code: int, err: str, canary: Path) -> None:
    assert code in (0, 2), err
    assert "Traceback" not in err
    assert not canary.exists(), "the recipe ran code"


def put(tree: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = tree
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    node[path[-1]] = value


SETTINGS = settings(
    max_examples=50,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # no shrinking: bounded in time
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@SETTINGS
@given(
    edits=st.lists(st.tuples(st.sampled_from(PATHS), VALUES), max_size=4),
    deletions=st.lists(st.sampled_from(PATHS[:12]), max_size=2),
    overrides=OVERRIDES,
)
def test_generated_recipes_never_crash_or_run_code(
    edits: list[tuple[tuple[str, ...], Any]],
    deletions: list[tuple[str, ...]],
    overrides: list[str],
    canary: Path,
) -> None:
    import copy

    recipe = copy.deepcopy(BASE)
    for path, value in edits:
        put(recipe, path, value)
    for path in deletions:
        parent = recipe
        for key in path[:-1]:
            parent = parent.get(key) if isinstance(parent.get(key), dict) else {}
        parent.pop(path[-1], None)
    text = yaml.safe_dump(recipe, allow_unicode=True)
    assert_safe(*validate(text, overrides), canary)


MUTATIONS = st.lists(
    st.tuples(
        st.sampled_from(["insert", "delete", "duplicate", "alias"]),
        st.integers(0, 10_000),
        st.sampled_from(
            [
                ": ",
                "\n",
                "  ",
                "- ",
                "&a ",
                "*a",
                "[",
                "{",
                "'",
                '"',
                "\t",
                "_target_: os.system",
                "hydra:\n  callbacks:\n    e: {_target_: sous_canary.touch}\n",
                "%YAML 1.1\n",
                "!!python/object/apply:os.system ['true']",
                "<<: *a\n",
                "\x00",
                "\ud800",
            ]
        ),
    ),
    min_size=1,
    max_size=4,
)


@SETTINGS
@given(mutations=MUTATIONS)
def test_mutated_recipe_text_never_crashes_or_runs_code(
    mutations: list[tuple[str, int, str]], canary: Path
) -> None:
    text = yaml.safe_dump(BASE)
    for op, at, piece in mutations:
        at %= len(text) + 1
        if op == "insert":
            text = text[:at] + piece + text[at:]
        elif op == "delete":
            text = text[:at] + text[at + len(piece) :]
        elif op == "duplicate":
            text = text[:at] + text[at : at + 40] + text[at:]
        else:  # anchor a line, alias it from another
            lines = text.splitlines()
            i = at % len(lines)
            lines[i] = lines[i].replace(": ", ": &x ", 1)
            lines.append(f"copy{at}: *x")
            text = "\n".join(lines) + "\n"
    assert_safe(*validate(text, []), canary)
