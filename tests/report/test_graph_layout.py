"""The layered layout of the lineage graph: rightward edges, no overlaps, deterministic."""

from __future__ import annotations

import itertools
import random
from dataclasses import replace

from provenance.report.common import text_width
from provenance.report.graph_layout import (
    FONT,
    JUDGED_UNDER,
    PAGE_WIDTH,
    GraphEdge,
    GraphNode,
    Layout,
    LayoutStyle,
    describe,
    fit,
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


def test_long_names_wrap_over_lines_and_are_never_cut() -> None:
    node = GraphNode("terms:x", "terms", "northwind/community-licence@2024-07-23", "deny")
    lines = node_lines(node)
    assert lines[0] == "TERMS"
    assert lines[-1] == "deny"
    name = "".join(lines[1:-1])
    assert name == "northwind/community-licence@2024-07-23"
    assert not any(line.endswith("…") for line in lines)
    for line in layout([node], []).nodes[0].lines:
        size, bold, _ = FONT[line.kind]
        assert text_width(line.text, size, bold=bold) <= LayoutStyle().node_width - 2 * 9


def test_two_documents_differing_only_at_the_end_read_differently() -> None:
    a = GraphNode("terms:a", "terms", "contoso/enterprise-services-agreement@2024-01-01")
    b = GraphNode("terms:b", "terms", "contoso/enterprise-services-agreement@2025-01-01")
    assert node_lines(a) != node_lines(b)


def test_boxes_grow_with_their_text_and_hold_it() -> None:
    short = GraphNode("model:a", "model", "a")
    long = GraphNode("model:b", "model", "meta-llama/Llama-3.1-405B-Instruct-long-context-variant")
    placed = {p.node.id: p for p in layout([short, long], []).nodes}
    assert placed["model:b"].height > placed["model:a"].height
    for p in placed.values():
        for line in p.lines:
            assert p.x < line.x and p.y < line.y < p.y + p.height


def test_record_classes_are_named_by_their_generators_and_roles(scenarios: Scenarios) -> None:
    nodes, _ = report_graph(scenarios.rich.report)
    classes = {n.label: n for n in nodes if n.kind == "class"}
    assert set(classes) == {
        "contoso-large-2 response",
        "contoso-large-2 response from tiny-instruct",
        "northwind/nw-8b response",
        "acme/m2 response",
    }
    assert all(n.title.startswith("record class c-") for n in classes.values())


def test_classes_that_read_the_same_are_told_apart_by_id(scenarios: Scenarios) -> None:
    report = scenarios.rich.report
    raw = [dict(n) for n in report.graph.nodes]
    for n in raw:
        if n["kind"] == "class":
            n["parts"] = [{"model": "m", "provider": "p", "role": "response", "pointer": ""}]
    same = replace(report, graph=replace(report.graph, nodes=tuple(raw), edges=()))
    nodes, _ = report_graph(same)
    classes = [n for n in nodes if n.kind == "class"]
    assert {n.label for n in classes} == {"m response"}
    assert len({n.detail for n in classes}) == len(classes)


def _label_boxes(placed: Layout) -> list[tuple[float, float, float, float]]:
    out: list[tuple[float, float, float, float]] = []
    for e in placed.edges:
        if e.label_x is None or e.label_y is None:
            continue
        w = text_width(e.edge.kind, 10)
        out.append((e.label_x - w / 2, e.label_y - 10, w, 12))
    return out


def test_edge_labels_never_overlap_each_other_or_a_box(scenarios: Scenarios) -> None:
    nodes, edges = report_graph(scenarios.rich.report)
    for direction in ("LR", "TB"):
        placed = layout(nodes, edges, LayoutStyle(direction=direction))
        labels = _label_boxes(placed)
        assert labels, "some edges are labelled"
        for a, b in itertools.combinations(labels, 2):
            assert not _boxes_meet(a, b), f"{direction}: labels overlap"
        for box in labels:
            for p in placed.nodes:
                assert not _boxes_meet(box, (p.x, p.y, p.width, p.height))


def _boxes_meet(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def test_a_deep_lineage_is_laid_out_top_to_bottom_to_fit_the_page(scenarios: Scenarios) -> None:
    nodes, edges = report_graph(scenarios.rich.report)
    across = layout(nodes, edges)
    assert across.width > PAGE_WIDTH  # seven layers side by side do not fit
    placed = fit(nodes, edges)
    assert placed.direction == "TB"
    assert placed.width <= PAGE_WIDTH
    assert _overlaps(placed) == []
    layer = {p.node.id: p for p in placed.nodes}
    for e in placed.edges:
        assert layer[e.edge.target].y > layer[e.edge.source].y  # every edge points down


def test_a_shallow_lineage_stays_left_to_right() -> None:
    nodes = [GraphNode("model:a", "model", "a"), GraphNode("class:c", "class", "c")]
    assert fit(nodes, [GraphEdge("model:a", "class:c", "generated")]).direction == "LR"


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
