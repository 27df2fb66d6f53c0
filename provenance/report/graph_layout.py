"""A deterministic layered layout of the lineage graph, for drawing it as SVG without JavaScript.

The graph of an audit (models, datasets, record classes) is extended with the terms documents that
judged each record class, then laid out in layers, left to right (``LR``) or top to bottom (``TB``):

1. **Layers** by longest path from the sources: a node sits one layer after its furthest
   predecessor, so every edge points forwards. Nodes on a cycle (the lineage is checked to be
   acyclic, so this only guards against a malformed report) are placed after what precedes them.
2. **Order** within a layer: an initial order by kind and name, improved by a few sweeps that sort
   each layer by the mean position of its neighbours in the previous layer (barycentre), ties
   broken by the previous order, so equal inputs always give equal pictures.
3. **Coordinates**: boxes of one width whose height grows with their text — names are wrapped over
   lines, never cut, so two documents never look the same; each layer centred across; edges are
   cubic curves from the end of one box to the start of the next.
4. **Edge labels**: each edge's kind is written on it only where the label overlaps no box and no
   other label; the colour and dash of the line (explained by a legend) always say it.

:func:`fit` picks the direction that fits a page width (left to right when it does, else whichever
is narrower); the page scales what is still too wide with the SVG ``viewBox``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from provenance.report.common import text_width, wrap

if TYPE_CHECKING:
    from provenance.auditor import AuditReport

KIND_ORDER = {"model": 0, "dataset": 1, "class": 2, "terms": 3}
KIND_LABEL = {"model": "model", "dataset": "dataset", "class": "record class", "terms": "terms"}
MAX_CLASSES = 40
"""Record classes drawn one by one; the rest are drawn as one node."""
MAX_PARTS_NAMED = 4
"""Parts named in a record class's label; more are counted."""
OTHER_CLASSES = "class:(others)"
JUDGED_UNDER = "judged-under"
"""Kind of the edges from a record class to the terms documents that judged it."""
PAGE_WIDTH = 1100.0
"""Width the HTML report gives the graph (its content column, less the frame)."""

Direction = Literal["LR", "TB"]
TextKind = Literal["kind", "name", "detail"]

FONT: Mapping[TextKind, tuple[float, bool, float]] = {
    "kind": (10.0, False, 14.0),
    "name": (12.0, True, 16.0),
    "detail": (10.0, False, 14.0),
}
"""Each kind of line in a node: font size (px), bold, line height (px); the template's CSS matches."""
EDGE_LABEL_SIZE = 10.0


@dataclass(frozen=True)
class GraphNode:
    id: str
    kind: str
    label: str
    """The node's full name (a record class: what wrote its parts, in which role)."""
    detail: str = ""
    """A last line: record count and shards, or the decision."""
    outcome: str | None = None
    """For terms nodes: the document's decision."""
    title: str = ""
    """A longer description for a tooltip (a record class: its id)."""


@dataclass(frozen=True)
class GraphEdge:
    source: str
    target: str
    kind: str


@dataclass(frozen=True)
class TextLine:
    kind: TextKind
    text: str
    x: float
    y: float
    """Baseline."""


@dataclass(frozen=True)
class PlacedNode:
    node: GraphNode
    layer: int
    x: float
    y: float
    width: float
    height: float
    lines: tuple[TextLine, ...] = ()
    """The text drawn in the box, every line inside it."""

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
    label_x: float | None
    label_y: float | None
    """Centre of the baseline of the kind label; ``None`` where no free place was found."""


@dataclass(frozen=True)
class Layout:
    nodes: tuple[PlacedNode, ...]
    edges: tuple[PlacedEdge, ...]
    width: float
    height: float
    layers: int
    direction: Direction = "LR"


@dataclass(frozen=True)
class LayoutStyle:
    direction: Direction = "LR"
    node_width: float = 184.0
    layer_gap: float = 84.0
    """Between layers (along the edges)."""
    cross_gap: float = 22.0
    """Between the boxes of one layer."""
    dummy_size: float = 8.0
    margin: float = 24.0
    padding: float = 9.0
    """Inside a box, around its text."""
    sweeps: int = 4


