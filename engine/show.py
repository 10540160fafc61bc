"""Human-readable views of run records and model versions (the CLI's printing)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from engine.numbers import number
from engine.run.record import where_stopped


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return number(v)
    return "-" if v is None else str(v)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def runs_table(runs: Sequence[Mapping[str, Any]]) -> None:
    if not runs:
        print("no runs yet: start one with `sous run RECIPE`")
        return
    rows = []
    for r in runs:
        w = r.get("winner") or {}
        metric = r.get("select_metric")
        score = (w.get("metrics") or {}).get(metric) if metric else None
        rows.append(
            [
                r["run_id"],
                r["recipe"],
                r["status"],
                r["started_at"][:19],
                w.get("model"),
                metric,
                score,
                r.get("bento"),
            ]
        )
    print(table(["run", "recipe", "status", "started", "winner", "metric", "score", "bento"], rows))


def _mean_std(mean: Any, std: Any, folds: int) -> str:
    """``0.93 ± 0.012``; the ± only when there were folds to differ (one split: just 0.93)."""
    spread = isinstance(std, int | float) and (folds > 1 or std != 0)
    return number(mean) + (f" ± {number(std)}" if spread else "")


def leaderboard_table(
    board: Sequence[Mapping[str, Any]], metric: str | None = None, winner: int = 0
) -> None:
    """Best first: rank (``*`` marks the winner, ``=`` a tie), the selection metric first
    as mean ± std over the folds, then the other metrics, then the params."""
    if not board:
        print("empty leaderboard")
        return
    names = sorted({m for e in board for m in e["metrics"]})
    first = metric if metric in names else None
    if first is None:
        first = next((e.get("select_metric") for e in board if e.get("select_metric")), None)
    ordered = ([first] if first in names else []) + [m for m in names if m != first]
    rows = []
    for i, e in enumerate(board):
        std = e.get("metrics_std") or {}
        mark = "*" if i == winner else ""
        rows.append(
            [
                mark + _rank(e),
                e["run_id"],
                e["model"],
                *[
                    _mean_std(e["metrics"].get(m), std.get(m), len(e.get("folds") or ()))
                    for m in ordered
                ],
                _params(e.get("params") or {}),
            ]
        )
    print(table(["rank", "run", "model", *ordered, "params"], rows))
    spread = any("±" in str(c) for row in rows for c in row[3:-1])
    note = " (mean ± std over the CV folds)" if spread else ""
    print("*: the winner" + (f"; ranked on {first}{note}" if first else ""))
    if any(e.get("tied") for e in board):
        print("=: tied on the selection metric; select.tiebreak, then the cheaper fit, decided")


def stopped_table(stopped: Sequence[Mapping[str, Any]]) -> None:
    """The trials that never reached the leaderboard, under it: where each stopped
    (successive halving's iteration and resources, or the fold after which CV pruning
    stopped it), the last score the search saw, its params."""
    if not stopped:
        return
    rows = [
        [
            s["run_id"],
            s["model"],
            f"t{s['trial']}",
            where_stopped(s, s.get("resource") or "n_samples"),
            number(s.get("score")),  # "-" when the record kept none
            _params(s.get("params") or {}),
        ]
        for s in stopped
    ]
    metric = next((s.get("select_metric") for s in stopped if s.get("select_metric")), None)
    print()
    print(f"not ranked: {len(rows)} trial(s) stopped before selection")
    print(table(["run", "model", "trial", "stopped", metric or "score", "params"], rows))


def _params(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={number(v)}" for k, v in params.items()) or "-"


def comparison(diff: Mapping[str, Any]) -> None:
    """``sous runs compare``: the runs, their metrics side by side, what differs in config."""
    runs = diff["runs"]
    ids = [r["run_id"] for r in runs]
    print(table(["", *ids], [["recipe", *[r["recipe"] for r in runs]],
                              ["status", *[r["status"] for r in runs]],
                              ["winner", *[r["winner"] for r in runs]]]))  # fmt: skip
    metric_rows = [
        [f"{r['metric']} (selection)" if i == 0 else "", *[number(r["score"]) for r in runs]]
        for i, r in enumerate(runs[:1])
    ]
    metric_rows += [
        [f"test {m}", *[number((r.get("test_metrics") or {}).get(m)) for r in runs]]
        for m in diff["test_metrics"]
    ]
    print()
    print(table(["metric", *ids], metric_rows))
    print()
    if not diff["config_diff"]:
        print("configs: identical")
        return
    print(
        table(
            ["config key (differs)", *ids],
            [[k, *[_short(v, 24) for v in vals]] for k, vals in diff["config_diff"].items()],
        )
    )


def _rank(entry: Mapping[str, Any]) -> str:
    rank = entry.get("rank")
    return "" if rank is None else f"{rank}{'=' if entry.get('tied') else ''}"


def run_details(r: Mapping[str, Any]) -> None:
    print(f"run {r['run_id']}  recipe {r['recipe']}  {r['status']}")
    print(f"started {r['started_at']}  finished {r.get('finished_at')}")
    if r.get("error"):
        print(f"error: {r['error']}")
    if r.get("data"):
        d = r["data"]
        print(
            f"data: rows in {d.get('rows_in')}, out {d.get('rows_out')}, quarantined {d.get('quarantined')}"
        )
        if d.get("quarantine_path"):
            print(f"  quarantine: {d['quarantine_path']}")
        for step in d.get("steps") or []:
            print(f"  {step['op']}: {step['rows_in']} -> {step['rows_out']} rows")
    if r.get("leaderboard"):
        print("\nleaderboard:")
        leaderboard_table(
            [{"run_id": r["run_id"], **e} for e in r["leaderboard"]],
            r.get("select_metric"),
            _served_row(r),
        )
    if r.get("tradeoff"):
        tradeoff_table(r["tradeoff"])
    if r.get("test_metrics"):
        print(
            f"\ntest ({r['winner']['model']}): "
            + ", ".join(f"{k} {number(v)}" for k, v in r["test_metrics"].items())
        )
    if r.get("gate"):
        g = r["gate"]
        print("gates: " + ("passed" if g["passed"] else "FAILED: " + "; ".join(g["failures"])))
    print(f"bento: {r.get('bento')}")
    if r.get("report"):
        print(f"report: {r['report']}")
    if r.get("performance_report"):
        print(f"dask performance report: {r['performance_report']}")
    _studies(r.get("optuna"))
    if r.get("drift_report"):  # a retrain started by a drift alert keeps the report
        print(f"drift report (why this retrain ran): {r['drift_report']}")
    _profile(r.get("profile"))
    _consumers(r)
    print(f"log: {r.get('log')}")


def _served_row(r: Mapping[str, Any]) -> int:
    """The leaderboard row of the record's winner (select.tradeoff may serve another)."""
    board, w = r.get("leaderboard") or [], r.get("winner") or {}
    same = (w.get("model"), w.get("params"))
    return next((i for i, e in enumerate(board) if (e["model"], e.get("params")) == same), 0)


