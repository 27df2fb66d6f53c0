"""The lineage's own directed graph against networkx, on random graphs: the same cycle found, the
same longest path length, the same nodes, edges and attributes."""

from __future__ import annotations

import itertools

import networkx as nx
from hypothesis import given
from hypothesis import strategies as st

from provenance.policy.graph import DiGraph

EDGES = st.lists(st.tuples(st.integers(0, 12), st.integers(0, 12)), max_size=40)


def _both(edges: list[tuple[int, int]]) -> tuple[DiGraph, nx.DiGraph]:
    ours, theirs = DiGraph(), nx.DiGraph()
    for u, v in edges:
        for graph in (ours, theirs):
            graph.add_node(f"n{u}", kind="model", name=str(u))
            graph.add_node(f"n{v}", kind="dataset", name=str(v))
            graph.add_edge(f"n{u}", f"n{v}", kind="trained-on")
    return ours, theirs


@given(EDGES)
def test_the_cycle_found_is_the_one_networkx_finds(edges: list[tuple[int, int]]) -> None:
    ours, theirs = _both(edges)
    try:
        expected = nx.find_cycle(theirs)
    except nx.NetworkXNoCycle:
        expected = None
    assert ours.find_cycle() == expected


@given(EDGES)
def test_the_longest_path_has_the_length_networkx_gives(edges: list[tuple[int, int]]) -> None:
    ours, theirs = _both(edges)
    if ours.find_cycle() is not None:
        return
    path = ours.longest_path()
    assert len(path) == len(nx.dag_longest_path(theirs))
    assert all(theirs.has_edge(u, v) for u, v in itertools.pairwise(path))


@given(EDGES)
def test_nodes_edges_and_attributes_are_networkx_s(edges: list[tuple[int, int]]) -> None:
    ours, theirs = _both(edges)
    assert ours.nodes(data=True) == list(theirs.nodes(data=True))
    assert ours.edges(data=True) == list(theirs.edges(data=True))
    for node in theirs:
        assert list(ours.predecessors(node)) == list(theirs.predecessors(node))
    converted = ours.to_networkx()
    assert nx.utils.graphs_equal(converted, theirs)


def test_a_chain_of_ten_thousand_hops_is_walked_without_recursion() -> None:
    graph = DiGraph()
    for i in range(10_000):
        graph.add_edge(f"m{i}", f"m{i + 1}", kind="trained-on")
    assert graph.find_cycle() is None
    assert len(graph.longest_path()) == 10_001
    graph.add_edge("m10000", "m0", kind="trained-on")
    cycle = graph.find_cycle()
    assert cycle is not None and len(cycle) == 10_001