def node_text(node: GraphNode, width: float, padding: float = 9.0) -> list[tuple[TextKind, str]]:
    """The lines of a node's box ``width`` px wide: its kind, its name, its detail, each wrapped."""
    room = width - 2 * padding
    out: list[tuple[TextKind, str]] = []
    texts: list[tuple[TextKind, str]] = [("kind", KIND_LABEL.get(node.kind, node.kind))]
    texts.append(("name", node.label))
    if node.detail:
        texts.append(("detail", node.detail))
    for kind, text in texts:
        size, bold, _ = FONT[kind]
        shown = text.upper() if kind == "kind" else text

        def fits(line: str, size: float = size, bold: bool = bold) -> bool:
            return text_width(line, size, bold=bold) <= room

        out += [(kind, line) for line in wrap(shown, fits)]
    return out


def node_lines(node: GraphNode, width: float = 184.0) -> tuple[str, ...]:
    """Every text line drawn in a node's box, in order (kind, name, detail; wrapped, never cut)."""
    return tuple(text for _, text in node_text(node, width))


def _class_label(parts: Sequence[Mapping[str, Any]], parents: Sequence[str]) -> str:
    """What a record class is: ``gpt-4o response + claude judge``, ``from <dataset>``."""
    named = list(
        dict.fromkeys(
            f"{p.get('model')} {p.get('role') or 'output'}" for p in parts if p.get("model")
        )
    )
    text = " + ".join(named[:MAX_PARTS_NAMED])
    if len(named) > MAX_PARTS_NAMED:
        text += f" + {len(named) - MAX_PARTS_NAMED} more"
    if parents:
        text = (text + " " if text else "") + "from " + ", ".join(parents)
    return text


def report_graph(
    report: AuditReport, max_classes: int = MAX_CLASSES
) -> tuple[list[GraphNode], list[GraphEdge]]:
    """The lineage graph of ``report`` with one node per terms document that judged its classes.

    A record class is named by what wrote its parts and in which role, and the datasets it was made
    from; its id goes to the tooltip (and to the detail line when two classes read the same).
    Beyond ``max_classes`` record classes, the smallest are drawn as one node standing for all of
    them, so a dataset of many kinds of records still gives a readable picture.
    """
    nodes: dict[str, GraphNode] = {}
    records: dict[str, int] = {}
    edges: list[GraphEdge] = []
    names = {str(raw["id"]): str(raw.get("name")) for raw in report.graph.nodes}
    parents: dict[str, list[str]] = {}
    for raw in report.graph.edges:
        if raw.get("kind") == "derived-from" and str(raw["from"]) in names:
            parents.setdefault(str(raw["to"]), []).append(names[str(raw["from"])])
    for raw in report.graph.nodes:
        node_id = str(raw["id"])
        kind = str(raw.get("kind"))
        name = str(raw.get("name"))
        if kind != "class":
            nodes[node_id] = GraphNode(node_id, kind, name)
            continue
        shards = report.class_sources.get(name, {})
        count = raw.get("records")
        records[node_id] = int(count or 0)
        details = [f"{count} records"] if count is not None else []
        if shards:
            first = sorted(shards)[0]
            more = f" +{len(shards) - 1}" if len(shards) > 1 else ""
            details.append(first.rsplit("/", 1)[-1] + more)
        label = _class_label(raw.get("parts") or (), sorted(parents.get(node_id, ())))
        nodes[node_id] = GraphNode(
            node_id, kind, label or name, " · ".join(details), title=f"record class {name}"
        )
    seen_labels: dict[str, int] = {}
    for n in nodes.values():
        if n.kind == "class":
            seen_labels[n.label] = seen_labels.get(n.label, 0) + 1
    for node_id, n in list(nodes.items()):
        if n.kind == "class" and seen_labels[n.label] > 1:
            class_id = names[node_id]
            detail = f"{n.detail} · {class_id}" if n.detail else class_id
            nodes[node_id] = replace(n, detail=detail)
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
                        terms_id,
                        "terms",
                        decision.terms,
                        decision.outcome,
                        decision.outcome,
                        title=decision.title or "",
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


