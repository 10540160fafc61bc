"""to_spec(): defaults, conversion of every section, paths, allowlist, round trip."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf

from engine import specs
from engine.errors import RecipeError
from engine.recipe import compose, load_recipe, to_spec
from engine.recipe.early import declares_checks, early_start

BASE: dict[str, Any] = {
    "name": "t",
    "task": "classification",
    "target": "target",
    "data": {"sources": {"iris": {"kind": "sklearn", "name": "iris"}}},
    "models": {"rf": {"_target_": "sklearn.ensemble.RandomForestClassifier"}},
}


def recipe(**sections: Any) -> dict[str, Any]:
    out = {**BASE, **sections}
    return {k: v for k, v in out.items() if v is not None}


def key_paths(cfg: Any, **kw: Any) -> tuple[str, ...]:
    with pytest.raises(RecipeError) as info:
        to_spec(cfg, **kw)
    return info.value.key_paths


@pytest.mark.parametrize(
    ("task", "model", "split", "metric", "greater"),
    [
        pytest.param(
            "classification",
            "sklearn.ensemble.RandomForestClassifier",
            "stratified",
            "f1",
            True,
            id="classification",
        ),
        pytest.param(
            "regression", "sklearn.linear_model.Ridge", "random", "rmse", False, id="regression"
        ),
    ],
)
def test_defaults_follow_the_task(
    task: str, model: str, split: str, metric: str, greater: bool
) -> None:
    spec = to_spec(recipe(task=task, models={"m": {"_target_": model}}))
    assert spec.split.kind == split
    assert (spec.select.metric, spec.select.greater_is_better) == (metric, greater)
    assert spec.deploy.bento.name == "t" and spec.deploy.enabled
    assert (spec.cluster.kind, spec.cluster.workers) == ("local", 2)
    assert spec.cv is None and spec.sweep is None and spec.seed == 0


@pytest.mark.parametrize(
    ("metric", "greater"),
    [
        pytest.param("mae", False, id="mae"),
        pytest.param("r2", True, id="r2"),
        pytest.param("rmse", False, id="rmse"),
    ],
)
def test_greater_is_better_comes_from_the_metric(metric: str, greater: bool) -> None:
    spec = to_spec(
        recipe(
            task="regression",
            models={"m": {"_target_": "sklearn.linear_model.Ridge"}},
            select={"metric": metric},
        )
    )
    assert spec.select.greater_is_better is greater


@pytest.mark.parametrize(
    ("missing", "expected_path"),
    [
        pytest.param("name", "name", id="name"),
        pytest.param("task", "task", id="task"),
        pytest.param("target", "target", id="target"),
        pytest.param("data", "data.sources", id="data"),
        pytest.param("models", "models", id="models"),
    ],
)
def test_required_sections(missing: str, expected_path: str) -> None:
    cfg = {k: v for k, v in BASE.items() if k != missing}
    assert key_paths(cfg) == (expected_path,)


@pytest.mark.parametrize(
    ("sections", "expected"),
    [
        pytest.param({"split": {"test_size": 0}}, ("split.test_size",), id="test-size-zero"),
        pytest.param(
            {"split": {"test_size": 0.6, "valid_size": 0.4}},
            ("split.valid_size",),
            id="no-training-rows",
        ),
        pytest.param({"split": {"kind": "group"}}, ("split.group",), id="group-needs-column"),
        pytest.param({"split": {"kind": "tiem"}}, ("split.kind",), id="unknown-split-kind"),
        pytest.param({"cv": {"folds": 1}}, ("cv.folds",), id="one-fold"),
        pytest.param({"seed": True}, ("seed",), id="bool-is-not-int"),
        pytest.param({"select": {"metric": "f2"}}, ("select.metric",), id="unknown-metric"),
        pytest.param({"cluster": {"kind": "remote"}}, ("cluster.address",), id="remote-address"),
        pytest.param(
            {"cluster": {"kind": "remote", "address": "localhost"}},
            ("cluster.address",),
            id="address-scheme",
        ),
        pytest.param(
            {"deploy": {"bento": {"name": "Has Space"}}}, ("deploy.bento.name",), id="bento"
        ),
        pytest.param({"data": {"sources": {}}}, ("data.sources",), id="no-sources"),
        pytest.param(
            {
                "data": {
                    "sources": {"i": {"kind": "sklearn", "name": "iris"}},
                    "features": ["target"],
                }
            },
            ("data.features",),
            id="target-as-feature",
        ),
        pytest.param(
            {"data": {**BASE["data"], "pii": {"email": "encrypt"}}}, ("data.pii.email",), id="pii"
        ),
        pytest.param(
            {"schema": {"on_failure": "ignore", "columns": {"a": {"nulable": False}}}},
            ("schema.on_failure", "schema.columns.a.nulable"),
            id="schema",
        ),
        pytest.param(
            {"schema": {"columns": {"a": {"checks": {"gee": 0}}}, "checks": {"min_rows": -1}}},
            ("schema.columns.a.checks.gee", "schema.checks.min_rows"),
            id="schema-checks",
        ),
        pytest.param({"sweep": {"strategy": "bayes"}}, ("sweep.strategy",), id="sweep-strategy"),
        pytest.param(
            {"models": {"m": {"kind": "lightnig"}}},
            ("models.m.kind", "models.m._target_"),
            id="kind",
        ),
        pytest.param(
            {"models": {"m": {"_target_": "sklearn.ensemble.NoSuchForest"}}},
            ("models.m._target_",),
            id="cannot-import",
        ),
        pytest.param(
            {
                "models": {
                    "m": {
                        "_target_": "sklearn.ensemble.RandomForestClassifier",
                        "search": {"n_estimator": {"int": [10, 50]}},
                    }
                }
            },
            ("models.m.search.n_estimator",),
            id="search-over-unknown-param",
        ),
        pytest.param({"imbalance": {"strategy": "smoth"}}, ("imbalance.strategy",), id="imbalance"),
        pytest.param({"extra": 1}, ("extra",), id="unknown-top-level-key"),
    ],
)
def test_section_problems(sections: dict[str, Any], expected: tuple[str, ...]) -> None:
    assert key_paths(recipe(**sections)) == expected


def test_conversion_of_every_section(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "customers.csv").write_text("customer_id,churned\n1,0\n")
    cfg = recipe(
        target="churned",
        seed=7,
        data={
            "sources": {
                "customers": {"kind": "csv", "path": "data/customers.csv"},
                "usage": {"kind": "parquet", "path": "data/usage/*.parquet"},
                "plans": {"kind": "sql", "url": "sqlite:///data/crm.db", "table": "plans"},
            },
            "integrate": [
                {"join": "usage", "on": "customer_id", "how": "left"},
                {
                    "asof": "plans",
                    "on": "ts",
                    "by": "customer_id",
                    "direction": "backward",
                    "tolerance": "1d",
                },
                {"union": "usage"},
                {"dedupe": ["customer_id"]},
            ],
            "rename": {"CustID": "customer_id"},
            "pii": {"email": "hash", "name": "drop"},
            "drop": ["customer_id", "email"],
        },
        schema={
            "on_failure": "quarantine",
            "columns": {
                "age": {"dtype": "int64", "nullable": False, "checks": {"ge": 0, "le": 120}}
            },
            "checks": {"min_rows": 10},
        },
        cv={"folds": 3},
        preprocess={"numeric": {"impute": "median", "scale": "standard"}, "pca": 0.9},
        imbalance={"strategy": "class_weight"},
        models={
            "rf": {
                "_target_": "sklearn.ensemble.RandomForestClassifier",
                "n_estimators": 20,
                "search": {"max_depth": {"choice": [None, 3]}},
                "resources": {"CPU": 1},
            },
            "mlp": {"kind": "lightning", "hidden": [8], "accelerator": "gpu"},
        },
        sweep={"strategy": "random", "trials": 4},
        select={"metric": "roc_auc", "gates": {"f1": ">= 0.7", "roc_auc": "> production - 0.02"}},
        deploy={"bento": {"name": "churn-model"}, "promote": "production"},
        cluster={"kind": "remote", "address": "tcp://127.0.0.1:8786"},
    )
    spec = to_spec(cfg, source_file=str(tmp_path / "churn.yaml"))
    sources = {s.name: s for s in spec.data.sources}
    assert sources["customers"].options["path"] == str(tmp_path / "data" / "customers.csv")
    assert sources["usage"].options["path"] == str(tmp_path / "data" / "usage" / "*.parquet")
    assert sources["plans"].options["url"] == f"sqlite:///{tmp_path / 'data' / 'crm.db'}"
    ops = [(i.op, i.source) for i in spec.data.integrate]
    assert ops == [("join", "usage"), ("asof", "plans"), ("union", "usage"), ("dedupe", None)]
    assert dict(spec.data.integrate[0].options) == {"on": "customer_id", "how": "left"}
    assert tuple(spec.data.integrate[3].options["on"]) == ("customer_id",)
    assert dict(spec.data.pii) == {"email": "hash", "name": "drop"}
    (age,) = spec.schema.columns
    assert (age.name, age.dtype, age.nullable, dict(age.checks)) == (
        "age",
        "int64",
        False,
        {"ge": 0, "le": 120},
    )
    assert spec.cv == specs.CVSpec(kind="stratified_kfold", folds=3)
    rf, mlp = spec.models
    assert (rf.kind, dict(rf.params), dict(rf.resources)) == (
        "sklearn",
        {"n_estimators": 20},
        {"CPU": 1},
    )
    assert (mlp.kind, mlp.target, dict(mlp.resources)) == ("lightning", None, {"GPU": 1})
    assert dict(mlp.params) == {"hidden": (8,), "accelerator": "gpu"}
    assert spec.sweep == specs.SweepSpec(strategy="random", trials=4)
    assert spec.select.metric == "roc_auc" and len(spec.select.gates) == 2
    assert (spec.deploy.bento.name, spec.deploy.promote) == ("churn-model", "production")
    assert spec.cluster.address == "tcp://127.0.0.1:8786"
    assert spec.source_file == str(tmp_path / "churn.yaml")


def test_missing_data_file_is_reported_with_a_suggestion(tmp_path: Path) -> None:
    (tmp_path / "customers.csv").write_text("a\n1\n")
    cfg = recipe(data={"sources": {"c": {"kind": "csv", "path": "customer.csv"}}})
    with pytest.raises(RecipeError) as info:
        to_spec(cfg, source_file=str(tmp_path / "r.yaml"))
    (problem,) = info.value.problems
    assert problem.key_path == "data.sources.c.path"
    assert "customers.csv" in (problem.hint or "")


def test_allowlist_is_extended_by_the_environment_only(
    canary: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The operator widens the allowlist ($SOUS_ALLOW_TARGETS); the recipe cannot."""
    cfg = recipe(models={"m": {"_target_": "sous_canary.Estimator"}})
    assert key_paths(cfg) == ("models.m._target_",)
    cfg["security"] = {"allow_targets": ["sous_canary"]}
    assert key_paths(cfg) == ("security.allow_targets", "models.m._target_")
    del cfg["security"]
    monkeypatch.setenv("SOUS_ALLOW_TARGETS", "json, sous_canary")
    spec = to_spec(cfg)
    assert spec.models[0].target == "sous_canary.Estimator"
    assert not canary.exists()


