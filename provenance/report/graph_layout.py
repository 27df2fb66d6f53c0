"""A deterministic layered layout of the lineage graph, for drawing it as SVG without JavaScript.

The graph of an audit (models, datasets, record classes) is extended with the terms documents that
judged each record class, then laid out left to right:

1. **Layers** by longest path from the sources: a node sits one column right of its furthest
   predecessor, so every edge points rightwards. Nodes on a cycle (the lineage is checked to be
   acyclic, so this only guards against a malformed report) are placed after what precedes them.
2. **Order** within a column: an initial order by kind and name, improved by a few sweeps that sort
   each column by the mean position of its neighbours in the previous column (barycentre), ties
   broken by the previous order, so equal inputs always give equal pictures.
3. **Coordinates**: fixed-size boxes on a grid, each column centred vertically; edges are cubic
   curves from the right side of one box to the left side of the next.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from provenance.auditor import AuditReport

KIND_ORDER = {"model": 0, "dataset": 1, "class": 2, "terms": 3}
KIND_LABEL = {"model": "model", "dataset": "dataset", "class": "record class", "terms": "terms"}
MAX_CLASSES = 40
"""Record classes drawn one by one; the rest are drawn as one node."""
OTHER_CLASSES = "class:(others)"
JUDGED_UNDER = "judged-under"
"""Kind of the edges from a record class to the terms documents that judged it."""


@dataclass(frozen=True)
class GraphNode:
    id: str
    kind: str
    label: str
    detail: str = ""
    """A second line: record count and shards, or the decision."""
    outcome: str | None = None
    """For terms nodes: the document's decision."""


@dataclass(frozen=True)
class GraphEdge:
    source: str
    target: str
    kind: str


@dataclass(frozen=True)
class PlacedNode:
    node: GraphNode
    layer: int
    x: float
    y: float
    width: float
    height: float

    @property
    def cx(self) -> float:
        return self.x + self.width / 2

    @property
    def cy(self) -> float:
        return self.y + self.height / 2


@dataclass(frozen=True)
class PlacedEdge:
    edge: GraphEdge
    path: str
    """SVG path data of the curve."""
    label_x: float
    label_y: float


@dataclass(frozen=True)
class Layout:
    nodes: tuple[PlacedNode, ...]
    edges: tuple[PlacedEdge, ...]
    width: float
    height: float
    layers: int


@dataclass(frozen=True)
class LayoutStyle:
    node_width: float = 220.0
    node_height: float = 46.0
    column_gap: float = 100.0
    row_gap: float = 22.0
    dummy_height: float = 8.0
    margin: float = 24.0
    sweeps: int = 4


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def report_graph(
    report: AuditReport, max_classes: int = MAX_CLASSES
) -> tuple[list[GraphNode], list[GraphEdge]]:
    """The lineage graph of ``report`` with one node per terms document that judged its classes.

    Beyond ``max_classes`` record classes, the smallest are drawn as one node standing for all of
    them, so a dataset of many kinds of records still gives a readable picture.
    """
    nodes: dict[str, GraphNode] = {}
    records: dict[str, int] = {}
    edges: list[GraphEdge] = []
    for raw in report.graph.nodes:
        node_id = str(raw["id"])
        kind = str(raw.get("kind"))
        name = str(raw.get("name"))
        detail = ""
        if kind == "class":
            shards = report.class_sources.get(name, {})
            count = raw.get("records")
            records[node_id] = int(count or 0)
            parts = [f"{count} records"] if count is not None else []
            if shards:
                first = sorted(shards)[0]
                more = f" +{len(shards) - 1}" if len(shards) > 1 else ""
                parts.append(first.rsplit("/", 1)[-1] + more)
            detail = " · ".join(parts)
        nodes[node_id] = GraphNode(node_id, kind, name, detail)
    for raw in report.graph.edges:
        source, target = str(raw["from"]), str(raw["to"])
        if source in nodes and target in nodes:
            edges.append(GraphEdge(source, target, str(raw.get("kind"))))
    seen: set[tuple[str, str]] = set()
    for decision in report.policy.decisions:
        terms_id = f"terms:{decision.terms}"
        for finding in decision.findings:
            for class_id in finding.class_ids:
                class_node = f"class:{class_id}"
                if class_node not in nodes or (class_node, terms_id) in seen:
                    continue
                if terms_id not in nodes:
                    nodes[terms_id] = GraphNode(
                        terms_id, "terms", decision.terms, decision.outcome, decision.outcome
                    )
                seen.add((class_node, terms_id))
                edges.append(GraphEdge(class_node, terms_id, JUDGED_UNDER))
    return _fold_classes(nodes, edges, records, max_classes)


