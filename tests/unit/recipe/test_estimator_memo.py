"""A model entry that checked clean is not imported again to validate a recipe (issue 10):
not in another ``$SOUS_HOME``, not with other searched values. Anything the check could
find differently is a miss: the entry's params, its search keys, the task, the
allowlist, the installed package (reinstalled, another version). Problems are never
remembered, and a memo file Sous did not seal is none."""

from __future__ import annotations

import importlib
import sys
import uuid
from pathlib import Path

import pytest

from engine import provenance, provenance_cache
from engine.errors import RecipeError
from engine.home import user_cache_dir
from engine.recipe import estimator_memo, load_recipe

ESTIMATOR = """
from numbers import Real

from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils._param_validation import Interval

with open({counter!r}, "a") as f:
    f.write("imported\\n")


class Est(ClassifierMixin, BaseEstimator):
    _parameter_constraints = {{"alpha": [Interval(Real, 0, None, closed="left")], "beta": ["boolean"]}}

    def __init__(self, alpha=1.0, beta=False):
        self.alpha = alpha
        self.beta = beta

    def fit(self, X, y):
        return self
"""

RECIPE = """
name: memo
task: {task}
target: target
data:
  sources:
    iris: {{kind: sklearn, name: iris}}
models:
  m:
    _target_: {package}.Est
    alpha: {alpha}
    search:
      alpha: {{choice: [1.0, 2.0]}}
sweep: {{strategy: grid}}
"""


class Fixture:
    """A package of our own under the allowlist, counting its imports."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
        self.package = f"memo_est_{uuid.uuid4().hex[:8]}"
        self.tmp, self.monkeypatch = tmp_path, monkeypatch
        self.counter = tmp_path / "imports.txt"
        self.init = tmp_path / "site" / self.package / "__init__.py"
        self.init.parent.mkdir(parents=True)
        self.init.write_text(ESTIMATOR.format(counter=str(self.counter)))
        monkeypatch.syspath_prepend(str(tmp_path / "site"))
        monkeypatch.setenv("SOUS_ALLOW_TARGETS", self.package)
        self.homes = 0

    def validate(self, *overrides: str, alpha: object = 1.0, task: str = "classification"):
        """Validate in a fresh ``$SOUS_HOME`` (the validation memo knows nothing), with
        the package unloaded (a check that needs it imports it again)."""
        sys.modules.pop(self.package, None)
        importlib.invalidate_caches()
        self.homes += 1
        self.monkeypatch.setenv("SOUS_HOME", str(self.tmp / f"home{self.homes}"))
        recipe = self.tmp / "recipe.yaml"
        recipe.write_text(RECIPE.format(task=task, package=self.package, alpha=alpha))
        return load_recipe(str(recipe), list(overrides))

    @property
    def imports(self) -> int:
        return len(self.counter.read_text().splitlines()) if self.counter.exists() else 0


@pytest.fixture
def est(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Fixture:
    return Fixture(tmp_path, monkeypatch)


def test_a_clean_entry_is_checked_once_whatever_the_home(est: Fixture) -> None:
    first = est.validate()
    assert est.imports == 1
    again = est.validate()
    assert est.imports == 1  # another home, the same entry: not imported
    assert again.models == first.models


def test_other_searched_values_hit_another_search_key_misses(est: Fixture) -> None:
    est.validate()
    spec = est.validate("models.m.search.alpha.choice=[3.0,4.0]")
    assert est.imports == 1 and spec.models[0].search["alpha"]["choice"] == (3.0, 4.0)
    est.validate("+models.m.search.beta={choice:[true,false]}")
    assert est.imports == 2
    with pytest.raises(RecipeError) as err:  # an unknown key is found, memo or not
        est.validate("+models.m.search.gamma={choice:[1,2]}")
    assert "models.m.search.gamma" in err.value.key_paths


def test_a_changed_param_value_is_checked_and_its_problem_found(est: Fixture) -> None:
    est.validate()
    est.validate(alpha=2.5)
    assert est.imports == 2
    for _ in range(2):  # a problem is never remembered: reported each time, in full
        with pytest.raises(RecipeError) as err:
            est.validate(alpha=-1)
        assert "models.m.alpha" in err.value.key_paths
    assert est.imports == 4


def test_the_task_is_part_of_the_key(est: Fixture) -> None:
    est.validate()
    with pytest.raises(RecipeError) as err:
        est.validate(task="regression")
    assert any("classifier" in p.message for p in err.value.problems)


def test_a_reinstalled_or_upgraded_package_is_checked_again(
    est: Fixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    est.validate()
    text = est.init.read_text()
    est.init.unlink()
    est.init.write_text(text)  # reinstalled: the same bytes in a new file
    est.validate()
    assert est.imports == 2
    est.validate()
    assert est.imports == 2
    monkeypatch.setattr(provenance, "library_version", lambda top: "99.0")  # an upgrade
    est.validate()
    assert est.imports == 3


def test_the_operator_allowlist_is_part_of_the_key(
    est: Fixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    est.validate()
    monkeypatch.setenv("SOUS_ALLOW_TARGETS", f"{est.package},another_pkg")
    est.validate()
    assert est.imports == 2


def test_a_memo_sous_did_not_seal_is_none(est: Fixture, monkeypatch: pytest.MonkeyPatch) -> None:
    key = estimator_memo.entry_key(
        kind="sklearn", target=f"{est.package}.Est", task="classification",
        params={"alpha": 1.0}, search=["alpha"], allow=("x.",),
    )  # fmt: skip
    assert key is not None and not estimator_memo.known(key)
    path = user_cache_dir() / "estimators" / key
    path.parent.mkdir(parents=True)
    path.write_bytes(key.encode())  # planted: not sealed
    assert not estimator_memo.known(key)
    monkeypatch.setenv("SOUS_SIGNING_KEY", "someone-else-key-" + "1" * 32)
    estimator_memo.remember(key)  # sealed under another user's key
    monkeypatch.setenv("SOUS_SIGNING_KEY", "our-own-signing-key-" + "2" * 32)
    assert not estimator_memo.known(key)
    estimator_memo.remember(key)
    assert estimator_memo.known(key)


def test_entries_that_cannot_be_keyed_are_checked_in_full() -> None:
    common = {"kind": "sklearn", "task": None, "search": (), "allow": ()}
    assert estimator_memo.entry_key(target="no_such_pkg_xyz.Est", params={}, **common) is None
    unserialisable = {"alpha": object()}
    key = estimator_memo.entry_key(
        target="sklearn.linear_model.LogisticRegression", params=unserialisable, **common
    )
    assert key is None


def test_the_user_cache_is_where_the_environment_says(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SOUS_USER_CACHE", str(tmp_path / "explicit"))
    assert user_cache_dir() == tmp_path / "explicit"
    monkeypatch.delenv(provenance_cache.DIR_ENV, raising=False)  # the code fingerprints too
    assert provenance_cache.cache_root() == tmp_path / "explicit" / "code"
    monkeypatch.delenv("SOUS_USER_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert user_cache_dir() == tmp_path / "xdg" / "sous"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "me"))
    assert user_cache_dir() == tmp_path / "me" / ".cache" / "sous"
