"""``sous monitor`` and ``sous retrain``: argparse and printing; the work is in engine.monitor.

Exit codes of ``sous monitor``: 0 nothing crossed a threshold, 3 an alert fired
(:data:`engine.monitor.alerts.EXIT_ALERT`), 1 the check failed, 2 a wrong argument.
"""

from __future__ import annotations

import argparse
import json
import sys

from engine.command import Command


def _monitor_args(m: argparse.ArgumentParser) -> None:
    m.add_argument("name", metavar="NAME")
    m.add_argument("--version", dest="model_version", metavar="V",
                   help="the version (default: production, else staging, else the newest)")  # fmt: skip
    m.add_argument("--since", metavar="T", help="ISO time, epoch seconds or a duration ago (2h)")
    m.add_argument("--until", metavar="T", help="end of the window (default: now)")
    m.add_argument("--json", action="store_true", help="print the report as one JSON object")
    m.add_argument("--slices", action="store_true", help="the worst segments (needs feedback)")
    m.add_argument("--compare", action="store_true",
                   help="champion vs challenger of a shadow/A-B service: agreement, latency, "
                   "live metrics")  # fmt: skip
    m.add_argument("--html", metavar="FILE", help="also write a self-contained HTML report")
    m.add_argument("--watch", action="store_true", help="check again every --interval")
    m.add_argument("--interval", default="5m", metavar="DURATION", help="for --watch (5m)")
    m.add_argument("--no-alerts", action="store_true",
                   help="report only: no webhook, no log line, no dedupe state")  # fmt: skip


def _retrain_args(r: argparse.ArgumentParser) -> None:
    r.add_argument("name", metavar="NAME")
    r.add_argument(
        "overrides", nargs="*", metavar="OVERRIDE", help="Hydra overrides, e.g. cluster=sync"
    )
    r.add_argument("--version", dest="model_version", metavar="V",
                   help="whose recipe to rerun (default: production, else staging, else newest)")  # fmt: skip
    r.add_argument("--json", action="store_true", help="print the run record as JSON")


def _bad(flag: str, exc: ValueError) -> Exception:
    from engine.errors import UserError

    return UserError(f"{flag}: {exc}", key_path=flag)


def _times(args: argparse.Namespace) -> tuple[float | None, float | None]:
    from engine.drift.durations import parse_time

    out = []
    for flag, value in (("--since", args.since), ("--until", args.until)):
        try:
            out.append(None if value is None else parse_time(value))
        except ValueError as exc:
            raise _bad(flag, exc) from None
    return out[0], out[1]


def cmd_monitor(args: argparse.Namespace) -> int:
    from engine.drift.durations import parse_duration

    try:
        interval = parse_duration(args.interval)
    except ValueError as exc:
        raise _bad("--interval", exc) from None
    if not args.watch:
        return _once(args)
    return _watch(args, interval)


def _watch(args: argparse.Namespace, interval: float) -> int:
    """Check every ``interval`` until SIGINT or SIGTERM: the check in progress finishes (its
    report and alert history are never cut in half), then the loop ends; a second signal
    stops at once. Arrow's own temporary Ctrl-C handler is turned off for the loop: it
    could take the signal during a scan and drop it, and the watch would never stop."""
    import signal
    import threading

    import pyarrow as pa

    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    pa.enable_signal_handlers(False)
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    code = 0
    try:
        while not stop.is_set():
            code = _once(args)
            sys.stdout.flush()
            stop.wait(interval)
    except KeyboardInterrupt:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        pa.enable_signal_handlers(True)
    return code


def _once(args: argparse.Namespace) -> int:
    from engine.monitor.run import run_check

    since, until = _times(args)
    outcome = run_check(
        args.name,
        version=args.model_version,
        since=since,
        until=until,
        slices=args.slices,
        compare=args.compare,
        html=args.html,
        deliver_alerts=not args.no_alerts,
    )
    if args.json:
        print(json.dumps(outcome.report, default=str))
    else:
        from engine.monitor.text import render

        print(render(outcome.report))
    return outcome.exit_code


def cmd_retrain(args: argparse.Namespace) -> int:
    from engine.monitor.retrain import retrain

    record = retrain(
        args.name, version=args.model_version, overrides=args.overrides, stream=sys.stderr
    )
    if args.json:
        print(json.dumps(record, default=str))
    else:
        print(
            f"retrain run {record['run_id']}: {record.get('status')}; "
            f"version {record.get('model_version', '-')} promoted to "
            f"{record.get('promoted') or 'nothing'}"
        )
    return 0 if record.get("status") == "succeeded" else 1


COMMANDS = (
    Command(
        "monitor",
        "drift, live metrics and alerts of a served model",
        _monitor_args,
        cmd_monitor,
        description="Compare a served version's request log (and feedback labels) with the "
        "reference kept at packaging. Exit 0: no alert; 3: an alert fired.",
    ),
    Command(
        "retrain",
        "rerun the recipe that produced a model's version, through the gates",
        _retrain_args,
        cmd_retrain,
        description="Rerun the recipe of NAME's version (production by default) on fresh "
        "data; the challenger goes through the gates and the smoke test and is promoted to "
        "staging like any run.",
    ),
)