def _fold_classes(
    nodes: dict[str, GraphNode],
    edges: list[GraphEdge],
    records: Mapping[str, int],
    max_classes: int,
) -> tuple[list[GraphNode], list[GraphEdge]]:
    classes = sorted(
        (n for n in nodes.values() if n.kind == "class"), key=lambda n: (-records[n.id], n.id)
    )
    if len(classes) <= max_classes:
        return list(nodes.values()), edges
    folded = {n.id for n in classes[max(max_classes - 1, 0) :]}
    total = sum(records[n] for n in folded)
    others = GraphNode(
        OTHER_CLASSES, "class", f"{len(folded)} more record classes", f"{total} records"
    )
    kept = [n for n in nodes.values() if n.id not in folded] + [others]
    moved: dict[tuple[str, str, str], GraphEdge] = {}
    for e in edges:
        source = OTHER_CLASSES if e.source in folded else e.source
        target = OTHER_CLASSES if e.target in folded else e.target
        moved.setdefault((source, target, e.kind), GraphEdge(source, target, e.kind))
    return kept, list(moved.values())


def _layers(ids: Sequence[str], edges: Sequence[GraphEdge]) -> dict[str, int]:
    """Longest-path layering (Kahn's algorithm over a sorted queue; cycles broken in order)."""
    preds: dict[str, list[str]] = {n: [] for n in ids}
    succs: dict[str, list[str]] = {n: [] for n in ids}
    for e in edges:
        if e.source != e.target:
            preds[e.target].append(e.source)
            succs[e.source].append(e.target)
    indegree = {n: len(set(p)) for n, p in preds.items()}
    layer: dict[str, int] = {}
    ready = sorted(n for n in ids if indegree[n] == 0)
    while len(layer) < len(ids):
        if not ready:
            # A cycle: take the first unplaced node in input order.
            ready = [next(n for n in ids if n not in layer)]
        node = ready.pop(0)
        if node in layer:
            continue
        layer[node] = max((layer[p] + 1 for p in preds[node] if p in layer), default=0)
        for succ in sorted(set(succs[node])):
            indegree[succ] -= 1
            if indegree[succ] == 0 and succ not in layer:
                ready.append(succ)
        ready.sort()
    return layer


def _order(
    items: Mapping[str, tuple[int, str, str]],
    layer: Mapping[str, int],
    links: Sequence[tuple[str, str]],
    sweeps: int,
) -> list[list[str]]:
    """Columns of item ids, ordered to keep edges short and uncrossed (barycentre sweeps).

    ``items`` maps an id to its initial sort key; ``links`` join items in adjacent columns.
    """
    count = max(layer.values(), default=-1) + 1
    columns: list[list[str]] = [[] for _ in range(count)]
    for item in sorted(items, key=lambda i: (*items[i], i)):
        columns[layer[item]].append(item)
    preds: dict[str, list[str]] = {i: [] for i in items}
    succs: dict[str, list[str]] = {i: [] for i in items}
    for source, target in links:
        preds[target].append(source)
        succs[source].append(target)

    def sort_by(column: list[str], neighbours: Mapping[str, Iterable[str]]) -> list[str]:
        position = {i: n for col in columns for n, i in enumerate(col)}
        here = {i: n for n, i in enumerate(column)}

        def key(item: str) -> tuple[float, int]:
            near = [position[m] for m in neighbours[item] if m in position]
            centre = sum(near) / len(near) if near else float(here[item])
            return (centre, here[item])

        return sorted(column, key=key)

    for _ in range(sweeps):
        for i in range(1, count):
            columns[i] = sort_by(columns[i], preds)
        for i in range(count - 2, -1, -1):
            columns[i] = sort_by(columns[i], succs)
    return columns


def _curve(x1: float, y1: float, x2: float, y2: float) -> str:
    mid = (x1 + x2) / 2
    return f"C {mid:.1f} {y1:.1f}, {mid:.1f} {y2:.1f}, {x2:.1f} {y2:.1f}"


