"""Typed messages the app's workers post back to the UI thread."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from slimview.extract import Extracted
from slimview.findings import Analysis
from slimview.index.layer import LayerFiles
from slimview.index.model import ImageIndex
from slimview.index.tree import TreeView
from slimview.source.model import Described
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
class AnalysisReady(Message):
    """The findings are in."""

    analysis: Analysis
    figures: ImageFigures


@dataclass
class TreeReady(Message):
    """A view of the files, filtered and flattened, for the request ``serial`` answers."""

    serial: int
    query: TreeQuery
    view: TreeView
    selection: Selection | None
    rows: list[Row]


@dataclass
class ImageDescribed(Message):
    """The image's layers, history and config are known; its layers are not read yet."""

    described: Described


@dataclass
class LayerRead(Message):
    """One layer's files are read (how they change the layers below is not known yet)."""

    layer: int
    files: LayerFiles


@dataclass
class ExtractDone(Message):
    """A file or layer was written out of the image."""

    extracted: Extracted
