"""What decides a node's output besides its inputs: the code it runs and the libraries it uses.

A node's key must change when the code that computes it changes (an edited step, an upgraded
Sous) or when a library that decides its result is upgraded (scikit-learn, numpy, pandas,
torch...), and only then. This module answers both questions for a step function, once per
process:

- :func:`code_fingerprint`: a hash of the step function's own source, the functions, classes
  and constants of its module that it uses (followed transitively), and the source of every
  ``engine`` module it imports, directly or through other ``engine`` modules (imports inside
  functions included). So editing ``profile`` recomputes the profile node, not the other
  steps of ``engine/steps/data.py``; editing ``engine/metrics.py`` recomputes what scores.
- :func:`deciding_libraries`: which of :data:`DECIDING` the same code imports.

Model adapters reached through a model's ``kind`` (Lightning) are not followed statically: a
node that builds such a model names its kind (:func:`model_dependencies`), so an edit of the
Lightning adapter or a torch upgrade recomputes Lightning fits, not forests.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
import inspect
import sys
import types
from collections.abc import Callable, Iterable, Iterator
from importlib import metadata
from typing import Any

from engine import provenance_cache

# Third-party libraries whose version can change a result, by import name -> distribution.
DECIDING: dict[str, str] = {
    "numpy": "numpy",
    "pandas": "pandas",
    "pyarrow": "pyarrow",
    "scipy": "scipy",
    "sklearn": "scikit-learn",
    "pandera": "pandera",
    "imblearn": "imbalanced-learn",
    "torch": "torch",
    "lightning": "lightning",
}
# Libraries that only some models run: named by the model spec, never found statically.
BY_MODEL = frozenset({"imblearn", "torch", "lightning", "xgboost", "lightgbm"})
# Adapters chosen by a model's ``kind`` at run time, with the libraries they bring.
KIND_MODULES: dict[str, tuple[str, tuple[str, ...]]] = {
    "lightning": ("engine.models.lightning", ("torch", "lightning")),
    "dask_xgboost": ("engine.models.dask_xgboost", ("xgboost",)),
    "dask_lightgbm": ("engine.models.dask_lightgbm", ("lightgbm",)),
    "incremental": ("engine.models.incremental", ()),
}
# Imbalance strategies that run imbalanced-learn.
IMBLEARN_STRATEGIES = frozenset({"oversample", "undersample", "smote"})
ROOT = "engine"


@functools.cache
def _origin(name: str) -> str | None:
    """The source file of module ``name``, or None (not found, not Python source)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    return spec.origin


@functools.cache
def _module_source(name: str) -> bytes | None:
    origin = _origin(name)
    if origin is None:
        return None
    with open(origin, "rb") as fh:
        return fh.read()


