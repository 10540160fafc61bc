"""Registry: versions, aliases, promotion history and atomic rollback."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import NotFoundError, UserError
from engine.store import registry


@pytest.fixture
def url(tmp_path: Path) -> str:
    u = f"sqlite:///{tmp_path / 'runs.db'}"
    for v in ("v1", "v2", "v3"):
        registry.record_version(
            "iris",
            v,
            model_tag=f"iris:{v}",
            bento_tag=f"iris:b{v}",
            metrics={"f1": 0.9},
            labels={"run_id": v},
            url=u,
        )
        registry.record_smoke("iris", v, True, run_id=v, url=u)
    return u


def test_versions_and_lookup(url: str) -> None:
    assert [v.version for v in registry.versions("iris", url=url)] == ["v1", "v2", "v3"]
    rec = registry.get_version("iris", "v2", url=url)
    assert (
        rec.bento_tag == "iris:bv2" and rec.metrics == {"f1": 0.9} and rec.labels["run_id"] == "v2"
    )
    assert registry.names(url=url) == ["iris"]


@pytest.mark.parametrize(
    ("call", "exc", "field"),
    [
        pytest.param(
            lambda u: registry.get_version("nope", "v1", url=u), NotFoundError, "nope", id="name"
        ),
        pytest.param(
            lambda u: registry.get_version("iris", "v9", url=u), NotFoundError, "v9", id="version"
        ),
        pytest.param(
            lambda u: registry.promote("iris", "v9", "staging", url=u),
            NotFoundError,
            "v9",
            id="promote-version",
        ),
        pytest.param(
            lambda u: registry.promote("iris", "v1", "prod", url=u), UserError, "prod", id="alias"
        ),
        pytest.param(
            lambda u: registry.rollback("nope", url=u), NotFoundError, "nope", id="rollback-name"
        ),
        pytest.param(
            lambda u: registry.rollback("iris", url=u),
            NotFoundError,
            "no production",
            id="rollback-none",
        ),
    ],
)
def test_errors(url: str, call, exc: type[Exception], field: str) -> None:
    with pytest.raises(exc) as info:
        call(url)
    assert field in str(info.value)
    assert info.value.exit_code == 2  # type: ignore[attr-defined]


def test_promote_returns_previous_and_records_history(url: str) -> None:
    assert registry.promote("iris", "v1", "staging", url=url) is None
    assert registry.promote("iris", "v2", "staging", url=url) == "v1"
    assert registry.promote("iris", "v2", "staging", url=url) == "v2"  # no-op, no event
    assert registry.get_alias("iris", "staging", url=url) == "v2"
    assert registry.get_alias("iris", "production", url=url) is None
    events = registry.history("iris", url=url)
    assert [(e.alias, e.version, e.previous) for e in events] == [
        ("staging", "v1", None),
        ("staging", "v2", "v1"),
    ]


def test_rollback_walks_back_through_production_history(url: str) -> None:
    for v in ("v1", "v2", "v3"):
        registry.promote("iris", v, "production", url=url)
    registry.promote("iris", "v1", "staging", url=url)
    assert registry.rollback("iris", url=url) == "v2"
    assert registry.get_alias("iris", "production", url=url) == "v2"
    assert registry.rollback("iris", url=url) == "v1"
    with pytest.raises(NotFoundError, match="no previous production"):
        registry.rollback("iris", url=url)
    assert registry.get_alias("iris", "production", url=url) == "v1"  # untouched by the failure
    assert registry.get_alias("iris", "staging", url=url) == "v1"  # rollback moves production only
    actions = [e.action for e in registry.history("iris", url=url) if e.alias == "production"]
    assert actions == ["promote", "promote", "promote", "rollback", "rollback"]


def test_promote_after_rollback_starts_a_new_branch(url: str) -> None:
    registry.promote("iris", "v1", "production", url=url)
    registry.promote("iris", "v2", "production", url=url)
    registry.rollback("iris", url=url)  # -> v1
    registry.promote("iris", "v3", "production", url=url)
    assert registry.rollback("iris", url=url) == "v1"


def test_concurrent_rollbacks_move_one_step_each(url: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    for v in ("v1", "v2", "v3"):
        registry.promote("iris", v, "production", url=url)

    def attempt(_: int) -> str:
        try:
            return registry.rollback("iris", url=url)
        except NotFoundError:
            return "refused"

    with ThreadPoolExecutor(4) as pool:
        results = sorted(pool.map(attempt, range(4)))
    assert results == ["refused", "refused", "v1", "v2"]
    assert registry.get_alias("iris", "production", url=url) == "v1"
