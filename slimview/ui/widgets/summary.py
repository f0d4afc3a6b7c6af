"""The image summary line: size, dive-compatible efficiency, hidden and avoidable bytes."""

from __future__ import annotations

from dataclasses import dataclass, replace

from rich.text import Text
from textual.widgets import Static

from slimview.display import human_bytes, percent, plural
from slimview.findings import Analysis
from slimview.index.model import ImageIndex
from slimview.index.partial import PartialIndex

WIDE = 200  # the width assumed before the bar has been laid out


@dataclass(frozen=True)
class ImageFigures:
    """The numbers the summary shows, worked out once (off the UI thread: on a big image the
    totals walk hundreds of thousands of paths)."""

    name: str
    size: int
    layers: int
    entries: int
    efficiency: float  # dive's score, 0..1
    hidden: int
    avoidable: int | None = None  # known once the findings are in

    @classmethod
    def of(cls, index: ImageIndex) -> ImageFigures:
        return cls(index.source.name, index.size, len(index.layers), index.entry_count, index.dive.score, index.hidden_bytes)

    def with_analysis(self, analysis: Analysis) -> ImageFigures:
        return replace(self, avoidable=analysis.avoidable_bytes)


def summary_text(figures: ImageFigures, width: int = WIDE) -> Text:
    """One line when it fits in ``width``, else the figures on a second line."""
    one_line = _summary(figures, wide=True)
    return one_line if one_line.cell_len <= width else _summary(figures, wide=False)


def _summary(f: ImageFigures, wide: bool) -> Text:
    parts: list[str | tuple[str, str]] = [
        (f.name, "bold"),
        f"  {human_bytes(f.size)} in {plural(f.layers, 'layer')}, {plural(f.entries, 'entry', 'entries')}",
        "  " if wide else "\n",
        "efficiency ",
        (f"{f.efficiency * 100:.1f} %", "bold"),
        "  hidden ",
        (human_bytes(f.hidden), "bold"),
        f" ({percent(f.hidden, f.size)})",
        "  avoidable ",
    ]
    if f.avoidable is None:
        parts.append(("…", "dim"))
    else:
        parts.extend([(human_bytes(f.avoidable), "bold"), f" ({percent(f.avoidable, f.size)})"])
    return Text.assemble(*parts)


class SummaryBar(Static):
    """One or two lines at the top: what the image is and how much of it is waste."""

    def __init__(self, *, id: str | None = None):
        super().__init__(id=id)
        self.figures: ImageFigures | None = None

    def starting(self, reference: str) -> None:
        self.update(Text.assemble(("slimview", "bold"), f"  opening {reference}"))

    def reading(self, partial: PartialIndex) -> None:
        """The image is described; its layers are being read."""
        described = partial.described
        known = described.known_bytes
        size = f"{human_bytes(known)} in " if known else ""
        self.update(Text.assemble(
            (described.image.name, "bold"),
            f"  {size}{plural(len(partial.layers), 'layer')}  ",
            (f"reading layers: {len(partial.read)} of {len(partial.layers)}…", "dim"),
        ))

    def show(self, figures: ImageFigures) -> None:
        self.figures = figures
        self.update(summary_text(figures, self.content_size.width or WIDE))

    def on_resize(self) -> None:
        if self.figures is not None:
            self.update(summary_text(self.figures, self.content_size.width))
