"""The per-user signing key, and HMACs under it: how the store knows what Sous itself wrote.

Keys of the cache are the same on every machine and ``$SOUS_HOME`` may come from a cloned
repository or a shared directory, so a file being *there* proves nothing. What Sous writes
it authenticates with HMAC-SHA256 under a key that lives outside the project:
``$SOUS_SIGNING_KEY`` (CI, clusters, a team sharing one store), else
``$XDG_CONFIG_HOME/sous/signing.key`` (default ``~/.config/sous/signing.key``), created on
first use with mode 0600. Workers are separate processes: they find the same key through
the same environment variable or the same file under the same HOME.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from engine.errors import UserError

KEY_ENV = "SOUS_SIGNING_KEY"
MIN_ENV_KEY_CHARS = 16
_SEAL_MAGIC = b"sous-sealed-v1:"
_file_keys: dict[Path, bytes] = {}  # per process: a key file is read once
# the key file's path by the variables that locate it: every cache entry is signed, and
# building the path (``Path.home()``, pathlib) cost more than the HMAC itself
_paths: dict[tuple[str | None, str | None], Path] = {}


def key_path() -> Path:
    """Where the per-user key file lives (whether or not it exists yet)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base).expanduser() / "sous" / "signing.key"


def signing_key() -> bytes:
    """The key: ``$SOUS_SIGNING_KEY``, or the key file, created (0600) on first use."""
    env = os.environ.get(KEY_ENV)
    if env:  # set but empty (a CI secret that is not defined) means: not set
        if len(env.strip()) < MIN_ENV_KEY_CHARS:
            raise UserError(
                f"${KEY_ENV} is too short ({len(env.strip())} characters, expected at least "
                f"{MIN_ENV_KEY_CHARS})",
                hint='generate one with: python -c "import secrets; print(secrets.token_hex(32))"',
            )
        return env.strip().encode()
    where = (os.environ.get("XDG_CONFIG_HOME"), os.environ.get("HOME"))
    path = _paths.get(where)
    if path is None:
        path = _paths[where] = key_path()
    key = _file_keys.get(path)
    if key is None:
        key = _file_keys[path] = _read_or_create(path)
    return key


def _read_or_create(path: Path) -> bytes:
    try:
        if not path.is_file():
            _create(path)
        _tighten(path)
        key = path.read_bytes().strip()
    except OSError as exc:  # a read-only or foreign HOME (containers, CI)
        raise UserError(
            f"cannot read or create the signing key {path}: {exc.strerror or exc}",
            hint=f"set ${KEY_ENV} (at least {MIN_ENV_KEY_CHARS} characters), or $XDG_CONFIG_HOME "
            "to a writable directory",
        ) from None
    if len(key) < MIN_ENV_KEY_CHARS:
        raise UserError(
            f"the signing key {path} is empty or too short",
            hint=f"delete it (a new one is made on the next run; cached entries are recomputed) "
            f"or set ${KEY_ENV}",
        )
    return key


def _tighten(path: Path) -> None:
    """A key file (and its directory) left readable by others, by an older version or a
    copy, is made owner-only before it is used; one owned by someone else is left alone."""
    for p, mode in ((path, 0o600), (path.parent, 0o700)):
        with contextlib.suppress(PermissionError):
            st = os.stat(p)
            if st.st_uid == os.getuid() and st.st_mode & 0o077:
                os.chmod(p, mode)


def _create(path: Path) -> None:
    """Write a fresh key atomically: concurrent first users (workers) all end up with one."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32) + "\n")
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(FileExistsError):  # another process made it first: theirs wins
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def sign(data: bytes) -> str:
    """HMAC-SHA256 of ``data`` under the signing key, hex."""
    return hmac.new(signing_key(), data, hashlib.sha256).hexdigest()


def verify(data: bytes, tag: str) -> bool:
    """True when ``tag`` is ``data``'s HMAC under the signing key (constant-time compare)."""
    if not isinstance(tag, str):
        return False
    return hmac.compare_digest(sign(data).encode(), tag.encode("utf-8", "replace"))


def seal(payload: bytes) -> bytes:
    """``payload`` with its HMAC in front: for small files Sous writes and reads back
    (e.g. the recipe validation memo). :func:`unseal` returns it only if untouched."""
    return _SEAL_MAGIC + sign(payload).encode() + b"\n" + payload


def unseal(blob: bytes) -> bytes | None:
    """The payload of a :func:`seal`-ed blob, or None if it was not sealed under this key."""
    if not blob.startswith(_SEAL_MAGIC):
        return None
    tag, sep, payload = blob[len(_SEAL_MAGIC) :].partition(b"\n")
    if not sep:
        return None
    return payload if verify(payload, tag.decode("ascii", "replace")) else None


def file_digest(path: Path, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's content, hex, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
