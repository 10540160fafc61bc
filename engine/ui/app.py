"""The web UI's Starlette app: routes that read views from ``engine.ui.data`` and render
Jinja2 templates. Read-only, except moving a model alias, which needs ``$SOUS_UI_TOKEN``."""

from __future__ import annotations

import dataclasses
import hmac
import shlex
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from engine.errors import NotFoundError, SousError
from engine.ui import data, graph, svg

HERE = Path(__file__).parent


@dataclass(frozen=True)
class Settings:
    db_url: str
    cache_root: str | Path  # the store runs use: $SOUS_CACHE_URL, or $SOUS_HOME/cache
    token: str | None  # $SOUS_UI_TOKEN: None keeps the UI read-only
    compiled: Path | None = None  # where compiled templates are kept between starts


def _fmt(v: Any, digits: int = 4) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def _templates(compiled: Path | None = None) -> Environment:
    """The pages' templates. Compiled templates are kept in ``compiled`` (an owner-only
    directory; Jinja2 recompiles a template whose source changed), so a restarted UI does
    not spend its first page compiling them again."""
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
        bytecode_cache=_bytecode_cache(compiled),
    )
    env.filters["fmt"] = _fmt
    env.filters["utc"] = _utc
    env.filters["svg"] = lambda s: Markup(s)  # our own SVG, every text in it escaped
    env.globals["svg"] = svg
    env.globals["sort_url"] = _sort_url
    env.globals["more_url"] = _more_url
    return env


def _bytecode_cache(directory: Path | None) -> Any:
    if directory is None:
        return None
    from jinja2 import FileSystemBytecodeCache

    from engine.home import private_dir

    try:
        private_dir(directory)
    except OSError:  # a read-only home: compile at each start
        return None
    return FileSystemBytecodeCache(str(directory))


def _runs_url(q: data.RunQuery, **change: Any) -> str:
    """The Runs page with the filters of ``q`` and some of them changed."""
    from urllib.parse import urlencode

    params: dict[str, Any] = {
        "recipe": q.recipe,
        "status": q.status,
        "model": q.model,
        "from": q.date_from,
        "to": q.date_to,
        "metric": q.metric,
        "q": q.search,
        "min": "" if q.metric_min is None else q.metric_min,
        "max": "" if q.metric_max is None else q.metric_max,
        "sort": q.sort,
        "dir": "desc" if q.desc else "asc",
        "limit": "" if q.limit == data.RunQuery.limit else q.limit,
    }
    params.update(change)
    return "/runs?" + urlencode({k: v for k, v in params.items() if v != ""})


def _sort_url(q: data.RunQuery, key: str) -> str:
    """Sorted by ``key`` (again: the other way)."""
    return _runs_url(q, sort=key, dir="asc" if (q.sort == key and q.desc) else "desc")


def _more_url(q: data.RunQuery) -> str:
    return _runs_url(q, limit=q.limit + data.RunQuery.limit)


