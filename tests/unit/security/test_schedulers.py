"""Issue 11: a recipe's Dask scheduler only from the operator's allowlist (Dask exchanges
pickles: a hostile scheduler runs code in the driver). Checked at validation: exit 2 with
the key path, what was expected and how to allow it; nothing connects."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli import main
from engine.errors import RecipeError
from engine.security import schedulers


@pytest.mark.parametrize(
    ("address", "entries", "ok"),
    [
        pytest.param("tcp://127.0.0.1:8786", (), True, id="loopback-v4"),
        pytest.param("tcp://127.8.9.10:8786", (), True, id="loopback-range"),
        pytest.param("tcp://localhost:8786", (), True, id="localhost"),
        pytest.param("tcp://[::1]:8786", (), True, id="loopback-v6"),
        pytest.param("inproc://10.0.0.1/1/2", (), True, id="inproc"),
        pytest.param("tcp://203.0.113.5:8786", (), False, id="remote-by-default"),
        pytest.param("tcp://127.0.0.1.evil.example:8786", (), False, id="not-loopback-name"),
        pytest.param("tcp://203.0.113.5:8786", ("203.0.113.5:8786",), True, id="exact"),
        pytest.param("tcp://203.0.113.5:9999", ("203.0.113.5:8786",), False, id="other-port"),
        pytest.param("tls://203.0.113.5:9999", ("203.0.113.5",), True, id="host-any-port"),
        pytest.param("tcp://s1.dask.internal:8786", ("*.dask.internal",), True, id="glob"),
        pytest.param("tcp://dask.internal.evil:8786", ("*.dask.internal",), False, id="glob-end"),
        pytest.param("tcp://S1.Dask.Internal:8786", ("tcp://*.dask.internal:8786",), True, id="ci"),
        pytest.param("tcp://10.0.4.7:8786", ("10.0.4.*:8786", "x"), True, id="ip-glob"),
        pytest.param("tcp://[2001:db8::1]:8786", ("2001:db8::1",), True, id="v6-entry"),
        pytest.param("tcp://anything:1", ("*",), True, id="star"),
    ],
)
def test_allowed(address: str, entries: tuple[str, ...], ok: bool) -> None:
    assert schedulers.allowed(address, entries) is ok


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SOUS_HOME", str(tmp_path / "home"))
    monkeypatch.delenv(schedulers.ALLOW_ENV, raising=False)
    return tmp_path / "home"


REMOTE = ["cluster=remote", "cluster.address=tcp://203.0.113.5:8786"]


def test_a_recipe_cannot_choose_a_foreign_scheduler(home: Path) -> None:
    from engine import api

    with pytest.raises(RecipeError) as exc:
        api.validate("iris", REMOTE)
    (problem,) = [p for p in exc.value.problems if p.key_path == "cluster.address"]
    assert "203.0.113.5" in (problem.got or "")
    assert "SOUS_ALLOW_SCHEDULERS=203.0.113.5:8786" in (problem.hint or "")


def test_the_operator_allows_it_from_outside(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from engine import api

    monkeypatch.setenv(schedulers.ALLOW_ENV, "10.0.0.1, 203.0.113.*:8786")
    assert api.validate("iris", REMOTE).cluster.address == "tcp://203.0.113.5:8786"
    assert api.validate("iris", ["cluster=remote", "cluster.address=tcp://127.0.0.1:1"])


def test_validate_exits_2_and_names_the_key(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "iris", *REMOTE]) == 2
    err = capsys.readouterr().err
    assert "cluster.address" in err and "SOUS_ALLOW_SCHEDULERS" in err
    assert "Traceback" not in err


def test_a_multirun_launcher_address_override_is_checked(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["run", "iris", "-m", "models.rf.n_estimators=5,6"]
    assert main([*argv, "hydra.launcher.address=tcp://203.0.113.5:8786"]) == 2
    err = capsys.readouterr().err
    assert "hydra.launcher.address" in err and "Traceback" not in err
    assert not (home / "runs").exists() or not any((home / "runs").iterdir())


def test_narrowing_the_allowlist_refuses_a_remembered_recipe(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A recipe validated while the operator allowed its scheduler is remembered; once the
    allowance is withdrawn, the memory must not let it through (the allowlist is part of
    the memo's key, as the targets' allowlist is)."""
    from engine import api

    monkeypatch.setenv(schedulers.ALLOW_ENV, "203.0.113.5:8786")
    assert api.validate("iris", REMOTE).cluster.address == "tcp://203.0.113.5:8786"
    assert any((home / "validated").iterdir())  # remembered
    monkeypatch.setenv(schedulers.ALLOW_ENV, "10.0.0.1")
    with pytest.raises(RecipeError) as exc:
        api.validate("iris", REMOTE)
    assert [p.key_path for p in exc.value.problems] == ["cluster.address"]


@pytest.mark.parametrize("where", ["cluster.address", "hydra.launcher.address"])
def test_the_connection_itself_refuses_a_scheduler_not_allowed(
    where: str, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last line, where the client is made: however the address got past validation,
    nothing is sent to a scheduler the operator does not allow (exit 2, the fix named)."""
    from engine.errors import UserError
    from engine.execution.cluster import remote_client
    from engine.specs import ClusterSpec
    from hydra_plugins.sous_dask_launcher.dask_launcher import DaskLauncher

    def no_client(*_: object, **__: object) -> None:
        raise AssertionError("a client was made for a refused scheduler")

    monkeypatch.setattr("distributed.Client", no_client)
    address = "tcp://203.0.113.5:8786"
    with pytest.raises(UserError) as exc:
        if where == "cluster.address":
            next(remote_client(no_client, ClusterSpec(kind="remote", address=address)))
        else:
            DaskLauncher(address=address)._connect()
    assert exc.value.key_path == where
    assert "SOUS_ALLOW_SCHEDULERS=203.0.113.5:8786" in (exc.value.hint or "")
    monkeypatch.setenv(schedulers.ALLOW_ENV, "203.0.113.5")  # allowed: it would connect
    with pytest.raises(AssertionError, match="a client was made"):
        next(remote_client(no_client, ClusterSpec(kind="remote", address=address)))
