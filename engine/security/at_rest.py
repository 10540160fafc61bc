"""Optional encryption at rest: files Sous writes under ``$SOUS_HOME`` that hold data.

Signatures (:mod:`engine.store.signing`) prove who wrote a file; they do not hide what is in
it. With ``$SOUS_ENCRYPTION_KEY`` set (or ``$SOUS_ENCRYPTION_KEY_FILE`` naming a file that
holds it), cache values and artifacts, model payloads, request logs and quarantine files are
sealed with Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``). Unset, nothing is
encrypted and files are written as before.

Rotation: the variable (or file) may hold several comma-separated keys; the first one seals,
all of them unseal (``MultiFernet``). Put a new key first, keep the old ones until nothing
sealed under them is needed any more.

A sealed file starts with :data:`MAGIC`, so a reader tells a sealed file from one written
while encryption was off (read as it is: turning encryption on does not make old files
unreadable, it does not encrypt them either).

``python -m engine.security.at_rest keygen`` prints a new key; ``... decrypt FILE`` prints a
sealed file's plain bytes (e.g. a run's ``report.html``) to stdout or ``-o OUT``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from engine.errors import UserError

if TYPE_CHECKING:
    from cryptography.fernet import MultiFernet

KEY_ENV = "SOUS_ENCRYPTION_KEY"
KEY_FILE_ENV = "SOUS_ENCRYPTION_KEY_FILE"
MAGIC = b"SOUS-SEALED-FERNET-1\n"
_KEYGEN_HINT = "make one with: python -m engine.security.at_rest keygen"
_fernets: dict[str, MultiFernet] = {}  # per process: keys parsed once per distinct setting
_key_files: dict[Path, tuple[tuple[int, int, int], str]] = {}  # path -> (stat, text)


def _key_text() -> tuple[str, str] | None:
    """(the keys as written, where they came from), or None when encryption is off."""
    env = os.environ.get(KEY_ENV, "").strip()
    if env:  # set but empty (an undefined CI secret) means: not set
        return env, f"${KEY_ENV}"
    path = os.environ.get(KEY_FILE_ENV, "").strip()
    if not path:
        return None
    try:
        text = _read_key_file(Path(path).expanduser())
    except OSError as exc:
        raise UserError(
            f"cannot read the encryption key file {path} (${KEY_FILE_ENV}): {exc.strerror or exc}",
            hint=f"point ${KEY_FILE_ENV} at a readable file holding a Fernet key; {_KEYGEN_HINT}",
        ) from None
    if not text:
        raise UserError(
            f"the encryption key file {path} (${KEY_FILE_ENV}) is empty", hint=_KEYGEN_HINT
        )
    return text, f"{path} (${KEY_FILE_ENV})"


def _read_key_file(path: Path) -> str:
    """The key file's text, read again only when the file changes (a sealed read per run
    record in the UI must not read the file each time)."""
    st = path.stat()
    sig = (st.st_ino, st.st_size, st.st_mtime_ns)
    known = _key_files.get(path)
    if known is None or known[0] != sig:
        known = (sig, path.read_text().strip())
        _key_files[path] = known
    return known[1]


def enabled() -> bool:
    """True when a key is configured: what Sous writes that holds data is then sealed."""
    return _key_text() is not None


def _fernet() -> MultiFernet | None:
    found = _key_text()
    if found is None:
        return None
    text, origin = found
    if text not in _fernets:
        _fernets[text] = _parse(text, origin)
    return _fernets[text]


def _parse(text: str, origin: str) -> MultiFernet:
    from cryptography.fernet import Fernet, MultiFernet

    keys = [k.strip() for k in text.replace("\n", ",").split(",") if k.strip()]
    fernets = []
    for i, key in enumerate(keys, 1):
        try:
            fernets.append(Fernet(key.encode()))
        except ValueError:
            raise UserError(
                f"key {i} of {len(keys)} in {origin} is not a Fernet key "
                "(expected 32 bytes, url-safe base64: 44 characters)",
                hint=_KEYGEN_HINT,
            ) from None
    return MultiFernet(fernets)


def is_sealed(data: bytes) -> bool:
    return data.startswith(MAGIC)


def seal(data: bytes) -> bytes:
    """``data`` encrypted under the current key; ``data`` itself when encryption is off."""
    fernet = _fernet()
    if fernet is None:
        return data
    return MAGIC + fernet.encrypt(data)


def unseal(data: bytes, *, where: str | None = None) -> bytes:
    """The plain bytes of a sealed blob (a blob that is not sealed is returned as it is).

    :class:`UserError` (exit 2) naming ``where`` when the blob is sealed and no key is set,
    or none of the keys set opens it."""
    if not is_sealed(data):
        return data
    what = f"{where} is encrypted" if where else "this file is encrypted"
    fernet = _fernet()
    if fernet is None:
        raise UserError(
            f"{what}; set ${KEY_ENV} (or ${KEY_FILE_ENV}) to the key it was written with",
            hint="the key is the one the run that wrote it had; see docs/security.md",
        )
    from cryptography.fernet import InvalidToken

    try:
        return fernet.decrypt(data[len(MAGIC) :])
    except InvalidToken:
        raise UserError(
            f"{what} under a key that ${KEY_ENV} does not hold (or it is damaged)",
            hint=f"add the key it was written with to ${KEY_ENV} (comma-separated, the current "
            "key first), or delete the file so it is made again",
        ) from None


def write_sealed(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` sealed (plain when encryption is off), owner-only (0600),
    atomically: a temp file beside it, fsynced, renamed over it."""
    write_atomic(path, seal(data))


def read_sealed(path: str | os.PathLike[str]) -> bytes:
    """The plain content of a file written by :func:`write_sealed` (or any plain file)."""
    return unseal(Path(path).read_bytes(), where=str(path))


def write_atomic(path: str | os.PathLike[str], data: bytes, mode: int = 0o600) -> None:
    """``data`` into ``path`` through a temp file created with ``mode`` and renamed."""
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def keygen() -> str:
    """A new Fernet key (url-safe base64 text) for ``$SOUS_ENCRYPTION_KEY``."""
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


def main(argv: Sequence[str] | None = None) -> int:
    """``keygen`` | ``decrypt FILE [-o OUT]``: the operator's tools for sealed files."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m engine.security.at_rest")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("keygen", help="print a new key for $SOUS_ENCRYPTION_KEY")
    dec = sub.add_parser("decrypt", help="print a sealed file's plain bytes")
    dec.add_argument("file")
    dec.add_argument("-o", "--output", help="write to OUT (0600) instead of stdout")
    args = parser.parse_args(argv)
    if args.cmd == "keygen":
        print(keygen())
        return 0
    try:
        plain = read_sealed(args.file)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        print(f"error: cannot read {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    if args.output:
        write_atomic(args.output, plain)
    else:
        sys.stdout.buffer.write(plain)
        sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
