"""Run a built Bento as a real ``bentoml serve`` process: for smoke tests, demos and ``sous serve``.

The server runs in its own process group so that stopping it stops BentoML's workers too;
:class:`BentoServer` always stops what it started, also when the block raises, and
:func:`stopped_on_signals` also on SIGTERM/SIGINT. A SIGKILL no handler sees: the server gets
this process's pid (``SOUS_PARENT_PID``) and stops its own group once that process is gone.
HTTPS with :class:`TLS`; :func:`exposure_warnings` says what a non-loopback host exposes.
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
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
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


LOOPBACK = ("127.0.0.1", "::1", "localhost")


@dataclass(frozen=True)
class TLS:
    """A certificate and its private key (PEM files) for serving HTTPS."""

    certfile: str
    keyfile: str

    @classmethod
    def of(cls, certfile: str | None, keyfile: str | None) -> TLS | None:
        """Both files or neither; UserError naming the missing one."""
        if not certfile and not keyfile:
            return None
        if not certfile or not keyfile:
            missing = "--ssl-certfile" if not certfile else "--ssl-keyfile"
            raise UserError(
                f"TLS needs a certificate and its key: {missing} is missing",
                hint="pass both --ssl-certfile CERT.pem and --ssl-keyfile KEY.pem",
            )
        for flag, path in (("--ssl-certfile", certfile), ("--ssl-keyfile", keyfile)):
            if not Path(path).is_file():
                raise UserError(
                    f"{flag} {path}: no such file",
                    hint="give the PEM file of the certificate and of its private key",
                )
        return cls(str(Path(certfile).resolve()), str(Path(keyfile).resolve()))


def serve_command(bento_tag: str, *, port: int, host: str, tls: TLS | None = None) -> list[str]:
    cmd = [
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
    if tls is not None:
        cmd += ["--ssl-certfile", tls.certfile, "--ssl-keyfile", tls.keyfile]
    return cmd


def server_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a server process: our store, our home, no telemetry, and our pid
    (the server stops itself when this process is gone, even after a SIGKILL)."""
    from engine.serving.runtime.service import PARENT_ENV

    env = dict(os.environ)
    env.update(bentoml_env())
    env["SOUS_HOME"] = str(sous_home())
    env[PARENT_ENV] = str(os.getpid())
    env.update(extra or {})
    return env


def exposure_warnings(bento_tag: str, host: str, tls: TLS | None = None) -> list[str]:
    """What is exposed when ``bento_tag`` is served on ``host``: nothing on loopback."""
    if host in LOOPBACK or host.startswith("127."):
        return []
    from engine.serving._bentoml import bentoml

    labels = bentoml().bentos.get(bento_tag).info.labels
    out = []
    if not labels.get("auth_token_env"):
        out.append(
            f"serving on {host} WITHOUT AUTHENTICATION: anyone who can reach this host can "
            "call /predict. Set deploy.auth_token_env in the recipe (and re-run it), or "
            "serve on 127.0.0.1 behind an authenticating proxy."
        )
    if tls is None:
        out.append(
            f"serving on {host} over plain HTTP: requests, answers and tokens travel in clear. "
            "Pass --ssl-certfile/--ssl-keyfile, or terminate TLS in front of the server."
        )
    return out


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
        tls: TLS | None = None,
        smoke: bool = False,
    ):
        from engine.serving.runtime.service import SMOKE_ENV
        from engine.serving.targets import resolve_target

        self.bento_tag = resolve_target(target)
        self.host = host
        self.port = port or free_port(host)
        self.tls = tls
        self.url = f"{'https' if tls else 'http'}://{host}:{self.port}"
        self.env = server_env({**(env or {}), **({SMOKE_ENV: "1"} if smoke else {})})
        self.ready_timeout_s = ready_timeout_s
        check_auth_env(self.bento_tag, self.env)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path: Path | None = None

    def start(self) -> BentoServer:
        fd, log = tempfile.mkstemp(prefix="sous-serve-", suffix=".log")
        self.log_path = Path(log)
        with os.fdopen(fd, "wb") as out:
            self.proc = subprocess.Popen(
                serve_command(self.bento_tag, port=self.port, host=self.host, tls=self.tls),
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=tempfile.gettempdir(),
                start_new_session=True,  # own process group: stop() reaches the workers
            )
        return self

    def pids(self) -> list[int]:
        """The server's processes (its group), for tests and diagnostics."""
        import psutil

        if self.proc is None:
            return []
        group = self.proc.pid
        out = []
        for p in psutil.process_iter(["pid"]):
            with contextlib.suppress(psutil.Error, OSError):
                if os.getpgid(p.info["pid"]) == group:
                    out.append(int(p.info["pid"]))
        return out

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
                # our own child on loopback: its certificate may be self-signed
                if httpx.get(self.url + "/readyz", timeout=2, verify=False).status_code == 200:
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


def serve(
    target: str,
    *,
    port: int,
    host: str = "127.0.0.1",
    ssl_certfile: str | None = None,
    ssl_keyfile: str | None = None,
) -> int:
    """Serve ``target`` in the foreground until interrupted; returns the exit code."""
    from engine.serving.targets import resolve_target

    tls = TLS.of(ssl_certfile, ssl_keyfile)
    tag = resolve_target(target)
    env = server_env()
    check_auth_env(tag, env)
    for warning in exposure_warnings(tag, host, tls):
        print(f"WARNING: {warning}", file=sys.stderr, flush=True)
    scheme = "https" if tls else "http"
    print(f"serving {tag} on {scheme}://{host}:{port} (Ctrl-C to stop)", flush=True)
    proc = subprocess.Popen(serve_command(tag, port=port, host=host, tls=tls), env=env)
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


@contextlib.contextmanager
def stopped_on_signals(server: BentoServer) -> Iterator[BentoServer]:
    """While the block runs, SIGTERM and SIGINT stop ``server`` (its whole process group)
    before this process exits: ``sous run`` killed during its smoke test leaves no server.

    The handler stops the server, then raises ``KeyboardInterrupt`` (SIGINT) or
    ``SystemExit(143)`` (SIGTERM) so the caller unwinds as usual. Handlers are installed only
    from the main thread (Python allows no other) and restored afterwards.
    """
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield server
        return

    def handler(signum: int, frame: object) -> None:
        server.stop()
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise SystemExit(128 + signum)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield server
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
