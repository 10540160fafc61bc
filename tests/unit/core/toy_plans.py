"""Toy plans over toy_steps, shared by the core tests."""

from __future__ import annotations

from engine.plan import Plan, PlanBuilder, Ref

T = "toy_steps"


def toy_plan(n: int = 10, extra: int = 0, seconds: float = 0.0) -> Plan:
    b = PlanBuilder("toy")
    src = b.add("source", f"{T}:source", {"n": n}, kind="source")
    pair = b.add("split", f"{T}:split", {"values": Ref(src)})
    if seconds:
        total = b.add(
            "add",
            f"{T}:slow_add",
            {"a": Ref(pair, ("left",)), "b": Ref(pair, ("right",)), "seconds": seconds},
        )
    else:
        total = b.add("add", f"{T}:add", {"a": Ref(pair, ("left",)), "b": Ref(pair, ("right",))})
    final = b.add("final", f"{T}:add", {"a": Ref(total), "b": extra})
    return Plan("toy", dict(b.nodes), {"final": final, "pair": pair})
