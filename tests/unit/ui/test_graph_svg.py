"""Plan pictures (dot, Mermaid, layout) and the server-drawn SVGs."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from engine.ui import data, graph, svg
from engine.ui.graph import PlanRow

ROWS = [
    PlanRow("load-1", "load:iris", "cached"),
    PlanRow("split-2", "split", "cached", ("load-1",)),
    PlanRow("fit-3", "fit:rf:t0", "to run", ("load-1", "split-2"), (("n", "10"),)),
    PlanRow("fit-4", "fit:rf:t1", "failed", ("load-1", "split-2")),
    PlanRow("sel-5", "select", "to run", ("fit-3", "fit-4", "outside-plan")),
]


def test_dot_fills_nodes_by_status_and_marks_shared_nodes() -> None:
    dot = graph.to_dot(ROWS, "iris")
    assert dot.startswith('digraph "iris" {')
    assert re.search(r'"fit-3" \[label="fit:rf:t0\\nto run", fillcolor="#ffd37a"\];', dot)
    assert '"fit-4" [label="fit:rf:t1\\nfailed", fillcolor="#f08080"];' in dot
    assert '"load-1" [label="load:iris\\ncached", fillcolor="#9be39b", penwidth=2.5];' in dot
    assert dot.count("->") == 7  # the edge from a key outside the plan is left out
    assert '"split-2" -> "fit-3";' in dot


def test_mermaid_has_a_class_per_status_and_valid_ids() -> None:
    text = graph.to_mermaid(ROWS)
    assert text.startswith("flowchart LR\n")
    assert '  n_fit_3["fit:rf:t0<br/>to run"]' in text
    assert "  n_split_2 --> n_fit_3" in text
    assert "  class n_load_1,n_split_2 cached" in text
    assert "  class n_fit_3,n_sel_5 to_run" in text
    assert "  class n_fit_4 failed" in text
    assert "  class n_load_1,n_split_2 shared" in text


def test_render_rejects_an_unknown_format() -> None:
    assert graph.render(ROWS, "dot") == graph.to_dot(ROWS)
    with pytest.raises(ValueError, match="dot or mermaid"):
        graph.render(ROWS, "png")


def test_rows_from_the_plan_json_of_the_cli() -> None:
    rows = graph.rows_from_json(
        [
            {"step": "load:iris", "key": "k1", "cached": True, "inputs": []},
            {"step": "split", "key": "k2", "cached": False, "inputs": ["k1"]},
        ]
    )
    assert rows == [PlanRow("k1", "load:iris", "cached"), PlanRow("k2", "split", "to run", ("k1",))]


def test_layout_layers_by_longest_path() -> None:
    placed = {p.row.key: p for p in graph.layout(ROWS)}
    assert [placed[k].layer for k in ("load-1", "split-2", "fit-3", "fit-4", "sel-5")] == [
        0,
        1,
        2,
        2,
        3,
    ]
    assert (placed["fit-3"].slot, placed["fit-4"].slot) == (0, 1)
    assert placed["load-1"].shared and not placed["sel-5"].shared


def parse(text: str) -> ET.Element:
    return ET.fromstring(text)


NS = "{http://www.w3.org/2000/svg}"


def test_dag_svg_has_a_node_per_row_with_its_status() -> None:
    root = parse(svg.dag(graph.layout(ROWS)))
    nodes = root.findall(f"{NS}g")
    assert [n.get("data-status") for n in nodes] == [r.status for r in ROWS]
    assert len(root.findall(f"{NS}path")) == 7


def test_histogram_escapes_names_and_draws_a_bar_per_bin() -> None:
    h = data.Histogram("<script>x</script>", "float64", 0, (0.0, 1.0, 2.0), (), (3, 5))
    text = svg.histogram(h)
    assert "<script>" not in text
    assert len(parse(text).findall(f"{NS}rect")) == 2


def test_gantt_draws_a_bar_per_step_that_ran() -> None:
    bars = [
        data.Bar("a", "a", 0, 0.0, 1.0, 1.0, 10.0, False),
        data.Bar("b", "b", 1, 0.5, 1.0, 1.0, 10.0, False),
        data.Bar("c", "c", -1, 0.0, 0.0, 0.0, 0.0, True),
    ]
    root = parse(svg.gantt(bars))
    assert [r.get("data-step") for r in root.findall(f"{NS}rect")] == ["a", "b"]
    assert "nothing ran" in svg.gantt(bars[2:])


def test_gantt_names_each_lane_by_its_worker_and_tells_it_in_the_tooltip() -> None:
    w = "tcp://127.0.0.1:40001"
    bars = [
        data.Bar("fit", "f", 0, 0.0, 1.0, 0.5, 10.0, False, worker=w),
        data.Bar("release", "r", 1, 1.0, 0.5, 0.5, 20.0, False, worker="driver"),
    ]
    root = parse(svg.gantt(bars))
    assert [g.get("data-lane") for g in root.findall(f"{NS}g")] == [w, "driver"]
    rects = root.findall(f"{NS}rect")
    assert [r.get("data-worker") for r in rects] == [w, "driver"]
    tip = rects[0].find(f"{NS}title").text
    assert f"fit on {w}: computed" in tip and "0.500 s CPU" in tip and "10 MB peak" in tip


def test_parallel_coordinates_and_scatter_draw_every_trial() -> None:
    trials = (
        data.Trial(0, "rf t0", "rf", {"n": 10, "depth": None}, 0.8),
        data.Trial(1, "rf t1", "rf", {"n": 20, "depth": 3}, 0.9),
        data.Trial(2, "rf t2", "rf", {}, None, pruned=True),
    )
    sw = data.SweepView("sweep", "f1", True, ("depth", "n"), trials)
    root = parse(svg.parallel(sw))
    paths = root.findall(f"{NS}path")
    assert len(paths) == 3 and sum("pruned" in (p.get("class") or "") for p in paths) == 1
    assert len(parse(svg.scatter(sw, "n")).findall(f"{NS}circle")) == 2


def test_a_pruned_trials_line_goes_through_its_params() -> None:
    """A pruned trial's record keeps its params: its dashed line crosses each parameter's
    axis where a finished trial with the same value does, and stops before the metric."""
    trials = (
        data.Trial(0, "rf t0", "rf", {"n": 10}, 0.8),
        data.Trial(1, "rf t1", "rf", {"n": 20}, 0.9),
        data.Trial(2, "rf t2", "rf", {"n": 20}, None, pruned=True),
    )
    sw = data.SweepView("sweep", "f1", True, ("n",), trials)
    paths = {
        p.find(f"{NS}title").text.split(":")[0]: p.get("d")
        for p in parse(svg.parallel(sw)).findall(f"{NS}path")
    }
    assert paths["rf t2"].split()[0] == paths["rf t1"].split()[0] != paths["rf t0"].split()[0]
    assert len(paths["rf t2"].split()) == 1 and len(paths["rf t1"].split()) == 2


def test_a_pruned_trials_line_says_where_it_stopped_and_its_score() -> None:
    trials = (
        data.Trial(0, "rf t0", "rf", {"n": 10}, 0.8),
        data.Trial(1, "rf t1", "rf", {"n": 20}, None, True, "pruned after fold 1", 0.61234),
        data.Trial(2, "rf t2", "rf", {"n": 30}, None, pruned=True),  # an older record
    )
    sw = data.SweepView("sweep", "f1", True, ("n",), trials)
    titles = [p.find(f"{NS}title").text for p in parse(svg.parallel(sw)).findall(f"{NS}path")]
    assert sorted(titles) == ["rf t0: 0.8", "rf t1: pruned after fold 1 (0.6123)", "rf t2: pruned"]
