"""The chat agent's graph for "How the coach thinks", drawn offline.

``graph_mermaid(agent)`` is LangGraph's Mermaid text (``get_graph(xray=True).draw_mermaid()``,
pure string building). ``draw_mermaid_png()`` is deliberately never used: it calls a web
rendering service and fails offline. ``graph_layout(agent)`` gives plain nodes and edges with
a layered layout (rank, order) so the UI can draw the diagram itself with Qt.

``agent`` is a compiled LangGraph graph (``ChatAgent.graph_agent()``), or anything with
``get_graph(xray=...)``; a ``ChatAgent`` is accepted too.
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["GraphEdge", "GraphNode", "graph_layout", "graph_mermaid"]

_START, _END = "__start__", "__end__"

#: Friendly labels and one-line explanations for the chat panel.
_DESCRIPTIONS = {
    _START: ("Your question", "The question and the conversation so far."),
    _END: ("Answer", "The coach's answer."),
    "model": ("Coach model", "Reads the question and decides: answer, or look something up with a tool."),
    "tools": ("Tools", "Runs the lookups the model asked for and hands the results back."),
}


@dataclass(frozen=True)
class GraphNode:
    id: str
    label: str
    kind: str  # "start", "end", "model", "tools" or "step" (middleware)
    description: str
    tools: tuple[str, ...] = ()
    rank: int = 0  # layer (0 = the question), for a top-down layout
    order: int = 0  # position within the layer

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["tools"] = list(self.tools)
        return data


@dataclass(frozen=True)
class GraphEdge:
    source: str
    target: str
    conditional: bool  # drawn dashed: taken only when the source decides so
    label: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _graph(agent: Any) -> Any:
    target = getattr(agent, "graph_agent", None)
    if callable(target):  # a ChatAgent
        agent = target()
    return agent.get_graph(xray=True)


def graph_mermaid(agent: Any) -> str:
    """Mermaid flowchart text of the agent's graph (offline; no PNG, no web service)."""
    return _graph(agent).draw_mermaid()


def _tool_names(agent: Any, graph: Any) -> tuple[str, ...]:
    node = graph.nodes.get("tools")
    data = getattr(node, "data", None)
    tools_by_name = getattr(data, "tools_by_name", None)
    if isinstance(tools_by_name, dict):
        return tuple(tools_by_name)
    try:  # the compiled graph's ToolNode
        compiled = agent.graph_agent() if callable(getattr(agent, "graph_agent", None)) else agent
        return tuple(compiled.nodes["tools"].bound.tools_by_name)
    except Exception:
        return ()


def graph_layout(agent: Any) -> tuple[list[GraphNode], list[GraphEdge]]:
    """The agent's nodes (with a layered layout) and edges as plain data for the UI.

    Ranks come from a breadth-first walk from the question over unconditional edges first,
    so the main path (question -> model -> ... -> answer) reads top-down; the answer is
    always on the last rank.
    """
    graph = _graph(agent)
    ids = list(graph.nodes)
    edges = [GraphEdge(e.source, e.target, bool(e.conditional), _edge_label(e)) for e in graph.edges]

    rank: dict[str, int] = {}
    if _START in ids:
        rank[_START] = 0
        queue = deque([_START])
        while queue:
            current = queue.popleft()
            nexts = sorted(
                (e for e in edges if e.source == current and e.target != _END),
                key=lambda e: (e.conditional, e.target),
            )
            for e in nexts:
                if e.target not in rank:
                    rank[e.target] = rank[current] + 1
                    queue.append(e.target)
    top = max(rank.values(), default=0)
    for node_id in ids:
        if node_id not in rank and node_id != _END:
            top += 1
            rank[node_id] = top
    if _END in ids:
        rank[_END] = max(rank.values(), default=0) + 1

    tools = _tool_names(agent, graph)
    per_rank: dict[int, int] = {}
    nodes = []
    for node_id in sorted(ids, key=lambda n: (rank[n], ids.index(n))):
        r = rank[node_id]
        order = per_rank.get(r, 0)
        per_rank[r] = order + 1
        label, description = _DESCRIPTIONS.get(node_id, (None, None))
        if node_id == _START:
            kind = "start"
        elif node_id == _END:
            kind = "end"
        elif node_id in ("model", "tools"):
            kind = node_id
        else:
            kind = "step"
        if label is None:
            label, description = _middleware_label(node_id)
        if node_id == "tools" and tools:
            description = f"{description} Tools: {', '.join(tools)}."
        nodes.append(
            GraphNode(
                id=node_id,
                label=label,
                kind=kind,
                description=description,
                tools=tools if node_id == "tools" else (),
                rank=r,
                order=order,
            )
        )
    return nodes, edges


def _edge_label(edge: Any) -> str | None:
    data = getattr(edge, "data", None)
    return str(data) if data else None


def _middleware_label(node_id: str) -> tuple[str, str]:
    name, _, hook = node_id.partition(".")
    if name == "ToolCallLimitMiddleware":
        return "Tool-call limit", "Stops the lookups when the coach has made too many tool calls for one question."
    if name == "ModelFallbackMiddleware":
        return "Fallback model", "Switches to a fallback model when the main one is rate limited or down."
    words = name.removesuffix("Middleware")
    return words or node_id, f"A step that runs {hook.replace('_', ' ') or 'between'} the model calls."
