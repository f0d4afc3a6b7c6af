"""Align the layers of two images: shared layers (the same diff_id) first, then, between
them, layers made by the same instruction; whatever is left was removed or added.

Instructions are compared as people read them (``short_instruction``), with the content
hashes the classic builder writes for a COPY's sources (``COPY file:3f1c… in /app``) left
out, since those change whenever the copied files do. Two steps of the same kind whose
text is mostly the same (``apt-get install -y gcc`` and ``apt-get install -y gcc make``)
are matched too.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from difflib import SequenceMatcher

from slimview.compare.model import LayerPair, LayerStatus
from slimview.compare.summary import LayerSummary
from slimview.dockerfile.history import short_instruction

SIMILAR = 0.6  # difflib's ratio from which two different instructions of one kind are matched
_HASHED_SOURCE = re.compile(r"\b(?:file|dir|multi):[0-9a-f]{8,}")


def comparable(created_by: str) -> str:
    """A history line as two builds of one Dockerfile write it alike."""
    return _HASHED_SOURCE.sub("<source>", short_instruction(created_by))


def _pair(status: LayerStatus, before: Sequence[LayerSummary], after: Sequence[LayerSummary]) -> LayerPair:
    return LayerPair(
        status,
        range(before[0].index, before[-1].index + 1) if before else range(0),
        range(after[0].index, after[-1].index + 1) if after else range(0),
        before[0].instruction if len(before) == 1 else "",
        after[0].instruction if len(after) == 1 else "",
        sum(layer.size for layer in before),
        sum(layer.size for layer in after),
    )


def _matched(a: LayerSummary, b: LayerSummary) -> LayerPair:
    return _pair(LayerStatus.SHARED if a.diff_id == b.diff_id else LayerStatus.CHANGED, [a], [b])


def _similar(a: LayerSummary, b: LayerSummary) -> bool:
    ta, tb = comparable(a.instruction), comparable(b.instruction)
    return ta.split(" ", 1)[0] == tb.split(" ", 1)[0] and SequenceMatcher(None, ta, tb, autojunk=False).ratio() >= SIMILAR


def _by_instruction(before: Sequence[LayerSummary], after: Sequence[LayerSummary]) -> list[LayerPair]:
    """Align a stretch of layers that share no diff_id, by their instructions."""
    out: list[LayerPair] = []
    matcher = SequenceMatcher(None, [comparable(x.instruction) for x in before], [comparable(x.instruction) for x in after], autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            out += [_matched(a, b) for a, b in zip(before[i1:i2], after[j1:j2])]
            continue
        i, j = i1, j1
        while i < i2 or j < j2:
            if i < i2 and j < j2 and _similar(before[i], after[j]):
                out.append(_matched(before[i], after[j]))
                i, j = i + 1, j + 1
            elif i < i2:
                out.append(_pair(LayerStatus.REMOVED, [before[i]], []))
                i += 1
            else:
                out.append(_pair(LayerStatus.ADDED, [], [after[j]]))
                j += 1
    return out


def align(before: Sequence[LayerSummary], after: Sequence[LayerSummary]) -> list[LayerPair]:
    """The alignment, bottom layers first; each run of shared layers is one pair."""
    out: list[LayerPair] = []
    matcher = SequenceMatcher(None, [x.diff_id for x in before], [x.diff_id for x in after], autojunk=False)
    i = j = 0
    for block in matcher.get_matching_blocks():
        out += _by_instruction(before[i : block.a], after[j : block.b])
        if block.size:
            out.append(_pair(LayerStatus.SHARED, before[block.a : block.a + block.size], after[block.b : block.b + block.size]))
        i, j = block.a + block.size, block.b + block.size
    return out
