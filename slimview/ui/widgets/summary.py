"""The image summary line: size, dive-compatible efficiency, hidden and avoidable bytes."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from slimview.index.model import ImageIndex
from slimview.report import Report
from slimview.report.format import human_bytes, percent


WIDE = 200  # the width assumed before the bar has been laid out


def summary_text(index: ImageIndex, report: Report | None, width: int = WIDE) -> Text:
    """One line when it fits in ``width``, else the figures on a second line."""
    one_line = _summary(index, report, wide=True)
    return one_line if one_line.cell_len <= width else _summary(index, report, wide=False)


def _summary(index: ImageIndex, report: Report | None, wide: bool) -> Text:
    size = index.size
    hidden = index.hidden_bytes
    avoidable = report.avoidable_bytes if report is not None else None
    parts = [
        (index.source.name, "bold"),
        f"  {human_bytes(size)} in {len(index.layers)} layers, {index.entry_count:,} entries",
        "  " if wide else "\n",
        "efficiency ",
        (f"{index.dive.score * 100:.1f} %", "bold"),
        "  hidden ",
        (human_bytes(hidden), "bold"),
        f" ({percent(hidden, size)})",
        "  avoidable ",
    ]
    if avoidable is None:
        parts.append(("…", "dim"))
    else:
        parts.extend([(human_bytes(avoidable), "bold"), f" ({percent(avoidable, size)})"])
    return Text.assemble(*parts)


class SummaryBar(Static):
    """One or two lines at the top: what the image is and how much of it is waste."""

    def starting(self, reference: str) -> None:
        self.update(Text.assemble(("slimview", "bold"), f"  opening {reference}"))

    def __init__(self, *, id: str | None = None):
        super().__init__(id=id)
        self.shown: tuple[ImageIndex, Report | None] | None = None

    def show(self, index: ImageIndex, report: Report | None) -> None:
        self.shown = (index, report)
        self.update(summary_text(index, report, self.content_size.width or WIDE))

    def on_resize(self) -> None:
        if self.shown is not None:
            self.update(summary_text(*self.shown, self.content_size.width))
