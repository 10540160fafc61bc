"""The ``sous`` command line: argument parsing and printing only; the work is in ``engine.api``.

Exit codes: 0 success, 1 a run or step failed, 2 the user's input is wrong. User errors print
one clear message and no traceback. Nothing heavy is imported until a command needs it, so
``sous --help`` answers at once.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from engine import api
from engine.errors import SousError, UserError

EPILOG = """examples:
  sous run iris                              run the iris recipe end to end
  sous run churn model=rf split.test_size=0.3   with Hydra overrides
  sous run iris -m models.rf.n_estimators=50,100   a multirun on the Dask launcher
  sous runs last --json                      the last run's record
  sous serve iris --port 3000                serve iris's production model over HTTP
state lives in $SOUS_HOME (default ./.sous)."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sous",
        description="Sous: declarative ML recipes compiled to Dask graphs and served with BentoML.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from engine import __version__

    p.add_argument("--version", action="version", version=f"sous {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def recipe_cmd(name: str, help_: str) -> argparse.ArgumentParser:
        c = sub.add_parser(name, help=help_, description=help_)
        c.add_argument(
            "recipe", metavar="RECIPE", help="a recipe name under recipes/ or a .yaml path"
        )
        c.add_argument(
            "overrides",
            nargs="*",
            metavar="OVERRIDE",
            help="Hydra overrides, e.g. split.test_size=0.3",
        )
        c.add_argument(
            "--allow-target",
            action="append",
            default=[],
            dest="allow_targets",
            metavar="PREFIX",
            help="trust _target_ classes under PREFIX (repeatable; adds to $SOUS_ALLOW_TARGETS)",
        )
        return c

    r = recipe_cmd("run", "run a recipe end to end")
    r.add_argument(
        "-m", "--multirun", action="store_true", help="Hydra multirun (sweep) on the Dask launcher"
    )
    r.add_argument("--executor", choices=["sync", "local", "remote"], help="override cluster.kind")
    r.add_argument("--json", action="store_true", help="print the run record as JSON")
    recipe_cmd("validate", "check a recipe; exit 0, or 2 with every problem listed")
    pl = recipe_cmd("plan", "print the DAG, with which nodes are cached")
    pl.add_argument("--json", action="store_true")
    pl.add_argument(
        "--format",
        choices=["table", "dot", "mermaid"],
        default="table",
        help="dot (Graphviz) or mermaid: the DAG as a picture, nodes coloured by status",
    )

    runs = sub.add_parser("runs", help="the run history and leaderboards")
    runs.add_argument(
        "action", nargs="?", default="ls", choices=["ls", "show", "last", "leaderboard"]
    )
    runs.add_argument("run_id", nargs="?", metavar="ID")
    runs.add_argument("--json", action="store_true")
    runs.add_argument("--limit", type=int, default=20)

    models = sub.add_parser("models", help="model versions, their aliases and metrics")
    models.add_argument("action", choices=["ls"])
    models.add_argument("name", metavar="NAME")
    models.add_argument("--json", action="store_true")

    b = sub.add_parser("build", help="a Bento with its Dockerfile, and an exportable archive")
    b.add_argument("name", metavar="NAME", help="model name, or NAME:VERSION")
    b.add_argument(
        "--out", default=api.BUILD_DIR, help="directory for the Dockerfile and .bento archive"
    )

    s = sub.add_parser("serve", help="serve a model's production version or a Bento tag over HTTP")
    s.add_argument(
        "target",
        metavar="TARGET",
        help="NAME (its production version), NAME:VERSION or a Bento tag",
    )
    s.add_argument("--port", type=int, default=api.SERVE_PORT)
    s.add_argument("--host", default=api.SERVE_HOST)
    s.add_argument("--ssl-certfile", metavar="PEM", help="serve HTTPS with this certificate")
    s.add_argument("--ssl-keyfile", metavar="PEM", help="the certificate's private key")
    s.add_argument(
        "--challenger",
        metavar="VERSION",
        help="serve an A/B (or shadow) experiment against VERSION",
    )
    s.add_argument(
        "--share", type=float, default=0.1, help="share of traffic for the challenger (A/B)"
    )
    s.add_argument(
        "--shadow", action="store_true", help="the challenger answers every request, logged only"
    )

    pr = sub.add_parser("promote", help="move an alias (staging, production) to a version")
    pr.add_argument("name", metavar="NAME")
    pr.add_argument("version", metavar="VERSION")
    pr.add_argument("--to", required=True, dest="alias", metavar="ALIAS")

    rb = sub.add_parser("rollback", help="production back to the previous version")
    rb.add_argument("name", metavar="NAME")
    from engine import cli_store  # cache, db, models history, promote --reason/--force

    COMMANDS.update(cli_store.register(sub, {"models": cmd_models}))
    from engine import cli_monitor  # monitor, retrain (issue 12)

    COMMANDS.update(cli_monitor.register(sub))
    from engine import cli_ui

    COMMANDS.update(cli_ui.register(sub))
    from engine import cli_stream  # sous stream, sous stream status (issue 13)

    COMMANDS.update(cli_stream.register(sub))
    from engine import cli_scale  # backup, restore, runs cost (issue 16)

    COMMANDS.update(cli_scale.register(sub, {"runs": cmd_runs}))
    for command in extra_commands().values():
        command.configure(sub.add_parser(command.name, help=command.help, description=command.help))
    return p


@dataclass(frozen=True)
class Command:
    """A subcommand that another module adds to ``sous`` (``sous cache``, ``sous ui``, ...):
    ``configure`` adds its arguments to its parser, ``run`` does the work (through
    ``engine.api``) and returns the exit code. Its module must import nothing heavy at
    module level: it is imported for ``sous --help``."""

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


# Modules of this package that each define ``COMMAND = Command(...)``: add one line per
# module (e.g. "engine.cli_cache"). Other packages use the ``sous.commands`` entry-point
# group, whose entries name a Command object.
COMMAND_MODULES: tuple[str, ...] = ()
_REGISTERED: dict[str, Command] = {}


def register(command: Command) -> None:
    """Add a subcommand to ``sous``: one call."""
    if command.name in COMMANDS:
        raise ValueError(f"sous {command.name} is a built-in command")
    _REGISTERED[command.name] = command


def extra_commands() -> dict[str, Command]:
    """Registered commands, plus those of ``COMMAND_MODULES`` and the entry points."""
    import importlib
    from importlib.metadata import entry_points

    found = dict(_REGISTERED)
    for module in COMMAND_MODULES:
        command = importlib.import_module(module).COMMAND
        found.setdefault(command.name, command)
    for ep in entry_points(group="sous.commands"):
        command = ep.load()
        found.setdefault(command.name, command)
    return {name: c for name, c in found.items() if name not in COMMANDS}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(_multirun_flag_first(list(sys.argv[1:] if argv is None else argv)))
    if getattr(args, "allow_targets", None):  # the operator's, like $SOUS_ALLOW_TARGETS
        from engine.security.targets import add_to_environment

        add_to_environment(args.allow_targets)
    handler = COMMANDS.get(args.command) or extra_commands()[args.command].run
    try:
        return int(handler(args) or 0)
    except SousError as exc:
        if exc.user_error:
            print(f"error: {exc}", file=sys.stderr)
        else:
            print(f"failed: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # `sous runs ls | head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("interrupted: finished steps are cached; rerun to resume", file=sys.stderr)
        return 130


def entry() -> None:
    """The ``sous`` executable: ``main``, then a quick exit (see :func:`exit_now`)."""
    exit_now(main())


def exit_now(code: int) -> None:
    """Leave the way the interpreter would, minus its final teardown: wait for non-daemon
    threads, run the exit hooks (logging, weakref finalizers, Dask's), flush, then
    ``os._exit``. Tearing down the ~2,700 modules a run imports takes about half a second
    of a 15-second run, and frees nothing the OS would not."""
    import atexit
    import os
    import threading

    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # closed, or a broken pipe
            stream.flush()
    os._exit(code)


def _multirun_flag_first(argv: list[str]) -> list[str]:
    """`sous run iris -m a=1,2` and `sous run iris a=1,2 -m` both mean a multirun: argparse
    stops at the first positional list, so move the flag before the recipe."""
    if argv[:1] == ["run"]:
        flags = [a for a in argv[1:] if a in ("-m", "--multirun")]
        rest = [a for a in argv[1:] if a not in ("-m", "--multirun")]
        return ["run", *flags, *rest]
    return argv


def cmd_run(args: argparse.Namespace) -> int:
    if args.multirun:
        from engine.multirun import multirun

        return multirun(args.recipe, args.overrides)

    spec, record = api.run_recipe(args.recipe, args.overrides, executor=args.executor)
    if args.json:
        _print_json(record)
    gate = record.get("gate") or {}
    if gate and not gate.get("passed"):
        print("gate failed: " + "; ".join(gate.get("failures", [])), file=sys.stderr)
        print("the winner was recorded but not packaged or promoted", file=sys.stderr)
        return 1
    smoke = record.get("smoke") or {}
    if smoke and not smoke.get("passed"):
        print(f"smoke test failed: {smoke.get('message')}", file=sys.stderr)
        print(f"{record['bento']} was built but not promoted; aliases unchanged", file=sys.stderr)
        return 1
    if spec.deploy.target == "serve" and record.get("bento"):
        print(f"serving {record['bento']} on http://127.0.0.1:{spec.deploy.port} (Ctrl-C stops)")
        return api.serve(record["bento"], port=spec.deploy.port)
    return 0


def cmd_validate(args: argparse.Namespace) -> int:

    spec = api.validate(args.recipe, args.overrides)
    models = ", ".join(m.name for m in spec.models)
    print(
        f"recipe {spec.name!r} is valid: task {spec.task}, target {spec.target!r}, models {models}"
    )
    return 0


def cmd_plan(args: argparse.Namespace) -> int:

    spec = api.validate(args.recipe, args.overrides)
    static, compiled = api.static_plan(spec)
    if args.format != "table":
        from engine.ui.graph import render, rows_from_json

        graph = [
            {"step": n.step, "key": k, "cached": k in compiled.cached, "inputs": list(n.deps)}
            for k, n in static.plan.nodes.items()
        ]
        print(render(rows_from_json(graph), args.format, spec.name), end="")
        return 0
    later_keys = _downstream(static.plan.nodes, static.at_run_time)
    rows: list[dict[str, Any]] = [
        {"step": n.step, "key": k, "cached": k in compiled.cached, "inputs": list(n.deps)}
        if k not in later_keys
        else {
            "step": n.step,
            "key": None,  # it hashes rows that only the run reads
            "cached": False,
            "inputs": list(n.deps),
            "note": "fingerprinted at run time"
            if k in static.at_run_time
            else "keyed once its sources are read",
        }
        for k, n in static.plan.nodes.items()
    ]
    later: list[dict[str, Any]] = [
        {
            "step": f"trial:{d.model}:*",
            "key": None,
            "cached": False,
            "inputs": [],
            "proposed": "at run time",
            "strategy": d.strategy,
            "max_trials": d.max_trials,
        }
        for d in static.deferred
    ]
    if later:
        later.append(
            {
                "step": "select, refit, test",
                "key": None,
                "cached": False,
                "inputs": [],
                "proposed": "after the trials",
            }
        )
    if args.json:
        _print_json(rows + later)
        return 0
    width = max(len(r["step"]) for r in rows + later)
    for r in rows:
        mark = "cached" if r["cached"] else "to run"
        print(f"{r['step']:<{width}}  {mark:<6}  {r['key'] or r['note']}")
    for r in later:
        how = f"{r['strategy']}, up to {r['max_trials']} trials" if "strategy" in r else ""
        print(f"{r['step']:<{width}}  proposed {r['proposed']}" + (f" ({how})" if how else ""))
    n_cached = sum(r["cached"] for r in rows)
    print(
        f"{len(rows)} steps, {n_cached} cached, {len(rows) - n_cached} to run"
        + (f"; trials of {len(static.deferred)} model(s) proposed at run time" if later else "")
    )
    return 0


def _downstream(nodes: Any, roots: Any) -> set[str]:
    """``roots`` and every node that reads them, directly or not (``nodes`` in topological
    order)."""
    found = set(roots)
    for key, node in nodes.items():
        if any(d in found for d in node.deps):
            found.add(key)
    return found


def cmd_runs(args: argparse.Namespace) -> int:
    from engine import show

    if args.action == "ls":
        runs = api.runs(limit=args.limit)
        _print_json(runs) if args.json else show.runs_table(runs)
        return 0
    if args.action == "leaderboard":
        board = api.leaderboard(args.run_id)
        _print_json(board) if args.json else show.leaderboard_table(board)
        return 0
    if args.action == "show" and not args.run_id:
        raise UserError("`sous runs show` needs a run ID", hint="list them with `sous runs ls`")
    record = api.run_record(None if args.action == "last" else args.run_id)
    _print_json(record) if args.json else show.run_details(record)
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from engine import show

    rows = [show.version_row(v) for v in api.models(args.name)]
    _print_json(rows) if args.json else show.versions_table(args.name, rows)
    return 0


def cmd_build(args: argparse.Namespace) -> int:

    result = api.build(args.name, args.out)
    print(f"bento:      {result.bento_tag}")
    print(f"dockerfile: {result.dockerfile}")
    print(f"archive:    {result.archive}")
    print("containerize with a Docker engine: bentoml containerize " + result.bento_tag)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:

    target = args.target
    if args.challenger:
        target = _experiment_bento(args)
    return api.serve(
        target,
        port=args.port,
        host=args.host,
        ssl_certfile=args.ssl_certfile,
        ssl_keyfile=args.ssl_keyfile,
    )


def _experiment_bento(args: argparse.Namespace) -> str:

    mode = "shadow" if args.shadow else "ab"
    champion, tag = api.experiment(args.target, args.challenger, mode=mode, share=args.share)
    print(f"{mode}: champion {champion}, challenger {args.challenger} -> {tag}")
    return tag


def cmd_promote(args: argparse.Namespace) -> int:

    api.promote(args.name, args.version, args.alias)
    print(f"{args.name}: {args.alias} -> {args.version}")
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:

    version = api.rollback(args.name)
    print(f"{args.name}: production -> {version}")
    return 0


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))


COMMANDS = {
    "run": cmd_run,
    "validate": cmd_validate,
    "plan": cmd_plan,
    "runs": cmd_runs,
    "models": cmd_models,
    "build": cmd_build,
    "serve": cmd_serve,
    "promote": cmd_promote,
    "rollback": cmd_rollback,
}
