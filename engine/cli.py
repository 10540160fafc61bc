"""The ``sous`` command line: argument parsing and printing only; the work is in ``engine.api``.

Exit codes: 0 success, 1 a run or step failed, 2 the user's input is wrong. User errors print
one clear message and no traceback. Nothing heavy is imported until a command needs it, so
``sous --help`` answers at once.

One way to add a subcommand: a :class:`~engine.command.Command` record. The built-in ones
are below (``BUILT_IN``); command modules of this package list theirs in ``COMMANDS``
(named in ``COMMAND_MODULES``); other packages name a Command (or a sequence of them) in the
``sous.commands`` entry-point group; tests and scripts call :func:`register`. A record with
``extends=True`` adds actions and options to a command defined elsewhere.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from engine import api
from engine.command import Built, Command, add, group
from engine.errors import SousError, UserError

__all__ = ["Command", "build_parser", "main", "register"]

EPILOG = """examples:
  sous init --name churn                     a new project: a recipe that runs as is
  sous run iris                              run the iris recipe end to end
  sous plan iris --cfg job                   the composed recipe (Hydra's --cfg, --info)
  sous run churn model=rf split.test_size=0.3   with Hydra overrides
  sous run iris -m models.rf.n_estimators=50,100   a multirun on the Dask launcher
  sous runs last --json                      the last run's record
  sous serve iris --port 3000                serve iris's production model over HTTP
  eval "$(sous completion bash)"             tab completion (zsh, fish too)
state lives in $SOUS_HOME (default ./.sous); `sous env` prints it for bentoml and others.
docs: docs/cli.md"""


class Parser(argparse.ArgumentParser):
    """A subcommand's parser: options anywhere among the positionals (``sous plan iris
    --json split=random``), as ``parse_intermixed_args`` parses them."""

    _intermixing = False
    epilog_factory: Callable[[], str] | None = None

    def format_help(self) -> str:
        if self.epilog_factory is not None:
            self.epilog = self.epilog_factory()
        return super().format_help()

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        if self._intermixing:  # parse_known_intermixed_args calls back here, twice
            return super().parse_known_args(args, namespace)
        self._intermixing = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._intermixing = False


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sous",
        description="Sous: declarative ML recipes compiled to Dask graphs and served with BentoML.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from engine import __version__

    p.add_argument("--version", action="version", version=f"sous {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=Parser)
    for name, records in group(all_commands()).items():
        add(sub, records)
        COMMANDS[name] = records[0].run  # type: ignore[assignment]
    return p


# Modules of this package that each define ``COMMANDS: tuple[Command, ...]``.
COMMAND_MODULES: tuple[str, ...] = (
    "engine.cli_store",
    "engine.cli_monitor",
    "engine.cli_ui",
    "engine.cli_stream",
    "engine.cli_scale",
    "engine.cli_schema",
)
ENTRY_POINT_GROUP = "sous.commands"
_REGISTERED: list[Command] = []


def register(command: Command) -> None:
    """Add a subcommand (or extend one) to ``sous``: one call."""
    if command.name in BUILT_IN_NAMES and not command.extends:
        raise ValueError(f"sous {command.name} is a built-in command")
    _REGISTERED.append(command)


def all_commands() -> list[Command]:
    """The built-in commands, then those of ``COMMAND_MODULES``, the entry points and
    :func:`register`, in that order."""
    import importlib
    from importlib.metadata import entry_points

    found: list[Command] = list(BUILT_IN)
    for module in COMMAND_MODULES:
        found.extend(importlib.import_module(module).COMMANDS)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        loaded = ep.load()
        found.extend([loaded] if isinstance(loaded, Command) else loaded)
    found.extend(_REGISTERED)
    return found


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = None if words[:1] == ["__complete"] else parser.parse_args(words)
    try:
        if args is None:  # asked by the completion scripts; not a listed command
            return _complete(parser, words[2:] if words[1:2] == ["--"] else words[1:])
        handler: Built = args._sous_handler
        if getattr(args, "allow_targets", None):  # the operator's, like $SOUS_ALLOW_TARGETS
            from engine.security.targets import add_to_environment

            add_to_environment(args.allow_targets)
        return handler(args)
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


def _complete(parser: argparse.ArgumentParser, words: list[str]) -> int:
    from engine.completion import candidates

    print("\n".join(candidates(parser, words)))
    return 0


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


def _recipe(args: argparse.Namespace) -> str:
    """The RECIPE positional, which every recipe command needs."""
    if not args.recipe:
        raise UserError(
            f"`sous {args.command}` needs a RECIPE: a recipe name under recipes/ or a .yaml path",
            key_path="RECIPE",
            hint=f"e.g. sous {args.command} iris; list the recipes with `sous recipes ls`",
        )
    return str(args.recipe)


def cmd_run(args: argparse.Namespace) -> int:
    if _introspect(args):
        return 0
    _recipe(args)
    if args.multirun:
        from engine.multirun import multirun

        if args.profile:
            raise UserError(
                "--profile and -m: a multirun's jobs run inside Dask workers, where Dask's"
                " performance report cannot be taken",
                key_path="--profile",
                hint="profile one job: sous run RECIPE OVERRIDES --profile (no -m)",
            )

        return multirun(args.recipe, args.overrides)

    spec, record = api.run_recipe(
        args.recipe, args.overrides, executor=args.executor, profile=args.profile
    )
    if args.json:
        _print_json(record)
    elif record.get("performance_report"):
        print(f"dask performance report: {record['performance_report']}")
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
    if _introspect(args):
        return 0
    spec = api.validate(_recipe(args), args.overrides)
    models = ", ".join(m.name for m in spec.models)
    if args.json:
        _print_json(
            {
                "recipe": spec.name,
                "valid": True,
                "task": spec.task,
                "target": spec.target,
                "models": [m.name for m in spec.models],
            }
        )
        return 0
    print(
        f"recipe {spec.name!r} is valid: task {spec.task}, target {spec.target!r}, models {models}"
    )
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    if _introspect(args):
        return 0
    spec = api.validate(_recipe(args), args.overrides)
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
    from engine.runquery import summary

    if args.limit < 1:
        raise UserError("--limit must be 1 or more", key_path="--limit", hint="e.g. --limit 20")
    ids: list[str] = args.run_id
    if args.action == "ls":
        runs = api.runs(
            limit=args.limit,
            recipe=args.recipe,
            status=args.status,
            since=args.since,
            where=args.where,
        )
        if args.json:
            _print_json(runs if args.full else [summary(r) for r in runs])
        else:
            show.runs_table(runs)
        return 0
    if args.action == "compare":
        if len(ids) < 2:
            raise UserError(
                "`sous runs compare` needs two run IDs or more",
                key_path="ID",
                hint="sous runs compare ID1 ID2 [ID3...]; list them with `sous runs ls`",
            )
        diff = api.compare(ids)
        _print_json(diff) if args.json else show.comparison(diff)
        return 0
    if len(ids) > 1:
        raise UserError(f"`sous runs {args.action}` takes one run ID", key_path="ID")
    one = ids[0] if ids else None
    if args.action == "leaderboard":
        board = api.leaderboard(one)[: args.limit]
        if args.json:
            _print_json(board)
            return 0
        show.leaderboard_table(board)
        show.stopped_table(api.stopped_trials(one)[: args.limit])
        return 0
    if args.action == "show" and not one:
        raise UserError("`sous runs show` needs a run ID", hint="list them with `sous runs ls`")
    record = api.run_record(None if args.action == "last" else one)
    _print_json(record) if args.json else show.run_details(record)
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from engine import show

    if args.limit < 1:
        raise UserError("--limit must be 1 or more", key_path="--limit", hint="e.g. --limit 20")
    if not args.name:
        names = api.model_names()[: args.limit]
        summary = [show.model_summary(n, api.models(n)) for n in names]
        _print_json(summary) if args.json else show.models_table(summary)
        return 0
    rows = [show.version_row(v) for v in api.models(args.name)][-args.limit :]
    _print_json(rows) if args.json else show.versions_table(args.name, rows)
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    result = api.build(args.name, args.out)
    home = api.environment()["BENTOML_HOME"]
    if args.json:
        _print_json(
            {
                "bento": result.bento_tag,
                "dockerfile": result.dockerfile,
                "archive": result.archive,
                "containerize": f"BENTOML_HOME={home} bentoml containerize {result.bento_tag}",
            }
        )
        return 0
    print(f"bento:      {result.bento_tag}")
    print(f"dockerfile: {result.dockerfile}")
    print(f"archive:    {result.archive}")
    print(
        f"containerize with a Docker engine: BENTOML_HOME={home} bentoml containerize {result.bento_tag}"
    )
    print('(or once per shell: eval "$(sous env)"; then bentoml list, bentoml containerize ...)')
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
    api.promote(args.name, args.version, args.alias, reason=args.reason, force=args.force)
    forced = args.force and args.alias == "production"
    if args.json:
        _print_json(
            {"model": args.name, "alias": args.alias, "version": args.version, "forced": forced}
        )
        return 0
    note = " (forced: no passed smoke test)" if forced else ""
    print(f"{args.name}: {args.alias} -> {args.version}{note}")
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    version = api.rollback(args.name, reason=args.reason)
    if args.json:
        _print_json({"model": args.name, "alias": "production", "version": version})
        return 0
    print(f"{args.name}: production -> {version}")
    return 0


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))


# -- the built-in commands' arguments ---------------------------------------------------------


def _recipe_args(p: argparse.ArgumentParser) -> None:
    """RECIPE and its overrides, with the options every recipe command takes."""
    p.add_argument(
        "recipe", metavar="RECIPE", nargs="?", help="a recipe name under recipes/ or a .yaml path"
    )
    p.add_argument(
        "overrides", nargs="*", metavar="OVERRIDE", help="Hydra overrides, e.g. split.test_size=0.3"
    )
    p.add_argument(
        "--allow-target",
        action="append",
        default=[],
        dest="allow_targets",
        metavar="PREFIX",
        help="trust _target_ classes under PREFIX (repeatable; adds to $SOUS_ALLOW_TARGETS)",
    )
    hydra = p.add_argument_group("Hydra's flags (print, then exit)")
    hydra.add_argument(
        "-c",
        "--cfg",
        choices=["job", "hydra", "all"],
        help="print the composed config: the recipe (job), Hydra's node, or both",
    )
    hydra.add_argument("--resolve", action="store_true", help="with --cfg: resolve ${...}")
    hydra.add_argument(
        "-p", "--package", metavar="KEY", help="with --cfg: only this part, e.g. split"
    )
    hydra.add_argument(
        "-i",
        "--info",
        action="store_true",
        help="search path, recipes found, config groups and the recipe's defaults tree",
    )


def recipe_epilog() -> str:
    """The end of a recipe command's --help: its config groups and the recipes found."""
    try:
        found = api.catalog()
    except SousError:
        return ""
    lines = ["config groups (GROUP=OPTION among the overrides):"]
    lines += [f"  {g}: {', '.join(o)}" for g, o in found.groups.items()]
    lines.append("recipes found: " + (", ".join(found.recipes) or "none (see `sous init`)"))
    lines.append("more: --info (search path, defaults tree); `sous completion bash` (completion)")
    return "\n".join(lines)


