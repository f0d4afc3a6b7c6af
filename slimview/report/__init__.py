"""Stage 5 (plain output): an :class:`~slimview.findings.Analysis` rendered as text, JSON,
Markdown or SARIF; a :class:`~slimview.compare.Comparison` as text, Markdown or JSON
(``diff.py``, ``diffjson.py``); the CI gate's result as a pull-request comment, JUnit XML,
GitLab Code Quality or JSON (``ci.py``). Rendering only: ``slimview.session`` runs the
pipeline and ``slimview.compare`` compares."""

from __future__ import annotations

import shutil


def text_width() -> int:
    """The width text reports are rendered at: the terminal's, at most 160 (120 off a terminal)."""
    return min(shutil.get_terminal_size((120, 24)).columns, 160)
