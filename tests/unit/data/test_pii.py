"""PII masking, and the proof that raw PII never reaches anything the store persists."""

from __future__ import annotations

import pickle
from pathlib import Path

import pandas as pd
import pytest

from engine.data.pii import REDACTED, hash_value, mask
from engine.errors import UserError
from engine.specs import ColumnSpec, DataSpec, IntegrateSpec, SchemaSpec, SourceSpec, frozen_map
from engine.steps.data import integrate, load, profile, validate

PEOPLE = pd.DataFrame(
    {
        "id": [1, 2, 3],
        "email": ["ann@example.com", "bob@example.com", None],
        "name": ["Ann Example", "Bob Example", "Cy Example"],
        "phone": ["555-0101", "555-0102", "555-0103"],
        "y": [0, 1, None],
    }
)


@pytest.mark.parametrize(
    ("action", "check"),
    [
        pytest.param(
            "hash", lambda s: len(s.iloc[0]) == 64 and s.iloc[0] != "ann@example.com", id="hash"
        ),
        pytest.param("redact", lambda s: s.iloc[0] == REDACTED, id="redact"),
        pytest.param("drop", None, id="drop"),
    ],
)
def test_actions(action: str, check: object) -> None:
    out = mask(PEOPLE, {"email": action}, salt_env="SOUS_PII_SALT")
    if check is None:
        assert "email" not in out.columns
    else:
        assert check(out["email"])  # type: ignore[operator]
        assert out["email"].isna().tolist() == [False, False, True]  # nulls stay null
    assert PEOPLE["email"].iloc[0] == "ann@example.com"  # the input is not modified


def test_hash_is_stable_for_joins_and_depends_on_the_salt(monkeypatch: pytest.MonkeyPatch) -> None:
    a = mask(PEOPLE, {"email": "hash"}, salt_env="SOUS_PII_SALT")["email"].iloc[0]
    b = mask(PEOPLE, {"email": "hash"}, salt_env="SOUS_PII_SALT")["email"].iloc[0]
    monkeypatch.setenv("SOUS_PII_SALT", "another-salt")
    c = mask(PEOPLE, {"email": "hash"}, salt_env="SOUS_PII_SALT")["email"].iloc[0]
    assert a == b != c
    assert a == hash_value("ann@example.com", b"test-salt-do-not-use")


def test_missing_salt_is_a_user_error_that_never_shows_a_salt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MY_SALT", raising=False)
    with pytest.raises(UserError) as err:
        mask(PEOPLE, {"email": "hash"}, salt_env="MY_SALT")
    assert "MY_SALT" in str(err.value)
    assert err.value.key_path == "data.pii"


def test_unknown_action_names_the_key_path() -> None:
    with pytest.raises(UserError) as err:
        mask(PEOPLE, {"email": "hsh"}, salt_env="SOUS_PII_SALT")
    assert err.value.key_path == "data.pii.email"
    assert "did you mean 'hash'?" in str(err.value.hint)


def _persist_like_the_store(value: object, out: Path, name: str) -> None:
    """What the store does: pickle the value, write artifacts() DataFrames as parquet."""
    (out / f"{name}.pkl").write_bytes(pickle.dumps(value))
    if isinstance(value, pd.DataFrame):
        value.to_parquet(out / f"{name}.parquet")
    for art, obj in getattr(value, "artifacts", dict)().items():
        if isinstance(obj, pd.DataFrame):
            obj.to_parquet(out / f"{name}.{art}.parquet")


def test_raw_pii_never_reaches_persisted_outputs(tmp_path: Path) -> None:
    people = PEOPLE.assign(age=[30, -1, 40])  # row 1 fails a check: quarantined, with its PII
    PEOPLE_CSV = tmp_path / "people.csv"
    people.to_csv(PEOPLE_CSV, index=False)
    pd.DataFrame({"contact": ["ann@example.com", "bob@example.com"], "score": [1.0, 2.0]}).to_csv(
        tmp_path / "scores.csv", index=False
    )
    sources = (
        SourceSpec("people", "csv", frozen_map({"path": str(PEOPLE_CSV)})),
        SourceSpec("scores", "csv", frozen_map({"path": str(tmp_path / "scores.csv")})),
    )
    pii = {"email": "hash", "contact": "hash", "name": "drop", "phone": "redact"}
    spec = DataSpec(
        sources=sources,
        integrate=(
            IntegrateSpec(
                "join", "scores", frozen_map({"left_on": "email", "right_on": "contact"})
            ),
        ),
        pii=frozen_map(pii),
    )
    frames = {s.name: load(s, pii=pii, salt_env="SOUS_PII_SALT") for s in sources}
    joined = integrate(frames, spec)
    assert joined.frame["score"].tolist()[:2] == [1.0, 2.0]  # hashed keys still join
    schema = SchemaSpec(
        on_failure="quarantine", columns=(ColumnSpec("age", checks=frozen_map({"ge": 0})),)
    )
    checked = validate(joined.frame, schema, target="y")
    assert len(checked.quarantine) == 2  # bad age + null target
    prof = profile(checked.frame, target="y")

    out = tmp_path / "store"
    out.mkdir()
    for name, value in {
        **frames,
        "integrate": joined,
        "validate": checked,
        "profile": prof,
    }.items():
        _persist_like_the_store(value, out, name)
    (out / "profile.json").write_text(str(prof.to_dict()))

    raw = [
        v.encode() for v in ("ann@example.com", "bob@example.com", "Ann Example", "Bob", "555-0101")
    ]
    files = list(out.iterdir())
    assert len(files) == 10  # 2 sources x (pkl + parquet), 3 step pickles, 2 artifacts, json
    for path in files:
        data = path.read_bytes()
        for value in raw:
            assert value not in data, f"raw PII {value!r} found in {path.name}"
    assert b"test-salt-do-not-use" not in b"".join(p.read_bytes() for p in files)