def _introspect(args: argparse.Namespace) -> bool:
    """Hydra's --cfg/--info: print and report True (the command then stops)."""
    if args.info:
        print(api.recipe_info(args.recipe, args.overrides), end="")
        return True
    if (args.resolve or args.package) and not args.cfg:
        raise UserError(
            "--resolve and --package go with --cfg", key_path="--cfg", hint="add --cfg job"
        )
    if not args.cfg:
        return False
    text = api.config_yaml(
        _recipe(args), args.overrides, which=args.cfg, resolve=args.resolve, package=args.package
    )
    if args.cfg != "job":  # Hydra's output keys as Sous uses them, not Hydra's defaults
        from engine.multirun import with_output_dirs

        text = with_output_dirs(text, args.overrides, args.package)
    print(text, end="")
    return True


def _json_flag(p: argparse.ArgumentParser, help_: str = "print the result as JSON") -> None:
    p.add_argument("--json", action="store_true", help=help_)


def _run_args(p: argparse.ArgumentParser) -> None:
    _recipe_args(p)
    p.add_argument(
        "-m", "--multirun", action="store_true", help="Hydra multirun (sweep) on the Dask launcher"
    )
    p.add_argument("--executor", choices=["sync", "local", "remote"], help="override cluster.kind")
    p.add_argument(
        "--profile",
        action="store_true",
        help="save Dask's performance report with the run (see `sous runs show`)",
    )
    _json_flag(p, "print the run record as JSON")