def tradeoff_table(t: Mapping[str, Any]) -> None:
    """select.tradeoff: each model's best trial, its measured costs, the front, the choice."""
    within = f"{number(t['tolerance'])}" + (" (relative)" if t.get("relative") else "")
    weights = " + ".join(f"{number(w)}*{k}" for k, w in t["weights"].items())
    print(f"\ntradeoff: the cheapest within {within} of the best {t['metric']}; cost = {weights}")
    rows = [
        [
            ("*" if c["chosen"] else "") + ("F" if c["on_front"] else ""),
            c["model"],
            c["score"],
            c["latency_ms"],
            c["size_mb"],
            c["train_cpu_s"],
            c["cost"],
        ]
        for c in t["candidates"]
    ]
    headers = ["", "model", t["metric"], "ms/row", "MB", "train cpu s", "cost"]
    print(table(headers, rows))
    print(
        f"*: served; F: on the Pareto front (score against cost); latency timed on "
        f"{t['batch_rows']} held-out rows, median of {t['repeats']}, one thread"
    )


def _studies(optuna: Mapping[str, Any] | None) -> None:
    """An optuna sweep's studies, and the command that shows them."""
    if not optuna:
        return
    for model, study in optuna["studies"].items():
        print(f"optuna study ({model}): {study}")
    print(f"  see them: optuna-dashboard {optuna['storage']}")


