"""Remember recipes that validated, so an unchanged recipe skips the slow checks.

Validating a model imports its estimator (scikit-learn: most of a second) to check its
parameters. A composed config that validated before, under the same validator code, the same
scikit-learn and the same operator allowlists (``$SOUS_ALLOW_TARGETS``,
``$SOUS_ALLOW_SCHEDULERS``: narrowing one validates again), validates again: reuse its spec
(``sous run``, ``sous validate`` and ``sous plan`` all do). The one check that depends on the
world rather than on the config, that each local data source exists, is made again on the
recalled spec (:func:`still_holds`): a file removed since is reported by a full validation.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from engine.specs import RecipeSpec

ENGINE = Path(__file__).resolve().parent.parent


def memo_key(cfg: Any, source_file: str) -> str | None:
    """A token of everything validation depends on, or None when the config cannot be
    resolved (then it is validated in full, and its problems reported)."""
    from importlib.metadata import version

    from omegaconf import OmegaConf

    try:
        plain = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    except Exception:
        return None
    digest = hashlib.sha256()
    digest.update(json.dumps(plain, default=repr).encode())  # composition order is stable
    digest.update(source_file.encode())
    for allowlist in ("SOUS_ALLOW_TARGETS", "SOUS_ALLOW_SCHEDULERS"):  # the operator's
        digest.update(f"{allowlist}={os.environ.get(allowlist, '')}\n".encode())
    digest.update(version("scikit-learn").encode())
    digest.update(validator_code().encode())
    digest.update(_imported_schema(plain, source_file))
    return digest.hexdigest()[:24]


@functools.cache
def validator_code() -> str:
    """A hash of the validator's source, read once per process (the validation memo and
    the estimator checks' memo both key on it): the recipe package, the spec types, the
    ``_target_`` rules and the streaming params an incremental model's entry may hold."""
    digest = hashlib.sha256()
    recipe = sorted((ENGINE / "recipe").glob("*.py"))
    for path in [*recipe, ENGINE / "specs.py", *VALIDATOR_CODE_ELSEWHERE]:
        digest.update(str(path.relative_to(ENGINE)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


VALIDATOR_CODE_ELSEWHERE = (
    ENGINE / "security" / "targets.py",
    ENGINE / "models" / "incremental.py",
)


def _imported_schema(plain: Any, source_file: str) -> bytes:
    """The bytes of ``schema.pandera_yaml`` (its checks are part of the spec): an edited file
    is validated again, not recalled."""
    schema = plain.get("schema") if isinstance(plain, dict) else None
    name = schema.get("pandera_yaml") if isinstance(schema, dict) else None
    if not isinstance(name, str):
        return b""
    try:
        return (Path(source_file).resolve().parent / name).read_bytes()
    except OSError:
        return b"?"


def still_holds(spec: RecipeSpec) -> bool:
    """Whether what validation found on disk is still there: every local source path
    (globs and URLs are checked when read)."""
    import glob

    paths = [s.options.get("path") for s in spec.data.sources]
    local = [p for p in paths if isinstance(p, str) and "://" not in p and not glob.has_magic(p)]
    return all(Path(p).exists() for p in local)


def _path(key: str) -> Path:
    from engine.home import sous_home

    return sous_home() / "validated" / f"{key}.pkl"


def recall(key: str) -> RecipeSpec | None:
    """The remembered spec, if its file is sealed under the signing key (a memo planted in
    a cloned ``.sous/validated/`` is ignored, never unpickled)."""
    import pickle

    path = _path(key)
    if not path.is_file():
        return None
    from engine.security.at_rest import unseal as open_sealed
    from engine.store.signing import unseal

    try:
        payload = unseal(path.read_bytes())  # only a memo written under our key is unpickled
        # encrypted when encryption at rest is on (a schema's allowed values are data);
        # without the key it is no memo: validated in full
        spec = None if payload is None else pickle.loads(open_sealed(payload))
    except Exception:
        return None
    return spec if isinstance(spec, RecipeSpec) else None


def remember(key: str, spec: RecipeSpec) -> None:
    """Written to a temp file and renamed: a reader never sees half a spec."""
    import pickle
    import tempfile

    path = _path(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    from engine.security.at_rest import seal as encrypt
    from engine.store.signing import seal

    with os.fdopen(fd, "wb") as f:
        f.write(seal(encrypt(pickle.dumps(spec))))
    os.replace(tmp, path)
