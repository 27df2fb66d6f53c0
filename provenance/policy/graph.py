"""A directed graph with attributes on nodes and edges: the part of ``networkx.DiGraph`` the lineage
needs, without its import.

Importing networkx takes longer than the rest of a small audit together (it loads every algorithm
and scans its backends), and the lineage uses three things: attributes, predecessors, and a check
for cycles and depth. Both walks here are iterative and linear in nodes + edges, so a deep or
hostile lineage cannot exhaust the stack. :meth:`DiGraph.to_networkx` gives a real networkx graph
to anyone who wants its algorithms.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any, overload


class _Nodes:
    """``graph.nodes[n]`` (the attributes of ``n``) and ``graph.nodes(data=True)``."""

    def __init__(self, attrs: dict[str, dict[str, Any]]) -> None:
        self._attrs = attrs

    def __getitem__(self, node: str) -> dict[str, Any]:
        return self._attrs[node]

    def __iter__(self) -> Iterator[str]:
        return iter(self._attrs)

    def __len__(self) -> int:
        return len(self._attrs)

    @overload
    def __call__(self) -> list[str]: ...
    @overload
    def __call__(self, data: bool) -> list[tuple[str, dict[str, Any]]]: ...
    def __call__(self, data: bool = False) -> list[str] | list[tuple[str, dict[str, Any]]]:
        if data:
            return list(self._attrs.items())
        return list(self._attrs)


class _Edges:
    """``graph.edges[u, v]`` (the attributes of the edge) and ``graph.edges(data=True)``."""

    def __init__(self, succ: dict[str, dict[str, dict[str, Any]]]) -> None:
        self._succ = succ

    def __getitem__(self, edge: tuple[str, str]) -> dict[str, Any]:
        u, v = edge
        return self._succ[u][v]

    def __call__(self, data: bool = False) -> list[tuple[Any, ...]]:
        if data:
            return [(u, v, d) for u, out in self._succ.items() for v, d in out.items()]
        return [(u, v) for u, out in self._succ.items() for v in out]


class DiGraph:
    """Nodes and directed edges in insertion order, each with a dict of attributes."""

    def __init__(self) -> None:
        self._attrs: dict[str, dict[str, Any]] = {}
        self._succ: dict[str, dict[str, dict[str, Any]]] = {}
        self._pred: dict[str, dict[str, None]] = {}
        self.nodes = _Nodes(self._attrs)
        self.edges = _Edges(self._succ)

    def __contains__(self, node: object) -> bool:
        return node in self._attrs

    def add_node(self, node: str, **attrs: Any) -> None:
        if node not in self._attrs:
            self._attrs[node] = {}
            self._succ[node] = {}
            self._pred[node] = {}
        self._attrs[node].update(attrs)

    def add_edge(self, u: str, v: str, **attrs: Any) -> None:
        """An edge ``u → v`` (adding either node if missing); attributes merge as in networkx."""
        self.add_node(u)
        self.add_node(v)
        self._succ[u].setdefault(v, {}).update(attrs)
        self._pred[v][u] = None

    def number_of_nodes(self) -> int:
        return len(self._attrs)

    def successors(self, node: str) -> Iterator[str]:
        return iter(self._succ[node])

    def predecessors(self, node: str) -> Iterator[str]:
        return iter(self._pred[node])

    def find_cycle(self) -> list[tuple[str, str]] | None:
        """The edges of a cycle, starting and ending at the node that closes it, or None.

        Depth-first from each node in insertion order, successors in insertion order: the cycle
        ``networkx.find_cycle`` reports for the same graph."""
        done: set[str] = set()
        for root in self._attrs:
            if root in done:
                continue
            on_path: dict[str, int] = {root: 0}
            path = [root]
            stack = [iter(self._succ[root])]
            while stack:
                child = next(stack[-1], None)
                if child is None:
                    stack.pop()
                    finished = path.pop()
                    del on_path[finished]
                    done.add(finished)
                    continue
                if child in on_path:
                    cycle = [*path[on_path[child] :], child]
                    return list(itertools.pairwise(cycle))
                if child in done:
                    continue
                on_path[child] = len(path)
                path.append(child)
                stack.append(iter(self._succ[child]))
        return None

    def longest_path(self) -> list[str]:
        """The nodes of a longest path of an acyclic graph (the first found, in insertion order
        of the nodes it starts from); empty for an empty graph."""
        order = self._topological_order()
        best: dict[str, tuple[int, str | None]] = {}
        for node in order:
            length, parent = 0, None
            for before in self._pred[node]:
                if best[before][0] + 1 > length:
                    length, parent = best[before][0] + 1, before
            best[node] = (length, parent)
        if not best:
            return []
        end = max(order, key=lambda n: best[n][0])
        path: list[str] = []
        at: str | None = end
        while at is not None:
            path.append(at)
            at = best[at][1]
        return path[::-1]

    def _topological_order(self) -> list[str]:
        waiting = {node: len(parents) for node, parents in self._pred.items()}
        ready = [node for node, count in waiting.items() if count == 0]
        order: list[str] = []
        while ready:
            node = ready.pop()
            order.append(node)
            for child in self._succ[node]:
                waiting[child] -= 1
                if waiting[child] == 0:
                    ready.append(child)
        if len(order) != len(self._attrs):
            raise ValueError("the graph has a cycle")
        return order

    def to_networkx(self) -> Any:
        """The same graph as a ``networkx.DiGraph`` (networkx is imported here, on demand)."""
        import networkx as nx

        graph = nx.DiGraph()
        graph.add_nodes_from(self.nodes(data=True))
        graph.add_edges_from(self.edges(data=True))
        return graph