def test_targets_anywhere_in_the_recipe_are_checked() -> None:
    cfg = recipe(
        data={"sources": {"x": {"kind": "custom", "loader": {"_target_": "builtins.eval"}}}}
    )
    assert key_paths(cfg) == ("data.sources.x.loader._target_",)


def test_nested_estimator_params_skip_literal_checks() -> None:
    cfg = recipe(
        models={
            "bag": {
                "_target_": "sklearn.ensemble.BaggingClassifier",
                "estimator": {"_target_": "sklearn.tree.DecisionTreeClassifier", "max_depth": 2},
                "n_estimators": 5,
            }
        }
    )
    assert to_spec(cfg).models[0].params["estimator"]["max_depth"] == 2


@pytest.mark.parametrize("name", ["iris", "diabetes"])
def test_shipped_recipes_round_trip(name: str) -> None:
    """spec -> resolved config -> spec is the identity (the run record can rebuild a run)."""
    spec = load_recipe(name)
    again = to_spec(OmegaConf.create(specs.thaw(spec.resolved)), source_file=spec.source_file)
    assert again == spec
    assert yaml.safe_load(yaml.safe_dump(specs.thaw(spec.resolved))) == specs.thaw(spec.resolved)


def test_compose_then_to_spec_equals_load_recipe() -> None:
    cfg = compose("iris", ["split.test_size=0.25"])
    spec = to_spec(cfg, source_file=load_recipe("iris").source_file)
    assert spec == load_recipe("iris", ["split.test_size=0.25"])
    assert spec.split.test_size == 0.25