def _validate_args(p: argparse.ArgumentParser) -> None:
    _recipe_args(p)
    _json_flag(p)


def _plan_args(p: argparse.ArgumentParser) -> None:
    _recipe_args(p)
    _json_flag(p, "print the steps as JSON")
    p.add_argument(
        "--format",
        choices=["table", "dot", "mermaid"],
        default="table",
        help="dot (Graphviz) or mermaid: the DAG as a picture, nodes coloured by status",
    )


def _runs_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "run_id",
        nargs="*",
        metavar="ID",
        help="a run id, any unique prefix of it, or its random suffix (compare: two or more)",
    )
    _json_flag(p, "print JSON (ls: compact summaries; with --full, whole records)")
    p.add_argument("--full", action="store_true", help="ls --json: whole run records")
    p.add_argument(
        "--limit", type=int, default=20, help="at most N runs (ls) or rows (leaderboard)"
    )
    p.add_argument("--recipe", metavar="NAME", help="ls: only runs of this recipe")
    p.add_argument(
        "--status",
        choices=["running", "succeeded", "failed", "interrupted"],
        help="ls: only runs in this state",
    )
    p.add_argument(
        "--where",
        metavar="COND",
        help="ls: metric conditions on the winner, e.g. 'f1>0.9,test.f1>=0.85'",
    )
    p.add_argument("--since", metavar="T", help="runs started since T (2026-11-01, or 7d, 12h ago)")


