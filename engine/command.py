"""What a ``sous`` subcommand is: the one record every command module declares.

A module (``engine.cli_store``, a plugin's entry point in ``sous.commands``) lists its
commands as :class:`Command` records; ``engine.cli`` builds one parser per name from them.
A command with ``actions`` takes an ACTION word first (``sous runs ls``); another module can
extend it (``extends=True``) with new actions and options, handled by its own ``run``. This
module imports only argparse: command modules load for ``sous --help``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

Handler = Callable[[argparse.Namespace], int]


def _nothing(parser: argparse.ArgumentParser) -> None:
    """A command with no arguments of its own."""


@dataclass(frozen=True)
class Command:
    """One subcommand, or an extension of one.

    ``configure`` adds the command's arguments (after the ACTION positional when the
    command has ``actions``); ``run`` does the work through ``engine.api`` and returns the
    exit code. With ``extends``, the record adds ``actions`` and options to the command of
    that ``name`` defined elsewhere, and ``run`` handles only its own actions (or, with no
    actions, replaces nothing: its options reach the primary's handler)."""

    name: str
    help: str = ""
    configure: Callable[[argparse.ArgumentParser], None] = _nothing
    run: Handler | None = None
    actions: tuple[str, ...] = ()
    default_action: str | None = None
    extends: bool = False
    description: str | None = None
    raw_description: bool = False
    # the end of ``--help``, computed only when help is asked for (it may read the disk)
    epilog: Callable[[], str] | None = None


@dataclass(frozen=True)
class Built:
    """A parsed command's handler: the primary's, or an extension's for its actions."""

    name: str
    primary: Handler
    by_action: Mapping[str, Handler]

    def __call__(self, args: argparse.Namespace) -> int:
        handler = self.by_action.get(getattr(args, "action", None) or "", self.primary)
        return int(handler(args) or 0)


def group(commands: Iterable[Command]) -> dict[str, list[Command]]:
    """Commands by name, the primary (non-extending) record first; a name defined twice, or
    an extension of a name nobody defines, is a programming error (ValueError)."""
    named: dict[str, list[Command]] = {}
    for c in commands:
        named.setdefault(c.name, []).append(c)
    for name, records in named.items():
        primaries = [c for c in records if not c.extends]
        if len(primaries) != 1:
            what = "defined twice" if primaries else "extended but never defined"
            raise ValueError(f"sous {name} is {what}")
        if primaries[0].run is None:
            raise ValueError(f"sous {name} has no handler")
        records.sort(key=lambda c: c.extends)
    return named


def add(sub: argparse._SubParsersAction, records: list[Command]) -> Built:  # type: ignore[type-arg]
    """Add one command (its primary record first, then its extensions) to ``sub``; the parsed
    namespace carries its handler as ``_sous_handler``."""
    primary = records[0]
    parser = sub.add_parser(
        primary.name,
        help=primary.help,
        description=primary.description or primary.help,
        formatter_class=argparse.RawDescriptionHelpFormatter
        if primary.raw_description
        else argparse.HelpFormatter,
    )
    parser.epilog_factory = primary.epilog  # type: ignore[attr-defined]
    actions = [a for c in records for a in c.actions]
    if actions:
        parser.add_argument(
            "action",
            metavar="ACTION",
            nargs="?" if primary.default_action else None,
            default=primary.default_action,
            choices=actions,
            help="one of: " + ", ".join(actions),
        )
    by_action: dict[str, Handler] = {}
    for c in records:
        c.configure(parser)
        if c.extends and c.run is not None:
            by_action.update(dict.fromkeys(c.actions, c.run))
    assert primary.run is not None  # checked by group()
    built = Built(primary.name, primary.run, by_action)
    parser.set_defaults(_sous_handler=built)
    return built
