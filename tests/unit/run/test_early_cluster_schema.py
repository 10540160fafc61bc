"""What the early cluster tells the warm server from the composed (unvalidated) recipe:
whether its ``schema`` may need pandera's checks, read as ``SchemaSpec.checks_anything``
reads the validated one; anything unreadable counts as yes."""

from __future__ import annotations

from typing import Any

import pytest
from omegaconf import OmegaConf

from engine.run.early import _declares_checks


@pytest.mark.parametrize(
    ("schema", "declares"),
    [
        (None, False),
        ({}, False),
        ({"on_failure": "quarantine", "coerce": True, "max_examples": 3}, False),
        ({"columns": {"age": {"checks": {"ge": 0}}}}, True),
        ({"checks": {"min_rows": 10}}, True),
        ({"strict": True}, True),
        ({"pandera_yaml": "schema.yaml"}, True),
        ("not a mapping", True),
        (["a", "list"], True),
    ],
)
def test_declares_checks(schema: Any, declares: bool) -> None:
    assert _declares_checks(schema) is declares


def test_reads_a_composed_omegaconf_section() -> None:
    cfg = OmegaConf.create({"schema": {"columns": {"x": {"dtype": "float"}}}})
    assert _declares_checks(cfg.get("schema")) is True
    assert _declares_checks(OmegaConf.create({}).get("schema")) is False
