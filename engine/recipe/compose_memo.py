"""Remember compositions, so an unchanged recipe is not composed with Hydra again.

Composing imports Hydra's override parser and walks its search path: a large part of a warm
``sous validate`` or of an unchanged rerun. What Hydra composes is decided by the recipe
file, the overrides, every YAML file on the search path (the recipe's directory, the
built-in groups), the Hydra plugins installed, the composer's own code and a few variables
of the environment. The composed config (unresolved: interpolations are resolved later,
under the environment of the moment) is kept under a key of the overrides, the
environment and the versions, with a stamp (path, size, mtime_ns, inode, ctime_ns) of each
of those files and directories: any stamp that differs is a miss. Only compositions without
problems are kept, and none that holds a secret.

Entries live in ``$SOUS_HOME/composed/``, sealed with an HMAC under the signing key (a
planted config, which could name code to run, is never used) and encrypted when encryption
at rest is on, like the validation memo (:mod:`engine.recipe.memo`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from engine.recipe.composed import Composed

SCHEME = "sous-composed-1"
ENV = ("SOUS_ALLOW_TARGETS", "SOUS_ALLOW_SCHEDULERS", "SOUS_RECIPES")
YAML = (".yaml", ".yml")
MAX_DEPTH = 3  # config groups nest: dir/group/sub/option.yaml


def composed(recipe: str, overrides: Sequence[str]) -> Composed:
    """``composer.compose_collecting(recipe, overrides)``, remembered (see the docstring)."""
    from engine.recipe.locate import find_recipe

    path = find_recipe(recipe)
    key, files = _key(path, overrides)
    remembered = _recall(key, files, path) if key else None
    if remembered is not None:
        return remembered
    from engine.recipe.composer import compose_collecting

    result = compose_collecting(recipe, overrides)
    if key and result.cfg is not None and not result.problems:
        _remember(key, files, result)
    return result


def _key(path: Path, overrides: Sequence[str]) -> tuple[str | None, list[str]]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        versions = [version("hydra-core"), version("omegaconf")]
    except PackageNotFoundError:
        return None, []
    files = sorted(set(_inputs(path)))
    h = hashlib.sha256(SCHEME.encode())
    h.update(json.dumps([sys.version, versions, str(path), list(overrides)]).encode())
    h.update(json.dumps([os.environ.get(name, "") for name in ENV]).encode())
    return h.hexdigest()[:32], files


def _inputs(path: Path) -> Iterator[str]:
    """Every file and directory whose change could change the composition."""
    from engine.recipe.searchpath import builtin_conf_dir

    yield str(path)
    recipe_code = Path(__file__).resolve().parent
    yield str(recipe_code)
    yield from (str(p) for p in recipe_code.glob("*.py"))
    for root in (path.parent, builtin_conf_dir()):
        yield from _yaml_tree(root, 0)
    yield from _plugin_dirs()


def _yaml_tree(directory: Path, depth: int) -> Iterator[str]:
    yield str(directory)
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return
    for entry in entries:
        if entry.name.startswith(".") or entry.name == "__pycache__":
            continue
        if entry.is_dir(follow_symlinks=True):
            if depth < MAX_DEPTH:
                yield from _yaml_tree(Path(entry.path), depth + 1)
        elif entry.name.endswith(YAML):
            yield entry.path


def _plugin_dirs() -> Iterator[str]:
    """Hydra's plugin namespace and the plugins in it (a plugin can add to the search path)."""
    import importlib.util

    with contextlib.suppress(ImportError, ValueError):
        spec = importlib.util.find_spec("hydra_plugins")
        for location in (spec.submodule_search_locations or []) if spec else []:
            yield location
            with contextlib.suppress(OSError):
                yield from (e.path for e in os.scandir(location) if e.is_dir())


def _stamps(files: Sequence[str]) -> list[list[Any]] | None:
    out = []
    for f in files:
        try:
            st = os.stat(f)
        except OSError:
            return None
        out.append([f, st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns])
    return out


def _file(key: str) -> Path:
    from engine.home import sous_home

    return sous_home() / "composed" / f"{key}.json"


def _recall(key: str, files: Sequence[str], path: Path) -> Composed | None:
    from engine.security import at_rest
    from engine.store.signing import unseal

    try:
        sealed = unseal(_file(key).read_bytes())
        if sealed is None:
            return None
        entry = json.loads(at_rest.unseal(sealed))
        if entry["key"] != key or entry["stamps"] != _stamps(files):
            return None
        from omegaconf import OmegaConf

        cfg = OmegaConf.create(entry["config"])
        OmegaConf.set_struct(cfg, entry["struct"])
        return Composed(path, cfg, ())
    except Exception:  # absent, foreign, damaged, or sealed under a key we do not hold
        return None


def _remember(key: str, files: Sequence[str], result: Composed) -> None:
    """Best effort: what cannot be kept is composed again next time."""
    from omegaconf import OmegaConf

    from engine.home import private_dir
    from engine.recipe.secrets import holds_secrets
    from engine.security import at_rest
    from engine.store.signing import seal

    cfg = result.cfg
    with contextlib.suppress(Exception):
        stamps = _stamps(files)
        if cfg is None or stamps is None or holds_secrets(cfg):
            return
        entry = {
            "key": key,
            "stamps": stamps,
            "config": OmegaConf.to_container(cfg, resolve=False),
            "struct": bool(OmegaConf.is_struct(cfg)),
        }
        target = _file(key)
        private_dir(target.parent)
        at_rest.write_atomic(target, seal(at_rest.seal(json.dumps(entry).encode())))