def _short(value: Any, width: int = 14) -> str:
    text = str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def _profile(profile: Mapping[str, Any] | None) -> None:
    """The training data's profile (the reference for drift): a line per column."""
    if not profile or not profile.get("columns"):
        return
    print(f"\ndata profile ({profile.get('rows')} rows):")
    rows = []
    for name, c in profile["columns"].items():
        num, cat = c.get("numeric") or {}, c.get("categorical") or {}
        top = ", ".join(f"{_short(v)}:{n}" for v, n in (cat.get("top") or [])[:3])
        rows.append(
            [
                name,
                c.get("dtype"),
                c.get("nulls"),
                num.get("mean"),
                num.get("std"),
                num.get("min"),
                num.get("max"),
                cat.get("cardinality"),
                top or None,
            ]
        )
    print(
        table(
            ["column", "dtype", "nulls", "mean", "std", "min", "max", "distinct", "top values"],
            rows,
        )
    )


def _consumers(r: Mapping[str, Any], top: int = 5) -> None:
    steps = r.get("steps") or []
    if not steps:
        return
    hits = sum(1 for s in steps if s.get("cached"))
    print(f"\nsteps: {len(steps)} ({hits} cached)")
    ran = sorted((s for s in steps if not s.get("cached")), key=lambda s: -s.get("cpu_s", 0.0))[
        :top
    ]
    if ran:
        print("top consumers:")
        print(
            table(
                ["step", "cpu_s", "wall_s", "peak_mem_mb"],
                [[s["name"], s.get("cpu_s"), s.get("wall_s"), s.get("peak_mem_mb")] for s in ran],
            )
        )
    c = r.get("cost")
    if c:
        print(
            f"cost: {c['cpu_s']} CPU-s, {c['wall_s']} s wall, estimate {c['estimate']} {c['currency']}"
        )


def version_row(v: Any) -> dict[str, Any]:
    return {
        "version": v.version,
        "created": str(v.created),
        "aliases": list(v.aliases),
        "metrics": dict(v.metrics),
        "labels": dict(v.labels),
    }


def versions_table(name: str, rows: Sequence[Mapping[str, Any]]) -> None:
    if not rows:
        print(f"no versions of {name!r} yet")
        return
    metrics = sorted({m for r in rows for m in r["metrics"]})
    body = [
        [
            r["version"],
            ",".join(r["aliases"]),
            r["created"][:19],
            *[r["metrics"].get(m) for m in metrics],
        ]
        for r in rows
    ]
    print(table(["version", "aliases", "created", *metrics], body))


def model_summary(name: str, versions: Sequence[Any]) -> dict[str, Any]:
    """One line of ``sous models ls``: a model, its newest version and where its aliases point."""
    aliases = {a: v.version for v in versions for a in v.aliases}
    newest = versions[-1] if versions else None
    return {
        "name": name,
        "versions": len(versions),
        "latest": newest.version if newest else None,
        "created": str(newest.created)[:19] if newest else None,
        "production": aliases.get("production"),
        "staging": aliases.get("staging"),
    }


def models_table(summary: Sequence[Mapping[str, Any]]) -> None:
    if not summary:
        print("no models yet: a run that passes its gates registers one (`sous run RECIPE`)")
        return
    head = ["model", "versions", "latest", "created", "production", "staging"]
    print(table(head, [[m[h if h != "model" else "name"] for h in head] for m in summary]))
