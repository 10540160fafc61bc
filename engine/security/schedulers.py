"""Which Dask schedulers a run may connect to: the operator's allowlist, never the recipe's.

Dask's client and scheduler exchange pickles: a scheduler can make the client (the driver,
``sous run``) unpickle what it sends, i.e. run code. A recipe's ``cluster.address`` (and the
multirun launcher's ``hydra.launcher.address``) is untrusted input, so an address is
accepted only if ``$SOUS_ALLOW_SCHEDULERS`` allows it, or it is on this machine's loopback
(``localhost``, ``127.0.0.0/8``, ``::1``) or in-process (``inproc://``).

``$SOUS_ALLOW_SCHEDULERS`` is comma-separated; each entry is ``host:port`` (that scheduler)
or ``host`` (any port on it), ``fnmatch`` patterns allowed (``*.dask.internal``,
``10.0.4.*:8786``), an optional ``tcp://``-style scheme ignored. ``*`` allows every address.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import os
import re
from dataclasses import dataclass

from engine.errors import UserError

ALLOW_ENV = "SOUS_ALLOW_SCHEDULERS"
_ADDRESS = re.compile(r"^(?:(?P<scheme>[a-z][a-z0-9+.-]*)://)?(?P<rest>.*)$", re.IGNORECASE)


@dataclass(frozen=True)
class Endpoint:
    """A scheduler address taken apart: ``host`` lowercased, IPv6 without brackets."""

    scheme: str
    host: str
    port: str | None


def parse(address: str) -> Endpoint:
    m = _ADDRESS.match(address.strip())
    scheme = (m.group("scheme") if m else None) or "tcp"
    rest = (m.group("rest") if m else address).split("/", 1)[0]
    if rest.startswith("["):  # [::1]:8786
        host, _, tail = rest[1:].partition("]")
        port = tail[1:] if tail.startswith(":") else None
    elif rest.count(":") == 1:
        host, port = rest.split(":")
    else:  # a bare host, or a bare IPv6 address
        host, port = rest, None
    return Endpoint(scheme.lower(), host.lower(), port or None)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def allowlist() -> tuple[str, ...]:
    """The operator's entries (from the environment: a recipe cannot set it)."""
    raw = os.environ.get(ALLOW_ENV, "")
    return tuple(e.strip().lower() for e in raw.split(",") if e.strip())


def allowed(address: str, entries: tuple[str, ...] | None = None) -> bool:
    """True when a run may connect to the scheduler at ``address``."""
    end = parse(address)
    if end.scheme == "inproc" or is_loopback(end.host):
        return True
    for entry in allowlist() if entries is None else entries:
        if entry == "*":
            return True
        want = parse(entry)
        if not fnmatch.fnmatchcase(end.host, want.host):
            continue
        if want.port is None or (end.port is not None and fnmatch.fnmatchcase(end.port, want.port)):
            return True
    return False


def refusal(address: str) -> tuple[str, str] | None:
    """(message, fix) when ``address`` is not allowed, else None: for validation problems."""
    if allowed(address):
        return None
    end = parse(address)
    entry = f"{end.host}:{end.port}" if end.port else end.host
    return (
        "the Dask scheduler is not in the operator's allowlist (Dask exchanges pickles: a "
        "scheduler can run code in the driver)",
        f"if you trust it, allow it outside the recipe: export {ALLOW_ENV}={entry} "
        "(comma-separated host[:port] patterns); or run on this machine (cluster=local)",
    )


def ensure_allowed(address: str, key_path: str) -> None:
    """Refuse to connect to a scheduler the operator does not allow (UserError, exit 2),
    checked where the connection is made: whatever validated the address before (a
    remembered validation, an allowlist narrowed since) does not decide it alone."""
    refused = refusal(address)
    if refused is not None:
        message, fix = refused
        raise UserError(f"{message}: {address}", key_path=key_path, hint=fix)
