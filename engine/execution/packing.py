"""Packing: cheap work goes to Dask in fewer, bigger tasks.

Every Dask task costs the scheduler and a worker a few milliseconds of CPU, whatever it does
(about 5 ms of the two cores' time per task on the development machine). A sweep of small
models on small data is hundreds of steps that each cost less than that, so most of its time
went to Dask. A session therefore looks at what one submission asks for as *units*, the
weakly connected components of its compute tasks (a trial's fold fits and their aggregate,
or a lone node), and groups the units that look alike: the same labels in the same order
and the same resources. A large group is not sent whole: one unit per slot goes first, as
usual (the *probes*); when the first probe is done, the time it took says how many of the
rest fit in one Dask task of about :data:`TARGET_S`, and the rest go in such packs. Units
that take more than half of that go alone, as before packing, so costly fits never wait
behind each other in one task.

The estimate is the probe's latency as the driver sees it (the scheduler's round trips
included): an upper bound, so misjudging errs towards not packing. Units are dealt to the
packs in turn, so a grid whose cost rises along its order spreads evenly over them; there
are at least :data:`PACKS_PER_SLOT` packs per slot when the group is large enough, so the
last pack to finish leaves the other slots idle for at most a pack's time.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from engine.execution.compile import Task

TARGET_S = 0.5  # how long a pack should run (joblib's auto-batching aims at 0.2 to 2 s)
PACKS_PER_SLOT = 4  # at least this many packs per slot, when there are units enough
MIN_HELD_PER_SLOT = 4  # a group is held back only with this many units per slot beyond the probes

Run = tuple[Task, ...]  # one Dask task's worth: a task or a linear chain of them


@dataclass(frozen=True)
class Unit:
    """Runs that read each other (a component of the submission): they go together."""

    runs: tuple[Run, ...]  # in topological order

    @property
    def tasks(self) -> tuple[Task, ...]:
        return tuple(t for run in self.runs for t in run)

    @property
    def keys(self) -> frozenset[str]:
        return frozenset(t.key for t in self.tasks)

    @property
    def signature(self) -> tuple[object, ...]:
        """What makes units alike: their nodes' labels (a key's readable prefix) in order,
        and the resources they ask for."""
        labels = tuple(label(t.key) for t in self.tasks)
        resources = tuple(sorted(self.runs[-1][-1].node.resources.items()))
        return labels, resources


def label(key: str) -> str:
    """A node key's readable prefix (``fit:MODEL:FOLD`` of ``fit.MODEL.FOLD-<hash>``)."""
    return key.rsplit("-", 1)[0]


def units(runs: Sequence[Run]) -> tuple[list[Run], list[Unit]]:
    """Split a submission's runs (topological order) into loads, which stay single Dask
    tasks, and units of compute runs linked by what they read."""
    loads = [run for run in runs if run[-1].mode == "load"]
    computes = [run for run in runs if run[-1].mode == "compute"]
    run_of = {t.key: i for i, run in enumerate(computes) for t in run}
    parent = list(range(len(computes)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, run in enumerate(computes):
        for task in run:
            for dep in task.deps:
                if dep in run_of:
                    parent[root(run_of[dep])] = root(i)
    members: dict[int, list[Run]] = {}
    for i, run in enumerate(computes):
        members.setdefault(root(i), []).append(run)
    return loads, [Unit(tuple(group)) for group in members.values()]


@dataclass
class Group:
    """Alike units of one submission held back until a probe says what one costs."""

    held: list[Unit]
    probes: list[set[str]]  # per probe unit: the keys of its runs still to finish
    sent_at: float = field(default_factory=time.perf_counter)

    @property
    def keys(self) -> set[str]:
        return {k for unit in self.held for k in unit.keys}

    def finished(self, key: str) -> float | None:
        """A run ``key`` finished: the latency of its probe unit if that was its last run."""
        for left in self.probes:
            if key in left:
                left.discard(key)
                if not left:
                    return time.perf_counter() - self.sent_at
        return None

    def drop(self, keys: Iterable[str]) -> None:
        """Cancelled keys: a held unit any of them is in goes (a unit runs whole or not at
        all), and so does a probe whose runs any of them ends."""
        gone = set(keys)
        self.held = [u for u in self.held if not u.keys & gone]
        self.probes = [left for left in self.probes if not left & gone]


def hold(units_: Sequence[Unit], slots: Callable[[], int]) -> tuple[list[Unit], list[Group]]:
    """Which units go now and which groups wait for their probes: a group of alike units
    larger than a probe per slot plus :data:`MIN_HELD_PER_SLOT` per slot keeps all but its
    probes back; smaller ones go now, whole. ``slots`` is asked (a round trip to the
    scheduler) only if some group could be large enough."""
    alike: dict[tuple[object, ...], list[Unit]] = {}
    for unit in units_:
        alike.setdefault(unit.signature, []).append(unit)
    now: list[Unit] = []
    groups: list[Group] = []
    smallest = 1 + MIN_HELD_PER_SLOT
    cluster = slots() if any(len(m) >= smallest for m in alike.values()) else 1
    for members in alike.values():
        if len(members) < cluster * smallest:
            now.extend(members)
            continue
        probes, held = members[:cluster], members[cluster:]
        now.extend(probes)
        groups.append(Group(held, [{run[-1].key for run in p.runs} for p in probes]))
    order = {id(u): i for i, u in enumerate(units_)}
    now.sort(key=lambda u: order[id(u)])
    return now, groups


def cheap(latency: float) -> bool:
    """Whether work that took ``latency`` seconds is worth packing: two fit in a pack."""
    return 2 * latency <= TARGET_S


def deal(held: Sequence[Unit], latency: float | None, slots: int) -> list[list[Unit]]:
    """The packs ``held`` goes in, given what one unit took (None: unknown, one each). A
    unit slower than half of :data:`TARGET_S` goes alone; otherwise as many packs as make
    each about :data:`TARGET_S`, but at least :data:`PACKS_PER_SLOT` per slot (and never
    fewer than two units a pack), a multiple of the slots, units dealt in turn."""
    n = len(held)
    if latency is None or not cheap(latency) or n < 4:
        return [[unit] for unit in held]
    per_pack = int(TARGET_S // max(latency, 1e-6))
    count = max(math.ceil(n / per_pack), min(PACKS_PER_SLOT * slots, n // 2))
    count = min(n, slots * math.ceil(count / slots))
    if count >= n:
        return [[unit] for unit in held]
    return [list(held[i::count]) for i in range(count)]