Box = tuple[float, float, float, float]
"""x, y, width, height."""
Box4 = tuple[tuple[float, float], tuple[float, float], tuple[float, float], tuple[float, float]]
"""The four control points of a cubic curve."""


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def _bezier(controls: Box4, t: float) -> tuple[float, float]:
    """The point at ``t`` (0 to 1) on a cubic curve."""
    u = 1 - t
    weights = (u * u * u, 3 * u * u * t, 3 * u * t * t, t * t * t)
    return (
        sum(w * p[0] for w, p in zip(weights, controls, strict=True)),
        sum(w * p[1] for w, p in zip(weights, controls, strict=True)),
    )


def layout(
    nodes: Sequence[GraphNode], edges: Sequence[GraphEdge], style: LayoutStyle | None = None
) -> Layout:
    """Place ``nodes`` in layers and route ``edges`` between them; deterministic.

    An edge that spans several layers runs through a thin placeholder in each layer between its
    ends (which takes part in the ordering), so it never crosses a box.
    """
    style = style or LayoutStyle()
    across = style.direction == "LR"
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

    texts = {n.id: node_text(n, style.node_width, style.padding) for n in nodes}
    box_height = {
        i: 2 * style.padding + sum(FONT[kind][2] for kind, _ in lines) for i, lines in texts.items()
    }

    def cross(item: str) -> float:
        """Extent across the layers."""
        if item not in by_id:
            return style.dummy_size
        return box_height[item] if across else style.node_width

    def along(item: str) -> float:
        """Extent along the edges."""
        if item not in by_id:
            return style.dummy_size
        return style.node_width if across else box_height[item]

    depth = [max((along(i) for i in col), default=style.dummy_size) for col in columns]
    if across:
        depth = [style.node_width for _ in columns]
    starts = [style.margin + sum(depth[:n]) + n * style.layer_gap for n in range(len(columns))]
    spans = [sum(cross(i) for i in col) + max(len(col) - 1, 0) * style.cross_gap for col in columns]
    breadth = max(spans, default=0.0)

    def point(m: float, c: float) -> tuple[float, float]:
        return (m, c) if across else (c, m)

    placed: dict[str, PlacedNode] = {}
    lanes: dict[str, tuple[float, float, float]] = {}
    """dummy id → (start and end along the edges, position across) of the edge through it."""
    for index, column in enumerate(columns):
        c = style.margin + (breadth - spans[index]) / 2
        m = starts[index]
        for item in column:
            if item in by_id:
                node = by_id[item]
                x, y = point(m, c)
                w, h = style.node_width, box_height[item]
                lines = []
                top = y + style.padding
                for kind, text in texts[item]:
                    size, _, height = FONT[kind]
                    lines.append(
                        TextLine(kind, text, x + style.padding, top + (height + size * 0.7) / 2)
                    )
                    top += height
                placed[item] = PlacedNode(node, index, x, y, w, h, tuple(lines))
            else:
                lanes[item] = (m, m + depth[index], c + style.dummy_size / 2)
            c += cross(item) + style.cross_gap

    def end_of(p: PlacedNode) -> tuple[float, float]:
        """Where edges leave a box: (along, across)."""
        return (p.x + p.width, p.cy) if across else (p.y + p.height, p.cx)

    def start_of(p: PlacedNode) -> tuple[float, float]:
        return (p.x, p.cy) if across else (p.y, p.cx)

    def curve(m1: float, c1: float, m2: float, c2: float) -> tuple[str, Box4]:
        mid = (m1 + m2) / 2
        (ax, ay), (bx, by), (cx_, cy_), (dx, dy) = (
            point(m1, c1),
            point(mid, c1),
            point(mid, c2),
            point(m2, c2),
        )
        return f"C {bx:.1f} {by:.1f}, {cx_:.1f} {cy_:.1f}, {dx:.1f} {dy:.1f}", (
            (ax, ay),
            (bx, by),
            (cx_, cy_),
            (dx, dy),
        )

    count = len(columns)
    length = 2 * style.margin + sum(depth) + max(count - 1, 0) * style.layer_gap
    width, height = point(length, 2 * style.margin + breadth)
    boxes: list[Box] = [(p.x - 3, p.y - 3, p.width + 6, p.height + 6) for p in placed.values()]
    taken: list[Box] = []

    def label_at(controls: Box4, kind: str) -> tuple[float | None, float | None]:
        w = text_width(kind, EDGE_LABEL_SIZE) + 6
        h = EDGE_LABEL_SIZE + 4
        for t in (0.5, 0.4, 0.6, 0.3, 0.7, 0.2, 0.8):
            x, y = _bezier(controls, t)
            box = (x - w / 2, y - h / 2, w, h)
            inside = box[0] >= 0 and box[1] >= 0 and x + w / 2 <= width and y + h / 2 <= height
            if inside and not any(_overlap(box, b) for b in (*boxes, *taken)):
                taken.append(box)
                return x, y + EDGE_LABEL_SIZE * 0.35
        return None, None

    routed = []
    for index, e in enumerate(kept):
        a, b = placed[e.source], placed[e.target]
        m1, c1 = end_of(a)
        x1, y1 = point(m1, c1)
        if layer[e.target] <= layer[e.source]:  # only on a broken cycle: loop around the far side
            bend = 40.0
            if across:
                (x1, y1), (x2, y2) = (a.cx, a.y + a.height), (b.cx, b.y + b.height)
                c1x, c1y, c2x, c2y = x1 + bend, y1 + bend, x2, y2 + bend
            else:
                (x1, y1), (x2, y2) = (a.x + a.width, a.cy), (b.x + b.width, b.cy)
                c1x, c1y, c2x, c2y = x1 + bend, y1 + bend, x2 + bend, y2
            loop = (
                f"M {x1:.1f} {y1:.1f} C {c1x:.1f} {c1y:.1f}, {c2x:.1f} {c2y:.1f}, {x2:.1f} {y2:.1f}"
            )
            lx, ly = label_at(((x1, y1), (c1x, c1y), (c2x, c2y), (x2, y2)), e.kind)
            routed.append(PlacedEdge(e, loop, lx, ly))
            continue
        segments = [f"M {x1:.1f} {y1:.1f}"]
        first: Box4 | None = None
        m, c = m1, c1
        for dummy in chains.get(index, []):
            lane_start, lane_end, lane = lanes[dummy]
            text, controls = curve(m, c, lane_start, lane)
            segments.append(text)
            first = first or controls
            m, c = lane_end, lane
            lx_, ly_ = point(m, c)
            segments.append(f"L {lx_:.1f} {ly_:.1f}")
        m2, c2 = start_of(b)
        text, controls = curve(m, c, m2, c2)
        segments.append(text)
        lx, ly = label_at(first or controls, e.kind)
        routed.append(PlacedEdge(e, " ".join(segments), lx, ly))
    ordered = tuple(placed[i] for column in columns for i in column if i in placed)
    return Layout(ordered, tuple(routed), width, height, count, style.direction)


def fit(
    nodes: Sequence[GraphNode], edges: Sequence[GraphEdge], width: float = PAGE_WIDTH
) -> Layout:
    """Left to right when that fits ``width``; else whichever direction is narrower."""
    across = layout(nodes, edges, LayoutStyle(direction="LR"))
    if across.width <= width:
        return across
    down = layout(nodes, edges, LayoutStyle(direction="TB"))
    return down if down.width < across.width else across


def describe(layout_: Layout) -> dict[str, Any]:
    """A plain summary of a layout (for tests and debugging)."""
    return {
        "direction": layout_.direction,
        "layers": layout_.layers,
        "nodes": {p.node.id: (p.layer, p.x, p.y) for p in layout_.nodes},
        "edges": [(e.edge.source, e.edge.target, e.edge.kind) for e in layout_.edges],
        "labels": [(e.label_x, e.label_y) for e in layout_.edges],
    }
