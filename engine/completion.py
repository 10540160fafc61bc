"""Shell completion for ``sous``: commands, actions, options and their choices, recipe
names, config groups with their options, recipe keys and model names (the recipe's, after
``models.``; the registry's, where a command takes a model NAME or TARGET).

``sous completion bash|zsh|fish`` prints a script that asks ``sous __complete -- WORD...``
(the words after ``sous``, the last being the one typed so far) for candidates, one a line.
The candidates come from the live parser, so a command added by any module completes too.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Sequence
from pathlib import Path

SHELLS = ("bash", "zsh", "fish")

BASH = r"""# sous completion for bash: eval "$(sous completion bash)" (e.g. in ~/.bashrc)
_sous_complete() {
    local line="${COMP_LINE:0:$COMP_POINT}" words
    read -ra words <<< "$line"
    [[ "$line" == *" " ]] && words+=("")
    local IFS=$'\n'
    COMPREPLY=($(sous __complete -- "${words[@]:1}" 2>/dev/null))
    local word="${words[-1]}"
    local prefix="${word%"${word##*[=:]}"}"  # bash splits words at = and :
    [[ -n "$prefix" ]] && COMPREPLY=("${COMPREPLY[@]#"$prefix"}")
    [[ "${COMPREPLY[0]}" == *[=.] ]] && compopt -o nospace
}
complete -o default -F _sous_complete sous
"""

ZSH = r"""#compdef sous
# sous completion for zsh: eval "$(sous completion zsh)" (e.g. in ~/.zshrc)
_sous() {
    local -a found spaced open
    found=("${(@f)$(sous __complete -- "${(@)words[2,CURRENT]}" 2>/dev/null)}")
    spaced=(${found:#*[=.]})
    open=(${(M)found:#*[=.]})
    (( ${#spaced} )) && compadd -Q -a spaced
    (( ${#open} )) && compadd -Q -S '' -a open
}
compdef _sous sous
"""

FISH = r"""# sous completion for fish: sous completion fish | source
function __sous_complete
    set -l tokens (commandline -opc) (commandline -ct)
    sous __complete -- $tokens[2..-1] 2>/dev/null
end
complete -c sous -f -a '(__sous_complete)'
"""

SCRIPTS = {"bash": BASH, "zsh": ZSH, "fish": FISH}


def script(shell: str) -> str:
    return SCRIPTS[shell]


def candidates(parser: argparse.ArgumentParser, words: Sequence[str]) -> list[str]:
    """What may follow ``sous WORDS[:-1]`` and start with ``WORDS[-1]``."""
    words = list(words) or [""]
    current, before = words[-1], words[:-1]
    sub = _subparsers(parser)
    if not before:
        names = [*sub.choices] if sub else []
        options = _options(parser) if current.startswith("-") else []
        return _starting(current, names + options)
    command = sub.choices.get(before[0]) if sub else None
    if command is None:
        return []
    return _starting(current, list(_for_command(command, before[1:], current)))


def _for_command(parser: argparse.ArgumentParser, typed: list[str], current: str) -> Iterator[str]:
    previous = _option(parser, typed[-1]) if typed else None
    if previous is not None and previous.nargs != 0:
        if previous.metavar == "ALIAS":  # sous promote NAME VERSION --to ALIAS
            from engine.store.registry import ALIASES

            yield from ALIASES
            return
        yield from (str(c) for c in previous.choices or ())  # its value; files otherwise
        return
    if current.startswith("-"):
        yield from _options(parser)
        return
    given = _positional_words(parser, typed)
    slots = [a for a in parser._get_positional_actions()]
    if slots and slots[0].dest == "action":
        if not given:
            yield from (str(c) for c in slots[0].choices or ())
            return
        slots, given = slots[1:], given[1:]
    positionals = len(given)
    if any(a.dest == "recipe" for a in slots):
        from engine.recipe.introspect import catalog, override_candidates

        if positionals == 0:
            yield from catalog().recipes
            return
        recipe = given[0]
        yield from override_candidates(recipe, current)
        yield from _recipe_models(recipe, current)
        return
    if positionals < len(slots) and slots[positionals].metavar in MODEL_SLOTS:
        yield from registered_models()
    elif positionals < len(slots) and slots[positionals].metavar == "VERSION" and given:
        yield from registered_versions(given[0])


# A positional with this metavar takes a registered model's name (`sous promote NAME ...`,
# `sous serve TARGET`, `sous monitor NAME`, `sous models ls NAME`).
MODEL_SLOTS = frozenset({"NAME", "TARGET"})


def registered_models() -> list[str]:
    """The registry's model names; none (and no database created) when there is no registry
    yet. Completion never fails: a broken store completes nothing."""
    if not _registry_exists():
        return []
    try:
        from engine.api import model_names

        return model_names()
    except Exception:  # a completion must not print a traceback into the shell
        return []


def registered_versions(name: str) -> list[str]:
    """The versions of registered model ``name`` (``sous promote NAME <TAB>``)."""
    if not _registry_exists():
        return []
    try:
        from engine.store.registry import versions

        return [v.version for v in versions(name)]
    except Exception:  # see registered_models
        return []


def _registry_exists() -> bool:
    """A registry to read: ``SOUS_DB_URL``, or the home's runs.db (looked for, not created)."""
    import os

    home = Path(os.environ.get("SOUS_HOME", ".sous")).expanduser()  # as engine.home, unmade
    return bool(os.environ.get("SOUS_DB_URL")) or (home / "runs.db").is_file()


def _recipe_models(recipe: str, current: str) -> list[str]:
    """``models.NAME.`` for each model of the recipe, so any parameter can follow."""
    sign = current[: len(current) - len(current.lstrip("+~"))]
    if "=" in current or not current[len(sign) :].startswith("models"):
        return []
    from engine.recipe.locate import find_recipe
    from engine.recipe.yamlfile import read_recipe_file

    try:
        data = read_recipe_file(find_recipe(recipe)).data
    except Exception:  # see registered_models
        return []
    models = data.get("models") if isinstance(data, dict) else None
    return [f"{sign}models.{name}." for name in sorted(models)] if isinstance(models, dict) else []


def _subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction | None:  # type: ignore[type-arg]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return None


def _options(parser: argparse.ArgumentParser) -> list[str]:
    return [
        s
        for a in parser._actions
        if a.help is not argparse.SUPPRESS
        for s in a.option_strings
        if s.startswith("--")
    ]


def _option(parser: argparse.ArgumentParser, word: str) -> argparse.Action | None:
    return parser._option_string_actions.get(word)


def _positional_words(parser: argparse.ArgumentParser, typed: list[str]) -> list[str]:
    out, skip = [], False
    for word in typed:
        if skip:
            skip = False
            continue
        action = _option(parser, word)
        if action is not None:
            skip = action.nargs != 0
            continue
        if not word.startswith("-"):
            out.append(word)
    return out


def _starting(prefix: str, options: list[str]) -> list[str]:
    seen: dict[str, None] = {}
    for o in options:
        if o.startswith(prefix):
            seen.setdefault(o, None)
    return list(seen)