class UI:
    """The pages; one instance per server, holding the run index between requests."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.index = data.RunIndex(settings.db_url)
        self.env = _templates(settings.compiled)

    def page(self, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        html = self.env.get_template(name).render(**ctx)
        return HTMLResponse(html, status_code=status)

    def _record(self, run_id: str) -> dict[str, Any]:
        return self.index.db.get(run_id)

    # ------------------------------------------------------------ runs
    async def runs(self, request: Request) -> Response:
        q = _run_query(request.query_params)
        if q == data.RunQuery(limit=q.limit) and not self.index.ready:
            # the first page: the newest runs only; every other record is parsed once the
            # page has gone out (a thread parsing meanwhile would slow the page down)
            rows, total = await run_in_threadpool(self.index.recent, q.limit)
            page = data.query_runs(rows, q)
            page = dataclasses.replace(page, total=total, matched=total)
            response = self.page("runs.html", page=page, q=q, sort_keys=data.SORT_KEYS, nav="runs")
            if not self.index.warming:
                self.index.warming = True
                response.background = BackgroundTask(self.index.summaries)
            return response
        page = data.query_runs(await run_in_threadpool(self.index.summaries), q)
        return self.page("runs.html", page=page, q=q, sort_keys=data.SORT_KEYS, nav="runs")

    async def runs_json(self, request: Request) -> Response:
        q = _run_query(request.query_params)
        page = data.query_runs(await run_in_threadpool(self.index.summaries), q)
        return JSONResponse(
            {"total": page.total, "matched": page.matched, "runs": [_shallow(r) for r in page.rows]}
        )

    async def compare(self, request: Request) -> Response:
        ids = [i for i in request.query_params.getlist("id") if i]
        if len(ids) < 2:
            return self.page(
                "message.html",
                400,
                title="Compare runs",
                nav="runs",
                message="Select two or more runs on the Runs page to compare them.",
            )
        records = await run_in_threadpool(lambda: [self._record(i) for i in ids])
        return self.page("compare.html", c=data.compare(records), nav="runs")

    async def run(self, request: Request) -> Response:
        run_id = request.path_params["run_id"]

        def load() -> data.RunView:
            record = self._record(run_id)
            group = self.index.db.group_of(record["run_id"])
            return data.run_view(record, group, self.settings.cache_root)

        view = await run_in_threadpool(load)
        return self.page("run.html", v=view, s=view.summary, nav="runs")

    async def live(self, request: Request) -> Response:
        record = await run_in_threadpool(self._record, request.path_params["run_id"])
        return JSONResponse(
            {
                "status": record.get("status"),
                "finished_at": record.get("finished_at"),
                "log": list(data.log_tail(record.get("log"))),
            }
        )

    async def evaluation(self, request: Request) -> Response:
        def load() -> Any:
            record = self._record(request.path_params["run_id"])
            return data.evaluation(record, self.settings.cache_root)

        ev = await run_in_threadpool(load)
        if ev is None:
            return JSONResponse({"error": "this run has no stored evaluation"}, status_code=404)
        return JSONResponse(asdict(ev))

    async def sweep(self, request: Request) -> Response:
        def load() -> data.SweepView:
            record = self._record(request.path_params["run_id"])
            group = self.index.db.group_of(record["run_id"])
            if group is not None:
                return data.sweep_of_group(self.index.db.list(limit=100_000, group_id=group))
            return data.sweep_of_run(record, self.settings.cache_root)

        view = await run_in_threadpool(load)
        history = [{"n": n, "best": b} for n, b in view.best_so_far()]
        trials = [
            {"n": t.number, "value": t.value, "pruned": t.pruned, "t": t.finished_s}
            for t in view.trials
        ]
        return self.page(
            "sweep.html",
            sw=view,
            run_id=request.path_params["run_id"],
            chart={"history": history, "trials": trials, "metric": view.metric},
            nav="runs",
        )

    # ------------------------------------------------------------ plan
    async def plan(self, request: Request) -> Response:
        recipe = request.query_params.get("recipe", "").strip()
        overrides = request.query_params.get("overrides", "").strip()
        known = await run_in_threadpool(self._recipes)
        ctx: dict[str, Any] = {
            "recipes": known,
            "recipe": recipe,
            "overrides": overrides,
            "nav": "plan",
            "placed": None,
            "error": None,
            "rows": [],
        }
        if recipe:
            path = known.get(recipe)
            if path is None:
                ctx["error"] = (
                    f"no run of a recipe named {recipe!r} is recorded; "
                    f"known: {', '.join(known) or 'none yet'}"
                )
                return self.page("plan.html", 404, **ctx)
            latest = await run_in_threadpool(data.latest_by_recipe, self.index.db)
            failed = data.failed_steps(latest.values(), recipe)
            try:
                rows = await run_in_threadpool(data.plan_rows, path, shlex.split(overrides), failed)
            except SousError as exc:
                ctx["error"] = str(exc)
                return self.page("plan.html", 400, **ctx)
            ctx["rows"] = rows
            ctx["placed"] = graph.layout(rows)
            ctx["fmt"] = request.query_params.get("format", "")
            if ctx["fmt"] in ("dot", "mermaid"):
                return Response(graph.render(rows, ctx["fmt"], recipe), media_type="text/plain")
        return self.page("plan.html", **ctx)

    def _recipes(self) -> dict[str, str]:
        """Recipes the UI may plan: those with recorded runs (name -> the recipe file of
        its latest run that names one). An HTTP client never names a file itself."""
        return data.recipe_files(self.index.db)

    # ------------------------------------------------------------ models
    async def models(self, request: Request) -> Response:
        names = await run_in_threadpool(data.model_names)
        views = await run_in_threadpool(lambda: [data.model_view(n) for n in names])
        return self.page(
            "models.html",
            models=views,
            token=bool(self.settings.token),
            message=request.query_params.get("message"),
            nav="models",
            aliases=("staging", "production"),
        )

    async def move_alias(self, request: Request) -> Response:
        form = await request.form()
        given = str(form.get("token", ""))
        if not self.settings.token:
            return self.page(
                "message.html",
                403,
                title="Read-only",
                nav="models",
                message="Promote and rollback are off: start the UI with "
                "SOUS_UI_TOKEN set to enable them.",
            )
        if not hmac.compare_digest(given.encode(), self.settings.token.encode()):
            return self.page(
                "message.html",
                403,
                title="Wrong token",
                nav="models",
                message="The token does not match $SOUS_UI_TOKEN.",
            )
        name = request.path_params["name"]
        try:
            said = await run_in_threadpool(
                data.move_alias,
                name,
                str(form.get("action", "")),
                str(form.get("version", "")),
                str(form.get("alias", "staging")),
                str(form.get("reason", "")),
            )
        except SousError as exc:
            return self.page("message.html", 400, title="Not moved", nav="models", message=str(exc))
        from urllib.parse import urlencode

        return RedirectResponse(f"/models?{urlencode({'message': said})}#m-{name}", 303)

    async def monitoring(self, request: Request) -> Response:
        from engine.ui import monitoring

        found = await run_in_threadpool(monitoring.models)
        return self.page("monitoring.html", models=found, nav="monitoring")

    async def monitor(self, request: Request) -> Response:
        from engine.ui import monitoring

        p = request.query_params
        window_s = _duration(p.get("window", ""))
        n = p.get("windows", "")
        windows = int(n) if n.isdigit() and int(n) > 0 else monitoring.WINDOWS
        view = await run_in_threadpool(
            lambda: monitoring.monitor_view(
                request.path_params["name"],
                p.get("version") or None,
                windows=windows,
                window_s=window_s,
            )
        )
        ticks = [_tick(pt.since, view.window_s) for pt in view.points]
        drift = monitoring.series(view, view.feature_names, "scores")
        if any(pt.prediction is not None for pt in view.points):
            drift.append(("(predictions)", [pt.prediction for pt in view.points]))
        drops = monitoring.series(view, view.metric_names, "drops")
        return self.page(
            "monitor.html",
            v=view,
            ticks=ticks,
            drift_series=drift,
            drop_series=drops,
            window_text=_duration_text(view.window_s),
            nav="monitoring",
        )


_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def _duration(text: str) -> float | None:
    """``90``, ``15m``, ``1h``, ``1d`` -> seconds (None: not given or not understood)."""
    text = text.strip().lower()
    unit = _UNITS.get(text[-1:]) if text else None
    number = text[:-1] if unit else text
    try:
        value = float(number) * (unit or 1.0)
    except ValueError:
        return None
    return value if value >= 1.0 else None


def _duration_text(seconds: float) -> str:
    for suffix, size in (("d", 86400.0), ("h", 3600.0), ("m", 60.0)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{suffix}"
    return f"{seconds:g}s"


def _utc(epoch: float) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(epoch))


def _tick(epoch: float, window_s: float) -> str:
    import time

    return time.strftime("%m-%d" if window_s >= 86400 else "%m-%d %H:%M", time.gmtime(epoch))


def _shallow(row: Any) -> dict[str, Any]:
    """A flat dataclass as a dict, without asdict's deep copies (1,000 rows at a time)."""
    return {f.name: getattr(row, f.name) for f in dataclasses.fields(row)}