def _models_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "name", metavar="NAME", nargs="?", help="one model's versions (default: all models)"
    )
    _json_flag(p)
    p.add_argument(
        "--limit", type=int, default=50, help="at most N models, or N newest versions or events"
    )


def _build_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME", help="model name, or NAME:VERSION")
    p.add_argument(
        "--out", default=api.BUILD_DIR, help="directory for the Dockerfile and .bento archive"
    )
    _json_flag(p)


def _serve_args(s: argparse.ArgumentParser) -> None:
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


def _promote_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME")
    p.add_argument("version", metavar="VERSION")
    p.add_argument("--to", required=True, dest="alias", metavar="ALIAS")
    p.add_argument("--reason", metavar="TEXT", help="why: recorded in `sous models history`")
    p.add_argument(
        "--force",
        action="store_true",
        help="production without a passed smoke test (recorded as forced)",
    )
    _json_flag(p)


def _rollback_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME")
    p.add_argument("--reason", metavar="TEXT", help="why (recorded in `sous models history`)")
    _json_flag(p)


def _env_args(p: argparse.ArgumentParser) -> None:
    _json_flag(p, "print the variables as a JSON object")


def cmd_env(args: argparse.Namespace) -> int:
    env = api.environment()
    if args.json:
        _print_json(env)
        return 0
    import shlex

    print('# Sous\'s stores, for the tools that read them: eval "$(sous env)"')
    notes = {
        "SOUS_HOME": "runs, cache, registry (sous ...)",
        "BENTOML_HOME": "bentoml list, bentoml containerize TAG",
        "SOUS_DB_URL": "runs database and model registry (SQLAlchemy URL)",
    }
    for key, value in env.items():
        print(f"export {key}={shlex.quote(value)}  # {notes.get(key, '')}".rstrip(" #"))
    from engine.studies import storage_url

    print("# sweep=optuna keeps its studies here (one per run and model); to browse them:")
    print(f"#   optuna-dashboard {shlex.quote(storage_url())}")
    print("# cluster.kind=remote: start Dask workers in this environment (they share the cache):")
    print("#   dask worker tcp://SCHEDULER:8786 --nthreads 1")
    return 0


