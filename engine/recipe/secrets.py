"""Whether a composed recipe holds a secret: such a config is never remembered (not the
validated spec, not the composition), because a memo would keep the real values on disk."""

from __future__ import annotations

from typing import Any


def holds_secrets(cfg: Any) -> bool:
    """Whether ``cfg`` holds a secret (see :mod:`engine.security.redact`)."""
    from omegaconf import OmegaConf

    from engine.security.redact import contains_secrets

    try:
        plain = OmegaConf.to_container(cfg, resolve=True)
    except Exception:
        return True  # cannot tell: do not memoise
    return contains_secrets(plain, OmegaConf.to_container(cfg, resolve=False))
