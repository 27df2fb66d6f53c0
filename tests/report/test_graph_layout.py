"""The layered layout of the lineage graph: rightward edges, no overlaps, deterministic."""

from __future__ import annotations

import itertools
import random

from provenance.report.graph_layout import (
    JUDGED_UNDER,
    GraphEdge,
    GraphNode,
    Layout,
    describe,
    layout,
    node_lines,
    report_graph,
)
from tests.report.helpers import Scenarios


def _chain_graph() -> tuple[list[GraphNode], list[GraphEdge]]:
    nodes = [
        GraphNode("model:a", "model", "a"),
        GraphNode("dataset:d1", "dataset", "d1"),
        GraphNode("model:b", "model", "b"),
        GraphNode("dataset:d2", "dataset", "d2"),
        GraphNode("class:c", "class", "c", "5 records"),
        GraphNode("model:base", "model", "base"),
        GraphNode("terms:t", "terms", "t@1", "deny", "deny"),
    ]
    edges = [
        GraphEdge("model:a", "dataset:d1", "generated"),
        GraphEdge("dataset:d1", "model:b", "trained-on"),
        GraphEdge("model:b", "dataset:d2", "generated"),
        GraphEdge("dataset:d2", "class:c", "derived-from"),
        GraphEdge("model:base", "model:b", "fine-tuned-from"),
        GraphEdge("model:a", "class:c", "generated"),  # spans four columns
        GraphEdge("class:c", "terms:t", JUDGED_UNDER),
    ]
    return nodes, edges


def _overlaps(placed: Layout) -> list[tuple[str, str]]:
    out = []
    for p, q in itertools.combinations(placed.nodes, 2):
        if (
            p.x < q.x + q.width
            and q.x < p.x + p.width
            and p.y < q.y + q.height
            and q.y < p.y + p.height
        ):
            out.append((p.node.id, q.node.id))
    return out


def test_longest_path_layers_and_rightward_edges() -> None:
    nodes, edges = _chain_graph()
    placed = layout(nodes, edges)
    layer = {p.node.id: p.layer for p in placed.nodes}
    assert layer == {
        "model:a": 0,
        "model:base": 0,
        "dataset:d1": 1,
        "model:b": 2,
        "dataset:d2": 3,
        "class:c": 4,
        "terms:t": 5,
    }
    assert placed.layers == 6
    for e in placed.edges:
        assert layer[e.edge.target] > layer[e.edge.source]
    assert _overlaps(placed) == []
    for p in placed.nodes:
        assert p.x >= 0 and p.x + p.width <= placed.width
        assert p.y >= 0 and p.y + p.height <= placed.height


def test_long_edges_run_through_lanes_not_boxes() -> None:
    nodes, edges = _chain_graph()
    placed = layout(nodes, edges)
    long_edge = next(
        e for e in placed.edges if (e.edge.source, e.edge.target) == ("model:a", "class:c")
    )
    assert long_edge.path.count(" L ") == 3  # straight through columns 1, 2 and 3
    boxes = {p.node.id: p for p in placed.nodes}
    for segment in long_edge.path.split(" L ")[1:]:
        x, y = (float(v) for v in segment.split(" C ")[0].split()[:2])
        for p in boxes.values():
            inside = p.x <= x <= p.x + p.width and p.y <= y <= p.y + p.height
            assert not inside, f"the long edge crosses {p.node.id}"


def test_layout_is_deterministic_whatever_the_input_order() -> None:
    nodes, edges = _chain_graph()
    first = describe(layout(nodes, edges))
    shuffler = random.Random(7)
    for _ in range(5):
        n, e = list(nodes), list(edges)
        shuffler.shuffle(n)
        shuffler.shuffle(e)
        assert describe(layout(n, e)) == first


def test_a_cycle_does_not_hang_or_crash() -> None:
    nodes = [GraphNode(f"model:{x}", "model", x) for x in "abc"]
    edges = [
        GraphEdge("model:a", "model:b", "trained-on"),
        GraphEdge("model:b", "model:c", "trained-on"),
        GraphEdge("model:c", "model:a", "trained-on"),
    ]
    placed = layout(nodes, edges)
    assert len(placed.nodes) == 3
    assert len(placed.edges) == 3
    assert _overlaps(placed) == []


def test_empty_graph() -> None:
    placed = layout([], [])
    assert placed.nodes == ()
    assert placed.layers == 0


def test_edges_to_unknown_nodes_and_duplicates_are_dropped() -> None:
    nodes = [GraphNode("model:a", "model", "a"), GraphNode("class:c", "class", "c")]
    edges = [
        GraphEdge("model:a", "class:c", "generated"),
        GraphEdge("model:a", "class:c", "generated"),
        GraphEdge("model:a", "class:missing", "generated"),
    ]
    assert len(layout(nodes, edges).edges) == 1


def test_barycentre_ordering_untangles_two_chains() -> None:
    nodes = [
        GraphNode("model:a", "model", "a"),
        GraphNode("model:b", "model", "b"),
        GraphNode("class:x", "class", "x"),  # fed by b
        GraphNode("class:y", "class", "y"),  # fed by a
    ]
    edges = [
        GraphEdge("model:a", "class:y", "generated"),
        GraphEdge("model:b", "class:x", "generated"),
    ]
    placed = {p.node.id: p for p in layout(nodes, edges).nodes}
    assert placed["class:y"].y < placed["class:x"].y  # same row order as their models: no crossing


def test_report_graph_adds_the_judging_terms(scenarios: Scenarios) -> None:
    report = scenarios.rich.report
    nodes, edges = report_graph(report)
    ids = {n.id for n in nodes}
    assert {n["id"] for n in report.graph.nodes} <= ids
    terms = {n.label: n for n in nodes if n.kind == "terms"}
    assert terms["contoso/api-terms@2024-01-01"].outcome == "deny"
    assert terms["zephyrus/open-licence@2023-01-01"].outcome == "allow"
    judged = [e for e in edges if e.kind == JUDGED_UNDER]
    assert all(e.source.startswith("class:") and e.target.startswith("terms:") for e in judged)
    classes = [n for n in nodes if n.kind == "class"]
    assert all("records" in n.detail for n in classes)
    assert "provenance/missing-provenance" not in terms  # it judges no record class


def test_node_lines_are_cut_to_fit() -> None:
    node = GraphNode("terms:x", "terms", "northwind/community-licence@2024-07-23", "deny")
    head, name = node_lines(node)
    assert head == "terms · deny"
    assert len(name) <= 28
    assert name.endswith("…")


def test_many_record_classes_are_folded_into_one_node(scenarios: Scenarios) -> None:
    report = scenarios.rich.report
    full_nodes, _ = report_graph(report)
    classes = [n for n in full_nodes if n.kind == "class"]
    assert len(classes) == 4
    nodes, edges = report_graph(report, max_classes=2)
    kept = [n for n in nodes if n.kind == "class"]
    assert len(kept) == 2
    others = next(n for n in kept if n.id == "class:(others)")
    assert others.label == "3 more record classes"
    folded_records = sum(
        int(n["records"]) for n in report.graph.nodes if n["kind"] == "class"
    ) - max(int(n["records"]) for n in report.graph.nodes if n["kind"] == "class")
    assert others.detail == f"{folded_records} records"
    ids = {n.id for n in nodes}
    assert all(e.source in ids and e.target in ids for e in edges)
    assert len(edges) == len({(e.source, e.target, e.kind) for e in edges})
    assert any(e.source == "class:(others)" and e.kind == JUDGED_UNDER for e in edges)
    placed = layout(nodes, edges)
    assert _overlaps(placed) == []