@settings(max_examples=40, deadline=None)
@given(
    test=st.floats(0.01, 0.98),
    valid=st.floats(0.0, 0.98),
    seed=st.integers(0, 2**31),
    folds=st.integers(2, 20),
)
def test_split_sizes_property(test: float, valid: float, seed: int, folds: int) -> None:
    """Valid sizes convert and round-trip; sizes leaving no training rows never pass."""
    cfg = recipe(split={"test_size": test, "valid_size": valid}, seed=seed, cv={"folds": folds})
    if test + valid >= 1:
        assert key_paths(cfg) == ("split.valid_size",)
        return
    spec = to_spec(cfg)
    assert (spec.split.test_size, spec.split.valid_size, spec.seed) == (test, valid, seed)
    assert to_spec(specs.thaw(spec.resolved)) == spec


def test_model_level_imbalance_overrides_the_recipe() -> None:
    cfg = recipe(
        imbalance={"strategy": "class_weight"},
        models={
            "rf": {
                "_target_": "sklearn.ensemble.RandomForestClassifier",
                "imbalance": {"strategy": "smote", "options": {"k_neighbors": 3}},
            },
            "lr": {"_target_": "sklearn.linear_model.LogisticRegression"},
        },
    )
    spec = to_spec(cfg)
    rf, lr = spec.models
    assert rf.imbalance == specs.ImbalanceSpec("smote", specs.frozen_map({"k_neighbors": 3}))
    assert "imbalance" not in rf.params
    assert lr.imbalance is None and spec.imbalance.strategy == "class_weight"
    cfg["models"]["rf"]["imbalance"] = {"strategy": "smoote"}
    assert key_paths(cfg) == ("models.rf.imbalance.strategy",)


