"""Typed messages the app's workers post back to the UI thread."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from slimview.findings.model import Finding
from slimview.index.model import ImageIndex
from slimview.report import Report
from slimview.index.tree import TreeView
from slimview.ui.treemodel import Row, Selection, TreeQuery
from slimview.ui.widgets.summary import ImageFigures


@dataclass
class IndexProgress(Message):
    """The engine save or the index moved on: ``stage`` as the core names it."""

    stage: str
    done: int
    total: int | None


@dataclass
class IndexReady(Message):
    """The image is indexed: layers, files and waste figures can be shown."""

    index: ImageIndex
    figures: ImageFigures


@dataclass
class ReportReady(Message):
    """The findings are in, with the lookups the panes need."""

    report: Report
    figures: ImageFigures
    by_path: dict[str, list[Finding]]
    by_layer: dict[int, list[Finding]]


@dataclass
class TreeReady(Message):
    """A view of the files, filtered and flattened, for the request ``serial`` answers."""

    serial: int
    query: TreeQuery
    view: TreeView
    selection: Selection | None
    rows: list[Row]
