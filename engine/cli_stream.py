"""``sous stream``: score a recipe's live stream, and ``sous stream status``.

Parsing and printing only; the work is in :mod:`engine.stream`. Nothing heavy is imported
until the command runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

from engine.command import Command

HELP = "score a live stream (the recipe's `stream:` section), exactly once"
DESCRIPTION = """score a live stream (the recipe's `stream:` section), exactly once

  sous stream RECIPE [OVERRIDES...] [--until-idle S] [--max-events N] [--workers N]
  sous stream status RECIPE [OVERRIDES...] [--json]"""


def _stream_args(s: argparse.ArgumentParser) -> None:
    s.add_argument("recipe", metavar="RECIPE", help="a recipe name or .yaml path (or `status`)")
    s.add_argument("overrides", nargs="*", metavar="OVERRIDE", help="Hydra overrides")
    s.add_argument(
        "--until-idle",
        type=float,
        metavar="S",
        help="exit 0 after S seconds without new events (default: run until interrupted)",
    )
    s.add_argument("--max-events", type=int, metavar="N", help="stop after N events")
    s.add_argument(
        "--workers", type=int, default=1, metavar="N", help="N consumers of the group on Dask"
    )
    s.add_argument(
        "--metrics-port", type=int, metavar="PORT", help="serve Prometheus metrics on PORT"
    )
    s.add_argument("--json", action="store_true", help="print the summary (or status) as JSON")


def cmd_stream(args: argparse.Namespace) -> int:
    from engine.errors import UserError

    if args.recipe == "status":
        if not args.overrides:
            raise UserError("`sous stream status` needs a recipe", hint="sous stream status RECIPE")
        return _status(args.overrides[0], args.overrides[1:], args.json)
    for flag in ("until_idle", "max_events"):
        value = getattr(args, flag)
        if value is not None and value < 0:
            raise UserError(f"--{flag.replace('_', '-')} must be >= 0", hint="e.g. --until-idle 5")
    if args.workers < 1:
        raise UserError("--workers must be >= 1", hint="e.g. --workers 2")
    from engine import api
    from engine.stream.context import context_of
    from engine.stream.runner import run_stream

    ctx = context_of(api.validate(args.recipe, args.overrides))
    try:
        summary = run_stream(
            ctx,
            workers=args.workers,
            until_idle_s=args.until_idle,
            max_events=args.max_events,
            metrics_port=args.metrics_port,
        )
    except KeyboardInterrupt:
        print("stopped: every committed batch is checkpointed; rerun to resume", file=sys.stderr)
        return 130
    if args.json:
        print(json.dumps([asdict(s) for s in summary], indent=2))
    else:
        for s in summary:
            versions = ", ".join(s.model_versions) or "-"
            print(
                f"{s.consumer}: {s.events_in} events in {s.batches} batches, {s.events_out} "
                f"scored, {s.dead_lettered} dead-lettered, {s.replays} replays dropped "
                f"(model {versions})"
            )
            t = s.timing
            if t is not None and t.stages:
                slowest = max(t.stages, key=lambda st: st.mean_ms)
                print(
                    f"  batches of {t.mean_events:g} events: p50 {t.total_p50_ms:g} ms, "
                    f"p99 {t.total_p99_ms:g} ms (most: {slowest.stage}, "
                    f"{slowest.mean_ms:g} ms); --json for every stage"
                )
            if s.fenced:
                print(f"  {s.fenced} events left to the consumer that claimed them (fenced)")
    return 0


def _status(recipe: str, overrides: list[str], as_json: bool) -> int:
    from engine import api
    from engine.stream.context import context_of
    from engine.stream.runner import status

    st = status(context_of(api.validate(recipe, overrides)))
    if as_json:
        print(json.dumps(asdict(st), indent=2))
        return 0
    print(f"stream {st.name} ({st.source}): lag {st.lag}, pending {st.pending}")
    for c in st.consumers:
        age = "-" if c.checkpoint_age_s is None else f"{c.checkpoint_age_s:.1f}s"
        rate = "-" if c.throughput_eps is None else f"{c.throughput_eps:.0f}/s"
        print(
            f"  {c.consumer}: in {c.events_in}, out {c.events_out}, dead {c.dead_lettered} "
            f"(late {c.late}), replays {c.replays}, pending {c.pending}, throughput {rate}, "
            f"checkpoint age {age}, model {c.model_version or '-'}"
        )
    return 0


COMMANDS = (
    Command(
        "stream", HELP, _stream_args, cmd_stream, description=DESCRIPTION, raw_description=True
    ),
)