def test_deploy_auth_protect_metrics() -> None:
    assert not to_spec(recipe()).deploy.auth.protect_metrics
    spec = to_spec(recipe(deploy={"auth": {"protect_metrics": True}}))
    assert spec.deploy.auth.protect_metrics
    assert key_paths(recipe(deploy={"auth": {"protect_metric": True}})) == (
        "deploy.auth.protect_metric",
    )


@pytest.mark.parametrize(
    ("written", "setting"),
    [(None, "auto"), ("auto", "auto"), ("on", "on"), ("off", "off"), (True, "on"), (False, "off")],
)
def test_cluster_dashboard_setting(written: Any, setting: str) -> None:
    cluster = {"kind": "local"} if written is None else {"kind": "local", "dashboard": written}
    assert to_spec(recipe(cluster=cluster)).cluster.dashboard == setting


@pytest.mark.parametrize("written", ["yes", 1, "ON", [True]])
def test_cluster_dashboard_refuses_anything_else(written: Any) -> None:
    cfg = recipe(cluster={"kind": "local", "dashboard": written})
    assert key_paths(cfg) == ("cluster.dashboard",)


def test_cluster_pack_is_on_unless_switched_off() -> None:
    assert to_spec(recipe(cluster={"kind": "local"})).cluster.pack is True
    assert to_spec(recipe(cluster={"kind": "local", "pack": False})).cluster.pack is False
    assert key_paths(recipe(cluster={"kind": "local", "pack": "no"})) == ("cluster.pack",)


# What a run's cluster starts on before validation (engine.recipe.early): the cluster
# section read by validation's own code, so the early cluster is the one the run asks for
# (taken over, not stopped for a mismatch), and whether the schema declares checks.


@pytest.mark.parametrize(
    "cluster",
    [
        None,
        {"kind": "local"},
        {"kind": "local", "workers": 3, "threads_per_worker": 2},
        {"kind": "local", "memory_limit": 2_000_000_000},  # an int: validation keeps a str
        {"kind": "local", "memory_limit": "1GB", "resources": {"gpu": 1}},
        {"kind": "local", "adaptive": {"minimum": 0, "maximum": 4}},
        {"kind": "local", "adaptive": {"maximum": 3}},
        {"kind": "local", "dashboard": False},
        {"kind": "local", "dashboard": "on"},
    ],
)
def test_the_early_cluster_is_the_one_validation_reads(cluster: Any) -> None:
    cfg = OmegaConf.create(recipe(cluster=cluster))
    early = early_start(cfg)
    assert early is not None
    assert early.cluster == to_spec(cfg).cluster


@pytest.mark.parametrize(
    "cluster",
    [
        {"kind": "sync"},
        {"kind": "remote", "address": "tcp://127.0.0.1:8786"},
        {"kind": "local", "workers": 0},
        {"kind": "local", "dashboard": "maybe"},
        {"kind": "local", "adaptive": {"minimum": 3, "maximum": 1}},
        {"kind": "local", "wrokers": 2},
    ],
)
def test_nothing_starts_early_for_another_kind_or_a_section_with_a_problem(cluster: Any) -> None:
    assert early_start(OmegaConf.create(recipe(cluster=cluster))) is None


@pytest.mark.parametrize(
    ("schema", "declares"),
    [
        (None, False),
        ({}, False),
        ({"on_failure": "quarantine", "coerce": True, "max_examples": 3}, False),
        ({"columns": {"age": {"checks": {"ge": 0}}}}, True),
        ({"checks": {"min_rows": 10}}, True),
        ({"strict": True}, True),
        ({"pandera_yaml": "schema.yaml"}, True),
        ("not a mapping", True),
        (["a", "list"], True),
    ],
)
def test_declares_checks(schema: Any, declares: bool) -> None:
    assert declares_checks(schema) is declares


def test_schema_checks_read_from_the_composed_config() -> None:
    with_checks = OmegaConf.create(recipe(schema={"columns": {"x": {"dtype": "float"}}}))
    assert early_start(with_checks).schema_checks is True  # type: ignore[union-attr]
    assert early_start(OmegaConf.create(recipe())).schema_checks is False  # type: ignore[union-attr]