def _init_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("directory", metavar="DIR", nargs="?", default=".", help="default: here")
    p.add_argument("--name", default="my_recipe", help="the recipe's name (default: my_recipe)")
    _json_flag(p, "print the files written as JSON")


def cmd_init(args: argparse.Namespace) -> int:
    done = api.init_project(args.directory, args.name)
    if args.json:
        _print_json(
            {
                "root": done.root,
                "recipe": done.recipe,
                "schema": done.schema,
                "gitignore": done.gitignore,
            }
        )
        return 0
    print(f"wrote {done.recipe}")
    print(f"wrote {done.schema} (the recipe's JSON Schema: completion and checks in editors)")
    if done.gitignore not in done.kept:
        print(f"wrote {done.gitignore} (.sous/ and build/ stay out of git)")
    from pathlib import Path

    where = "" if done.root == Path.cwd() else f"cd {done.root} && "
    print(f"next: {where}sous validate {args.name} && sous run {args.name}")
    return 0


def _recipes_args(p: argparse.ArgumentParser) -> None:
    _json_flag(p, "print name -> file as JSON")


def cmd_recipes(args: argparse.Namespace) -> int:
    found = api.recipes()
    if args.json:
        _print_json(found)
        return 0
    if not found:
        print("no recipes found: create one with `sous init`")
        return 0
    width = max(len(n) for n in found)
    for name, path in found.items():
        print(f"{name:<{width}}  {path}")
    return 0


def _completion_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("shell", choices=["bash", "zsh", "fish"])


def cmd_completion(args: argparse.Namespace) -> int:
    from engine.completion import script

    print(script(args.shell), end="")
    return 0


RECIPE_HELP: dict[str, Any] = {"epilog": recipe_epilog, "raw_description": True}
BUILT_IN: tuple[Command, ...] = (
    Command("run", "run a recipe end to end", _run_args, cmd_run, **RECIPE_HELP),
    Command(
        "validate",
        "check a recipe; exit 0, or 2 with every problem listed",
        _validate_args,
        cmd_validate,
        **RECIPE_HELP,
    ),
    Command(
        "plan", "print the DAG, with which nodes are cached", _plan_args, cmd_plan, **RECIPE_HELP
    ),
    Command(
        "runs",
        "the run history and leaderboards",
        _runs_args,
        cmd_runs,
        actions=("ls", "show", "last", "leaderboard", "compare"),
        default_action="ls",
    ),
    Command(
        "models",
        "model versions, their aliases and metrics",
        _models_args,
        cmd_models,
        actions=("ls",),
        default_action="ls",
    ),
    Command(
        "build", "a Bento with its Dockerfile, and an exportable archive", _build_args, cmd_build
    ),
    Command(
        "serve",
        "serve a model's production version or a Bento tag over HTTP",
        _serve_args,
        cmd_serve,
    ),
    Command(
        "promote", "move an alias (staging, production) to a version", _promote_args, cmd_promote
    ),
    Command(
        "env",
        "the environment that makes bentoml (and others) see Sous's stores",
        _env_args,
        cmd_env,
    ),
    Command(
        "init",
        "a new project: a runnable recipe, its JSON Schema, a .gitignore",
        _init_args,
        cmd_init,
    ),
    Command(
        "recipes",
        "the recipes found (./recipes, $SOUS_RECIPES, Sous's own)",
        _recipes_args,
        cmd_recipes,
        actions=("ls",),
        default_action="ls",
    ),
    Command(
        "completion",
        'shell completion: eval "$(sous completion bash)" (or zsh; fish: | source)',
        _completion_args,
        cmd_completion,
    ),
    Command("rollback", "production back to the previous version", _rollback_args, cmd_rollback),
)
BUILT_IN_NAMES = frozenset(c.name for c in BUILT_IN)
# Each command's handler by name (the primary's), filled by build_parser.
COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    c.name: c.run for c in BUILT_IN if c.run
}
