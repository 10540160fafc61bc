"""Run a built Bento as a real ``bentoml serve`` process: for smoke tests, demos and ``sous serve``.

The server runs in its own process group so that stopping it stops BentoML's workers too;
:class:`BentoServer` always stops what it started, also when the block raises.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from engine.errors import RunError, UserError
from engine.home import sous_home
from engine.serving._bentoml import bentoml_env

STARTUP_FAILED = "Application startup failed"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def serve_command(bento_tag: str, *, port: int, host: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "bentoml",
        "serve",
        bento_tag,
        "--host",
        host,
        "--port",
        str(port),
    ]


def server_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a server process: our store, our home, no telemetry."""
    env = dict(os.environ)
    env.update(bentoml_env())
    env["SOUS_HOME"] = str(sous_home())
    env.update(extra or {})
    return env


def check_auth_env(bento_tag: str, env: Mapping[str, str]) -> None:
    """A Bento needing a token (auth) or a salt (PII hashing) refuses to start without it:
    say so before starting, with the key to fix."""
    from engine.serving._bentoml import bentoml

    labels = bentoml().bentos.get(bento_tag).info.labels
    token_env = labels.get("auth_token_env")
    if token_env and not env.get(token_env):
        raise UserError(
            f"Bento {bento_tag} requires a bearer token but env var {token_env} is empty or unset",
            key_path="deploy.auth_token_env",
            hint=f"export {token_env}=<token> (clients send 'Authorization: Bearer <token>')",
        )
    salt_env = labels.get("pii_salt_env")
    if salt_env and not env.get(salt_env):
        raise UserError(
            f"Bento {bento_tag} hashes PII inputs but env var {salt_env} is empty or unset",
            key_path="data.pii_salt_env",
            hint=f"export {salt_env}=<the salt used for training> (hashes must match training)",
        )


class BentoServer:
    """``with BentoServer("iris") as srv: httpx.post(srv.url + "/predict", ...)``."""

    def __init__(
        self,
        target: str,
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        env: Mapping[str, str] | None = None,
        ready_timeout_s: float = 90.0,
    ):
        from engine.serving.targets import resolve_target

        self.bento_tag = resolve_target(target)
        self.host = host
        self.port = port or free_port(host)
        self.url = f"http://{host}:{self.port}"
        self.env = server_env(env)
        self.ready_timeout_s = ready_timeout_s
        check_auth_env(self.bento_tag, self.env)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path: Path | None = None

    def start(self) -> BentoServer:
        fd, log = tempfile.mkstemp(prefix="sous-serve-", suffix=".log")
        self.log_path = Path(log)
        with os.fdopen(fd, "wb") as out:
            self.proc = subprocess.Popen(
                serve_command(self.bento_tag, port=self.port, host=self.host),
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=tempfile.gettempdir(),
                start_new_session=True,  # own process group: stop() reaches the workers
            )
        return self

    def __enter__(self) -> BentoServer:
        self.start()
        try:
            self.wait_ready(self.ready_timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def log_tail(self, n: int = 30) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        lines = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(lines[-n:])

    def wait_ready(self, timeout_s: float = 60) -> None:
        """Block until ``/readyz`` answers 200; RunError with the server's log if it dies."""
        import httpx

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RunError(
                    f"bentoml serve {self.bento_tag} exited with code {self.proc.returncode}:\n"
                    + self.log_tail(),
                    step="serve",
                )
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if STARTUP_FAILED in self.log_tail(200):
                # BentoML keeps restarting a worker whose service cannot start: stop waiting.
                raise RunError(
                    f"bentoml serve {self.bento_tag}: the service failed to start:\n"
                    + self.log_tail(),
                    step="serve",
                )
            time.sleep(0.25)
        raise RunError(
            f"bentoml serve {self.bento_tag} not ready after {timeout_s:.0f}s:\n" + self.log_tail(),
            step="serve",
        )

    def stop(self, timeout_s: float = 15) -> None:
        """SIGTERM the server's process group, then SIGKILL what is left."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            _signal_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                _signal_group(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        if proc is not None:
            _signal_group(proc.pid, signal.SIGKILL)  # stray workers of the group, if any
        if self.log_path is not None:
            self.log_path.unlink(missing_ok=True)
            self.log_path = None


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def serve(target: str, *, port: int, host: str = "127.0.0.1") -> int:
    """Serve ``target`` in the foreground until interrupted; returns the exit code."""
    from engine.serving.targets import resolve_target

    tag = resolve_target(target)
    env = server_env()
    check_auth_env(tag, env)
    print(f"serving {tag} on http://{host}:{port} (Ctrl-C to stop)", flush=True)
    proc = subprocess.Popen(serve_command(tag, port=port, host=host), env=env)
    previous = signal.signal(signal.SIGTERM, _interrupt)  # `kill PID` stops the server too
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
