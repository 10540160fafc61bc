"""Toy plans over toy_steps, shared by the core tests."""

from __future__ import annotations

import toy_steps

from engine.plan import Plan, PlanBuilder, Ref


def toy_plan(n: int = 10, extra: int = 0, seconds: float = 0.0) -> Plan:
    b = PlanBuilder("toy")
    src = b.add("source", toy_steps.source, {"n": n}, kind="source")
    pair = b.add("split", toy_steps.split, {"values": Ref(src)})
    if seconds:
        total = b.add(
            "add",
            toy_steps.slow_add,
            {"a": Ref(pair, ("left",)), "b": Ref(pair, ("right",)), "seconds": seconds},
        )
    else:
        total = b.add("add", toy_steps.add, {"a": Ref(pair, ("left",)), "b": Ref(pair, ("right",))})
    final = b.add("final", toy_steps.add, {"a": Ref(total), "b": extra})
    return Plan("toy", dict(b.nodes), {"final": final, "pair": pair})