def _num(v: str | None) -> float | None:
    try:
        return float(v) if v not in (None, "") else None
    except ValueError:
        return None


def _run_query(p: Any) -> data.RunQuery:
    limit = p.get("limit", str(data.RunQuery.limit))
    return data.RunQuery(
        recipe=p.get("recipe", ""),
        status=p.get("status", ""),
        model=p.get("model", ""),
        date_from=p.get("from", ""),
        date_to=p.get("to", ""),
        metric=p.get("metric", ""),
        metric_min=_num(p.get("min")),
        metric_max=_num(p.get("max")),
        search=p.get("q", "").strip(),
        sort=p.get("sort", "started_at") if p.get("sort") in data.SORT_KEYS else "started_at",
        desc=p.get("dir", "desc") != "asc",
        limit=int(limit) if limit.isdigit() else data.RunQuery.limit,
    )


def create_app(settings: Settings) -> Starlette:
    ui = UI(settings)

    async def not_found(request: Request, exc: Exception) -> Response:
        return ui.page("message.html", 404, title="Not found", message=str(exc), nav="")

    async def root(request: Request) -> Response:
        return RedirectResponse("/runs", 307)

    async def ready(request: Request) -> Response:
        return Response("ok", media_type="text/plain")

    routes = [
        Route("/", root),
        Route("/readyz", ready),
        Route("/runs", ui.runs),
        Route("/compare", ui.compare),
        Route("/runs/{run_id}", ui.run),
        Route("/runs/{run_id}/sweep", ui.sweep),
        Route("/api/runs", ui.runs_json),
        Route("/api/runs/{run_id}/live", ui.live),
        Route("/api/runs/{run_id}/evaluation", ui.evaluation),
        Route("/plan", ui.plan),
        Route("/models", ui.models),
        Route("/models/{name}/alias", ui.move_alias, methods=["POST"]),
        Route("/monitoring", ui.monitoring),
        Route("/monitoring/{name}", ui.monitor),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]

    return Starlette(
        routes=routes,
        exception_handlers={NotFoundError: not_found},
        middleware=[Middleware(SecurityHeaders)],
    )


CSP = (  # every asset from this server; nothing fetched from anywhere else
    "default-src 'self'; img-src 'self' data:; style-src 'self'; "
    "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'"
)


class SecurityHeaders:
    """A content security policy on every answer (plus no framing, no sniffing): pages load
    only this server's own assets, and no other site can frame the UI or post to it."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] += [
                    (b"content-security-policy", CSP.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                ]
            await send(message)

        await self.app(scope, receive, with_headers if scope["type"] == "http" else send)


def settings_from_env() -> Settings:
    import os

    from engine.home import db_url, sous_home
    from engine.store.fs import cache_location

    return Settings(
        db_url(),
        cache_location(),
        os.environ.get("SOUS_UI_TOKEN") or None,
        compiled=sous_home() / "ui" / "templates",
    )
