""" "How the coach thinks": the chat agent's LangGraph drawn locally with QGraphicsScene.

The nodes and edges come from :func:`fretcoach_desktop.coach.agent_graph.graph_layout`
(plain data with a layered layout: ``rank`` top-down, ``order`` left to right). Nothing is
sent to a web rendering service. Building the graph imports LangChain, so the dialog is
shown at once with a "loading" line and :meth:`AgentGraphDialog.set_graph` fills it in
when the worker pool has the layout.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QPainter, QPainterPath, QPen, QPolygonF
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QGraphicsItem,
    QGraphicsPathItem,
    QGraphicsPolygonItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
    QGraphicsView,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from . import theme

__all__ = ["AgentGraphDialog", "AgentGraphView"]

NODE_W, NODE_H = 190.0, 46.0
GAP_X, GAP_Y = 40.0, 56.0

_KIND_COLORS = {"start": "accent", "end": "good", "model": "accent", "tools": "warn", "step": "muted"}


class AgentGraphView(QGraphicsView):
    """Draws (nodes, edges) of ``graph_layout``; node boxes are keyed by node id in ``boxes``."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.setMinimumSize(460, 420)
        self.boxes: dict[str, QGraphicsRectItem] = {}
        self.edges: list[QGraphicsPathItem] = []

    def set_graph(self, nodes: Sequence[Any], edges: Sequence[Any]) -> None:
        scene = self.scene()
        scene.clear()
        self.boxes.clear()
        self.edges.clear()
        c = theme.colors()
        per_rank: dict[int, int] = {}
        for n in nodes:
            per_rank[n.rank] = max(per_rank.get(n.rank, 0), n.order + 1)
        widest = max(per_rank.values(), default=1)
        for n in nodes:
            count = per_rank[n.rank]
            x0 = (widest - count) * (NODE_W + GAP_X) / 2.0
            rect = QRectF(x0 + n.order * (NODE_W + GAP_X), n.rank * (NODE_H + GAP_Y), NODE_W, NODE_H)
            color = QColor(getattr(c, _KIND_COLORS.get(n.kind, "muted")))
            fill = QColor(color)
            fill.setAlpha(45)
            box = QGraphicsRectItem(rect)
            box.setPen(QPen(color, 2))
            box.setBrush(QBrush(fill))
            box.setToolTip(n.description or n.label)
            box.setData(0, n.id)
            box.setZValue(1)
            scene.addItem(box)
            text = QGraphicsSimpleTextItem(n.label, box)
            font = QFont(text.font())
            font.setBold(n.kind in ("model", "tools"))
            text.setFont(font)
            text.setBrush(QBrush(c.text))
            br = text.boundingRect()
            text.setPos(rect.center().x() - br.width() / 2, rect.center().y() - br.height() / 2)
            self.boxes[n.id] = box
        for e in edges:
            a, b = self.boxes.get(e.source), self.boxes.get(e.target)
            if a is None or b is None:
                continue
            self._edge(scene, a.rect(), b.rect(), bool(e.conditional), e.label, c.muted)
        scene.setSceneRect(scene.itemsBoundingRect().adjusted(-20, -20, 20, 20))
        self.fitInView(scene.sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)

    def _edge(self, scene: QGraphicsScene, a: QRectF, b: QRectF, dashed: bool, label: str | None, color: QColor):
        path = QPainterPath()
        if a == b:  # a self loop on the right side
            start = QPointF(a.right(), a.center().y() - 8)
            end = QPointF(a.right(), a.center().y() + 8)
            path.moveTo(start)
            path.cubicTo(start + QPointF(40, -30), end + QPointF(40, 30), end)
            tip, towards = end, end + QPointF(10, 6)
        elif b.top() > a.bottom():  # downwards: straight from the bottom to the top
            start, end = QPointF(a.center().x(), a.bottom()), QPointF(b.center().x(), b.top())
            path.moveTo(start)
            mid = (start.y() + end.y()) / 2
            path.cubicTo(QPointF(start.x(), mid), QPointF(end.x(), mid), end)
            tip, towards = end, QPointF(end.x(), mid)
        else:  # back up (e.g. tools -> model): around the right side
            start, end = QPointF(a.right(), a.center().y()), QPointF(b.right(), b.center().y())
            bulge = max(a.right(), b.right()) + 60
            path.moveTo(start)
            path.cubicTo(QPointF(bulge, start.y()), QPointF(bulge, end.y()), end)
            tip, towards = end, QPointF(bulge, end.y())
        pen = QPen(color, 1.6)
        if dashed:
            pen.setStyle(Qt.PenStyle.DashLine)
        item = QGraphicsPathItem(path)
        item.setPen(pen)
        item.setZValue(0)
        if label:
            item.setToolTip(label)
        scene.addItem(item)
        self.edges.append(item)
        scene.addItem(_arrow_head(tip, towards, color))

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        if self.scene() is not None and not self.scene().sceneRect().isEmpty():
            self.fitInView(self.scene().sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)


def _arrow_head(tip: QPointF, towards: QPointF, color: QColor) -> QGraphicsItem:
    import math

    angle = math.atan2(tip.y() - towards.y(), tip.x() - towards.x())
    size = 9.0
    left = QPointF(tip.x() - size * math.cos(angle - 0.4), tip.y() - size * math.sin(angle - 0.4))
    right = QPointF(tip.x() - size * math.cos(angle + 0.4), tip.y() - size * math.sin(angle + 0.4))
    head = QGraphicsPolygonItem(QPolygonF([tip, left, right]))
    head.setPen(QPen(color, 1))
    head.setBrush(QBrush(color))
    head.setZValue(2)
    return head


class AgentGraphDialog(QDialog):
    """The diagram plus a short legend; filled in by :meth:`set_graph` or :meth:`show_error`."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("How the coach thinks")
        self.view = AgentGraphView()
        self.status = QLabel("Drawing the coach's graph…")
        self.status.setWordWrap(True)
        self.legend = QLabel(
            "Your question goes to the <b>coach model</b>, which either answers or asks the <b>tools</b> "
            "to look something up in your practice database (read-only, only your own sessions) or to make "
            "a practice plan; the results go back to the model. Dashed arrows are decisions the model makes. "
            "Hover a box for details."
        )
        self.legend.setWordWrap(True)
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(self.status)
        lay.addWidget(self.view, 1)
        lay.addWidget(self.legend)
        lay.addWidget(buttons)
        self.resize(560, 640)

    def set_graph(self, nodes: Sequence[Any], edges: Sequence[Any]) -> None:
        self.view.set_graph(nodes, edges)
        tools = next((n.tools for n in nodes if n.kind == "tools" and n.tools), ())
        self.status.setText(
            f"{len(nodes)} steps, {len(edges)} connections" + (f" · tools: {', '.join(tools)}" if tools else "")
        )

    def show_error(self, text: str) -> None:
        self.status.setText(f"Could not draw the coach's graph: {text}")
