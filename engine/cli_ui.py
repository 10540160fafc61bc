"""``sous ui``: the local web UI over ``$SOUS_HOME`` (or a shared ``SOUS_DB_URL``).

Only argparse here; the server and its pages load when the command runs."""

from __future__ import annotations

import argparse

from engine.command import Command


def _ui_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", type=int, default=8600)
    p.add_argument("--host", default="127.0.0.1", help="bind address (default: local only)")


def cmd_ui(args: argparse.Namespace) -> int:
    check_port(args.host, args.port)
    import uvicorn

    from engine.ui.app import create_app, settings_from_env

    settings = settings_from_env()
    app = create_app(settings)
    mode = "promote/rollback enabled" if settings.token else "read-only ($SOUS_UI_TOKEN unset)"
    print(f"Sous UI on http://{args.host}:{args.port} ({mode}; Ctrl-C stops)", flush=True)
    uvicorn.run(  # no websockets and no lifespan: neither is used, and each costs start time
        app,
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,
        http="h11",
        ws="none",
        lifespan="off",
    )
    return 0


def check_port(host: str, port: int) -> None:
    """A port already taken is the user's to fix: say so in one line, before starting."""
    import socket

    from engine.errors import UserError

    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
            s.bind((host, port))
    except OSError as exc:
        raise UserError(
            f"cannot serve the UI on {host}:{port}: {exc.strerror}",
            key_path="--port",
            hint=f"pick another port: sous ui --port {port + 1}",
        ) from None


COMMANDS = (
    Command(
        "ui",
        "the local web UI over runs, sweeps, plans and models",
        _ui_args,
        cmd_ui,
        description="Serve the web UI: runs, compare, sweeps, plans and models. Read-only "
        "unless $SOUS_UI_TOKEN is set (then promote and rollback need that token).",
    ),
)
