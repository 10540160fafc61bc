"""A plan as a picture: Graphviz dot, Mermaid, and a layered layout for the UI's SVG.

Pure functions of plan rows (what ``sous plan --json`` prints), so the CLI's
``sous plan RECIPE --format dot|mermaid`` and the web UI draw the same graph.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

STATUS_COLORS: Mapping[str, str] = {
    "cached": "#9be39b",
    "to run": "#ffd37a",
    "failed": "#f08080",
}


@dataclass(frozen=True)
class PlanRow:
    key: str
    step: str
    status: str  # cached | to run | failed
    inputs: tuple[str, ...] = ()
    params: tuple[tuple[str, str], ...] = field(default_factory=tuple)


def rows_from_json(rows: Sequence[Mapping[str, object]]) -> list[PlanRow]:
    """Rows as ``sous plan --json`` prints them ({step, key, cached, inputs})."""
    return [
        PlanRow(
            key=str(r["key"]),
            step=str(r["step"]),
            status=str(r.get("status") or ("cached" if r.get("cached") else "to run")),
            inputs=tuple(str(i) for i in r.get("inputs") or ()),  # type: ignore[attr-defined]
        )
        for r in rows
    ]


def _readers(rows: Sequence[PlanRow]) -> dict[str, int]:
    count: dict[str, int] = {}
    for r in rows:
        for i in r.inputs:
            count[i] = count.get(i, 0) + 1
    return count


def to_dot(rows: Sequence[PlanRow], name: str = "plan") -> str:
    """Graphviz: nodes filled by status; a node read by several others has a bold border."""
    readers = _readers(rows)
    known = {r.key for r in rows}
    lines = [
        f"digraph {json.dumps(name)} {{",
        "  rankdir=LR;",
        '  node [shape=box, style="rounded,filled", fontname="Helvetica"];',
    ]
    for r in rows:
        shared = ", penwidth=2.5" if readers.get(r.key, 0) > 1 else ""
        label = json.dumps(f"{r.step}\n{r.status}")  # JSON's \n is dot's line break
        lines.append(
            f"  {json.dumps(r.key)} [label={label}, "
            f'fillcolor="{STATUS_COLORS.get(r.status, "#dddddd")}"{shared}];'
        )
    for r in rows:
        for i in r.inputs:
            if i in known:
                lines.append(f"  {json.dumps(i)} -> {json.dumps(r.key)};")
    lines.append("}")
    return "\n".join(lines) + "\n"


_MERMAID_ID = re.compile(r"[^A-Za-z0-9_]")


def _mid(key: str) -> str:
    return "n_" + _MERMAID_ID.sub("_", key)


def to_mermaid(rows: Sequence[PlanRow]) -> str:
    """Mermaid flowchart: one class per status; shared nodes get the ``shared`` class."""
    readers = _readers(rows)
    known = {r.key for r in rows}
    lines = ["flowchart LR"]
    for r in rows:
        label = f"{r.step}<br/>{r.status}".replace('"', "'")
        lines.append(f'  {_mid(r.key)}["{label}"]')
    for r in rows:
        for i in r.inputs:
            if i in known:
                lines.append(f"  {_mid(i)} --> {_mid(r.key)}")
    for status, color in STATUS_COLORS.items():
        cls = status.replace(" ", "_")
        lines.append(f"  classDef {cls} fill:{color},stroke:#555")
        members = [_mid(r.key) for r in rows if r.status == status]
        if members:
            lines.append(f"  class {','.join(members)} {cls}")
    shared = [_mid(r.key) for r in rows if readers.get(r.key, 0) > 1]
    lines.append("  classDef shared stroke-width:3px")
    if shared:
        lines.append(f"  class {','.join(shared)} shared")
    return "\n".join(lines) + "\n"


def render(rows: Sequence[PlanRow], fmt: str, name: str = "plan") -> str:
    """``fmt``: dot | mermaid (the CLI's ``--format``)."""
    if fmt == "dot":
        return to_dot(rows, name)
    if fmt == "mermaid":
        return to_mermaid(rows)
    raise ValueError(f"unknown graph format {fmt!r} (expected dot or mermaid)")


@dataclass(frozen=True)
class Placed:
    row: PlanRow
    layer: int  # longest path from a source
    slot: int  # position within the layer
    shared: bool  # read by more than one node


def layout(rows: Sequence[PlanRow]) -> list[Placed]:
    """Layers by longest path from the sources (rows are in topological order), and
    within a layer the order of first appearance: a stable, readable left-to-right DAG."""
    layer: dict[str, int] = {}
    known = {r.key for r in rows}
    for r in rows:
        layer[r.key] = 1 + max((layer[i] for i in r.inputs if i in known), default=-1)
    readers = _readers(rows)
    slots: dict[int, int] = {}
    out = []
    for r in rows:
        n = layer[r.key]
        out.append(Placed(r, n, slots.get(n, 0), readers.get(r.key, 0) > 1))
        slots[n] = slots.get(n, 0) + 1
    return out
