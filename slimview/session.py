"""One way through the pipeline: open → index → findings → rewrite, with progress.

The command line, the explorer and ``slimview verify`` call these; none of them wires
the stages itself. Each step takes what the step before returned, so a caller that shows
progress (the explorer) can present the index before the findings are ready.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from slimview import extract
from slimview.compare import BaseSummary, Comparison, ImageSummary, compare, summarize
from slimview.compare.summary import is_saved_summary, read_summary
from slimview.findings import Analysis, analyze
from slimview.index import IndexOptions, build_index, gc_paused
from slimview.index.content import Reopen
from slimview.index.events import NO_EVENTS, IndexEvents
from slimview.index.model import ImageIndex
from slimview.packages.database import read_database
from slimview.rewrite import DOCKERFILE_NAME, DOCKERIGNORE_NAME, rewrite_image
from slimview.rewrite.base import BaseImage, engine_images, find_base
from slimview.rewrite.model import Rewrite
from slimview.rewrite.reconstruct import reconstruct_dockerfile
from slimview.source import open_image
from slimview.source.model import LayerSink, Progress, no_progress


def open_index(
    reference: str, options: IndexOptions | None = None, progress: Progress = no_progress, events: IndexEvents = NO_EVENTS
) -> ImageIndex:
    """Stages 1 and 2: open the image ``reference`` names and index every layer; ``events``
    hears of the image's layers before they are read, and of each layer once it is."""
    return build_index(reference, options, progress, events)


def analyse(index: ImageIndex) -> Analysis:
    """Stage 3: the findings about an indexed image."""
    with gc_paused():
        db = read_database(index)
        return Analysis(index, analyze(index, db), db)


def load(reference: str, options: IndexOptions | None = None, progress: Progress = no_progress) -> Analysis:
    """Stages 1 to 3 for ``reference``."""
    return analyse(open_index(reference, options, progress))


@dataclass
class Rewritten:
    """A rewrite and the base image the original was found to be built on."""

    base: BaseImage
    rewrite: Rewrite


def rewrite(
    analysis: Analysis,
    *,
    dockerfile: str | None = None,
    context: str | None = None,
    base: str | None = None,
    names: tuple[str, str] = (DOCKERFILE_NAME, DOCKERIGNORE_NAME),
    deep: bool = False,
) -> Rewritten:
    """Stage 4: the rewrite of the analysed image; the local engine, when one answers,
    identifies its base (and gives the runtime base's size for the estimate). Raises
    NoRewrite when the rewrite would not build or would change what the image runs."""
    source = analysis.index.source
    images = engine_images(source)
    base_image = find_base(source, images)
    rewritten = rewrite_image(
        analysis.index, base_image, analysis.findings, dockerfile=dockerfile, context=context, base=base,
        local_images=images or (), names=names, packages=analysis.packages, deep=deep,
    )
    return Rewritten(base_image, rewritten)


def reconstruct(index: ImageIndex) -> str:
    """The Dockerfile the image's history records, from its base image on."""
    return reconstruct_dockerfile(index.source, base(index))


def base(index: ImageIndex) -> BaseImage:
    """The image ``index`` was built FROM, as far as the local engine, history or labels tell."""
    source = index.source
    return find_base(source, engine_images(source))


def summary(analysis: Analysis) -> ImageSummary:
    """What a comparison needs of an analysed image."""
    found = base(analysis.index)
    return summarize(analysis, BaseSummary(found.name, found.layers))


def load_summary(reference: str, options: IndexOptions | None = None, progress: Progress = no_progress) -> ImageSummary:
    """The summary of the image ``reference`` names, or the one saved in a JSON file
    (``slimview ci --json``) when ``reference`` ends in ``.json``."""
    if is_saved_summary(reference):
        return read_summary(reference)
    return summary(load(reference, options, progress))


def compare_images(before: str, after: str, options: IndexOptions | None = None, progress: Progress = no_progress) -> Comparison:
    """How the image (or saved summary) ``after`` differs from ``before``."""
    return compare(load_summary(before, options, progress), load_summary(after, options, progress))



def extract_file(
    index: ImageIndex,
    path: str,
    dest: str,
    options: IndexOptions | None = None,
    *,
    layer: int | None = None,
    force: bool = False,
    include_secrets: bool = False,
    progress: Progress = no_progress,
) -> extract.Extracted:
    """Write one file of the image into the directory ``dest`` (see slimview/extract.py);
    a layer the source streamed is read from the source again."""
    return extract.extract_file(
        index, path, dest, layer=layer, force=force, include_secrets=include_secrets, reopen=_reopen(index, options, progress)
    )


def extract_layer(
    index: ImageIndex,
    layer_no: int,
    dest: str,
    options: IndexOptions | None = None,
    *,
    force: bool = False,
    include_secrets: bool = False,
    progress: Progress = no_progress,
) -> extract.Extracted:
    """Write one layer of the image into the directory ``dest`` as a tar."""
    return extract.extract_layer(
        index, layer_no, dest, force=force, include_secrets=include_secrets, reopen=_reopen(index, options, progress)
    )


def _reopen(index: ImageIndex, options: IndexOptions | None, progress: Progress) -> Reopen:
    """Opens ``index``'s image again from its source, streaming only the layers asked for."""
    options = options or IndexOptions()

    def reopen(sink: LayerSink, skip: Callable[[str], bool]) -> object:
        return open_image(
            index.source.reference, sink=sink, tag=options.tag, platform=options.platform, progress=progress,
            layer_cached=skip, insecure=options.insecure, foreign_layers=options.foreign_layers,
        )

    return reopen