def layout(
    nodes: Sequence[GraphNode], edges: Sequence[GraphEdge], style: LayoutStyle | None = None
) -> Layout:
    """Place ``nodes`` in columns and route ``edges`` between them; deterministic.

    An edge that spans several columns runs through a thin placeholder in each column between its
    ends (which takes part in the ordering), so it never crosses a box.
    """
    style = style or LayoutStyle()
    by_id = {n.id: n for n in nodes}
    kept = sorted(
        {
            (e.source, e.target, e.kind): e
            for e in edges
            if e.source in by_id and e.target in by_id
        }.values(),
        key=lambda e: (e.source, e.target, e.kind),
    )
    layer = dict(_layers(sorted(by_id), kept))
    items: dict[str, tuple[int, str, str]] = {
        n.id: (KIND_ORDER.get(n.kind, 9), n.label, "") for n in nodes
    }
    links: list[tuple[str, str]] = []
    chains: dict[int, list[str]] = {}
    for index, e in enumerate(kept):
        span = layer[e.target] - layer[e.source]
        if span <= 1:
            if span == 1:
                links.append((e.source, e.target))
            continue
        chain = []
        for step in range(1, span):
            dummy = f"\x00edge{index}:{step}"
            layer[dummy] = layer[e.source] + step
            items[dummy] = (KIND_ORDER.get(by_id[e.source].kind, 9), by_id[e.source].label, dummy)
            chain.append(dummy)
        chains[index] = chain
        path = [e.source, *chain, e.target]
        links += list(itertools.pairwise(path))
    columns = _order(items, layer, links, style.sweeps)

    def height_of(item: str) -> float:
        return style.node_height if item in by_id else style.dummy_height

    heights = [
        sum(height_of(i) for i in col) + max(len(col) - 1, 0) * style.row_gap for col in columns
    ]
    column_height = max(heights, default=0.0)
    placed: dict[str, PlacedNode] = {}
    lanes: dict[str, tuple[float, float]] = {}
    """dummy id → (x of its column, y of the edge passing through it)."""
    for index, column in enumerate(columns):
        y = style.margin + (column_height - heights[index]) / 2
        x = style.margin + index * (style.node_width + style.column_gap)
        for item in column:
            if item in by_id:
                placed[item] = PlacedNode(
                    by_id[item], index, x, y, style.node_width, style.node_height
                )
            else:
                lanes[item] = (x, y + style.dummy_height / 2)
            y += height_of(item) + style.row_gap
    routed = []
    for index, e in enumerate(kept):
        a, b = placed[e.source], placed[e.target]
        x1, y1 = a.x + a.width, a.cy
        if layer[e.target] <= layer[e.source]:  # only on a broken cycle: loop around below
            x2, y2 = b.cx, b.y + b.height
            bend = style.node_height
            loop = (
                f"M {x1:.1f} {y1:.1f} C {x1 + bend:.1f} {y1 + bend:.1f}, "
                f"{x2:.1f} {y2 + bend:.1f}, {x2:.1f} {y2:.1f}"
            )
            routed.append(PlacedEdge(e, loop, (x1 + x2) / 2, max(y1, y2) + bend / 2))
            continue
        segments = [f"M {x1:.1f} {y1:.1f}"]
        first_end: tuple[float, float] | None = None
        x, y = x1, y1
        for dummy in chains.get(index, []):
            lane_x, lane_y = lanes[dummy]
            segments.append(_curve(x, y, lane_x, lane_y))
            first_end = first_end or (lane_x, lane_y)
            x, y = lane_x + style.node_width, lane_y
            segments.append(f"L {x:.1f} {y:.1f}")
        segments.append(_curve(x, y, b.x, b.cy))
        end_x, end_y = first_end or (b.x, b.cy)
        routed.append(PlacedEdge(e, " ".join(segments), (x1 + end_x) / 2, (y1 + end_y) / 2 - 4))
    count = len(columns)
    width = 2 * style.margin + count * style.node_width + max(count - 1, 0) * style.column_gap
    height = 2 * style.margin + column_height
    ordered = tuple(placed[i] for column in columns for i in column if i in placed)
    return Layout(ordered, tuple(routed), width, height, count)


def node_lines(node: GraphNode, limit: int = 28) -> tuple[str, str]:
    """The two text lines drawn in a node's box (220 px wide): kind and detail, then the name."""
    head = KIND_LABEL.get(node.kind, node.kind)
    if node.detail:
        head = f"{head} · {node.detail}"
    return _short(head, limit + 2), _short(node.label, limit)


def describe(layout_: Layout) -> dict[str, Any]:
    """A plain summary of a layout (for tests and debugging)."""
    return {
        "layers": layout_.layers,
        "nodes": {p.node.id: (p.layer, p.x, p.y) for p in layout_.nodes},
        "edges": [(e.edge.source, e.edge.target, e.edge.kind) for e in layout_.edges],
    }