@functools.cache
def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _imported(tree: ast.AST, package: str) -> Iterator[str]:
    """Every module name an AST imports (``from a import b`` yields ``a.b`` when ``b`` is a
    module, else ``a``); relative imports resolved against ``package``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            yield base
            for alias in node.names:
                if base.startswith(ROOT) and _is_module(f"{base}.{alias.name}"):
                    yield f"{base}.{alias.name}"


@functools.cache
def _module_imports(name: str) -> tuple[frozenset[str], frozenset[str]]:
    """(engine modules, third-party top-level names) that module ``name`` imports."""
    source = _module_source(name)
    if source is None:
        return frozenset(), frozenset()
    return _split(_imported(ast.parse(source), _package_of(name)))


def _package_of(name: str) -> str:
    """The package that relative imports in module ``name`` are resolved against."""
    spec = importlib.util.find_spec(name)
    if spec is not None and spec.submodule_search_locations:
        return name
    return name.rpartition(".")[0]


def _split(names: Iterable[str]) -> tuple[frozenset[str], frozenset[str]]:
    own, third = set(), set()
    for n in names:
        top = n.split(".")[0]
        if top == ROOT:
            own.add(n)
        elif top:
            third.add(top)
    skipped = {module for module, _ in KIND_MODULES.values()}
    return frozenset(own - skipped), frozenset(third)


@functools.cache
def _closure(name: str) -> tuple[frozenset[str], frozenset[str]]:
    """Engine modules reachable from ``name`` by imports (``name`` included), and the
    third-party libraries they import."""
    seen: set[str] = set()
    libs: set[str] = set()
    stack = [name]
    while stack:
        current = stack.pop()
        if current in seen or not _is_module(current):
            continue
        seen.add(current)
        own, third = _module_imports(current)
        libs |= third
        stack.extend(own - seen)
    return frozenset(seen), frozenset(libs)


def _members(fn: Callable[..., Any]) -> tuple[list[str], set[str], set[str]]:
    """The sources of ``fn`` and of what it uses from its own module (transitively), the
    other engine modules it reaches, and the third-party names it imports itself."""
    module = sys.modules[fn.__module__]
    sources: list[str] = []
    modules: set[str] = set()
    libs: set[str] = set()
    seen: set[int] = set()
    stack: list[Any] = [fn]
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        try:
            text = inspect.getsource(obj)
        except (OSError, TypeError):
            text = repr(obj)
        sources.append(text)
        own, third = _split(_imported(ast.parse(_dedent(text)), _package_of(module.__name__)))
        modules |= own
        libs |= third
        for name in sorted(_names(obj)):
            value = module.__dict__.get(name)
            if value is None:
                continue
            if isinstance(value, types.ModuleType):
                _add_module(value.__name__, modules, libs)
            elif getattr(value, "__module__", None) == module.__name__ and (
                inspect.isfunction(value) or inspect.isclass(value)
            ):
                stack.append(value)
            elif inspect.isfunction(value) or inspect.isclass(value):
                _add_module(getattr(value, "__module__", "") or "", modules, libs)
            elif isinstance(value, int | float | str | bytes | tuple | frozenset):
                sources.append(f"{name}={value!r}")
    return sources, modules, libs


def _add_module(name: str, modules: set[str], libs: set[str]) -> None:
    top = name.split(".")[0]
    if top == ROOT:
        modules.add(name)
    elif top:
        libs.add(top)


def _dedent(text: str) -> str:
    import textwrap

    return textwrap.dedent(text)


def _names(obj: Any) -> set[str]:
    """Global names used by a function's code (nested code included) or a class's methods."""
    codes: list[types.CodeType] = []
    if inspect.isclass(obj):
        for member in vars(obj).values():
            fn = getattr(member, "__func__", member)
            if inspect.isfunction(fn):
                codes.append(fn.__code__)
    elif inspect.isfunction(obj):
        codes.append(obj.__code__)
    names: set[str] = set()
    while codes:
        code = codes.pop()
        names.update(code.co_names)
        codes.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
    return names


@functools.cache
def _function_provenance(fn: Callable[..., Any]) -> tuple[str, frozenset[str]]:
    """Remembered on disk by the stamps of the files it reads (:mod:`engine.provenance_cache`):
    computing it parses every engine module ``fn`` reaches."""
    anchor = getattr(sys.modules.get(fn.__module__), "__file__", None)
    name = f"{fn.__module__}:{fn.__qualname__}"
    if anchor is not None and (hit := provenance_cache.recall(name, anchor)) is not None:
        return hit.fingerprint, hit.libraries
    fingerprint, libs, reached = _compute_provenance(fn)
    if anchor is not None:
        files = [anchor, *(o for m in reached if (o := _origin(m)) is not None)]
        provenance_cache.remember(
            name, anchor, provenance_cache.Remembered(fingerprint, libs), files
        )
    return fingerprint, libs


def _compute_provenance(fn: Callable[..., Any]) -> tuple[str, frozenset[str], set[str]]:
    sources, modules, libs = _members(fn)
    reached: set[str] = set()
    for name in modules:
        closure, third = _closure(name)
        reached |= closure
        libs |= third
    h = hashlib.sha256()
    for text in sources:
        h.update(text.encode())
        h.update(b"\0")
    for name in sorted(reached - {fn.__module__}):
        h.update(name.encode())
        h.update(_module_source(name) or b"")
        h.update(b"\0")
    return h.hexdigest()[:16], frozenset((libs & DECIDING.keys()) - BY_MODEL), reached


def code_fingerprint(fn: Callable[..., Any]) -> str:
    """A hash of the code ``fn`` runs (see the module docstring); computed once per process."""
    return _function_provenance(fn)[0]


def deciding_libraries(fn: Callable[..., Any]) -> frozenset[str]:
    """Import names of the libraries in :data:`DECIDING` that ``fn``'s code imports."""
    return _function_provenance(fn)[1]


@functools.cache
def module_fingerprint(name: str) -> str:
    """A hash of an engine module's source and the engine modules it imports, for code
    reached through a model's kind (remembered on disk like a step's)."""
    anchor = _origin(name)
    if anchor is not None and (hit := provenance_cache.recall(name, anchor)) is not None:
        return hit.fingerprint
    closure, _ = _closure(name)
    h = hashlib.sha256()
    for module in sorted(closure):
        h.update(module.encode())
        h.update(_module_source(module) or b"")
    fingerprint = h.hexdigest()[:16]
    if anchor is not None:
        files = [o for m in closure if (o := _origin(m)) is not None]
        answer = provenance_cache.Remembered(fingerprint, frozenset())
        provenance_cache.remember(name, anchor, answer, files)
    return fingerprint


@functools.cache
def _distribution_of(top: str) -> str | None:
    """The distribution providing import name ``top`` (a scan of every installed one)."""
    dists = metadata.packages_distributions().get(top)
    return dists[0] if dists else None


@functools.cache
def library_version(top: str) -> str | None:
    """The installed version of the distribution that provides import name ``top``."""
    try:  # the distribution is usually named like the package: no scan needed
        return metadata.version(DECIDING.get(top, top))
    except metadata.PackageNotFoundError:
        pass
    dist = _distribution_of(top)
    try:
        return metadata.version(dist) if dist else None
    except metadata.PackageNotFoundError:
        return None


def versions(tops: Iterable[str]) -> dict[str, str | None]:
    return {top: library_version(top) for top in sorted(set(tops))}


def model_dependencies(model: Any, recipe_imbalance: Any = None) -> tuple[str, set[str]]:
    """What a model spec adds to the code and libraries of a node that builds it: the
    adapter module of its kind (fingerprinted) and the libraries it imports, the package of
    its ``_target_``, and imbalanced-learn when its imbalance strategy runs it."""
    code = ""
    libs: set[str] = set()
    kind = getattr(model, "kind", None)
    if kind in KIND_MODULES:
        module, kind_libs = KIND_MODULES[kind]
        code = module_fingerprint(module)
        libs.update(kind_libs)
    target = getattr(model, "target", None)
    if target:
        libs.add(str(target).split(".")[0])
    imbalance = getattr(model, "imbalance", None) or recipe_imbalance
    if getattr(imbalance, "strategy", None) in IMBLEARN_STRATEGIES:
        libs.add("imblearn")
    return code, libs
