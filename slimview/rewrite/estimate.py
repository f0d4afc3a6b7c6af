"""Estimated size before and after the rewrite, part by part.

Before: what each of the original's layers stores, grouped by what made it. After: the
runtime base (the original's when the rewrite keeps it, else its size in the local engine;
a base the engine lacks is left out of the estimate, and the rewrite says so), the closure
of the runtime OS packages that base lacks, the virtualenv (the pip layers' files without
caches, and without what --deep trims), what a Node or Go builder hands the runtime (the
production node_modules, the build's output, the stripped program: the stack measures
them), the application files the rewrite copies, and the layers of the steps it keeps.
``slimview verify`` measures the real figures.
"""

from __future__ import annotations

from collections.abc import Sequence

from slimview.dockerfile import shell as cmd
from slimview.index.model import ImageIndex
from slimview.packages.classify import is_python_tooling
from slimview.packages.closure import closure_bytes
from slimview.packages.model import PackageDatabase
from slimview.rewrite.deep import REMOVED, DeepFacts
from slimview.rewrite.layers import added_bytes
from slimview.rewrite.model import SizeRow
from slimview.rewrite.target import RewriteSource
from slimview.rewrite.writer import Written

BASE, OS_PACKAGES, PYTHON_PACKAGES, NODE_PACKAGES, APP_FILES, BUILD_OUTPUT, OTHER = (
    "base image", "OS packages", "Python packages", "Node packages", "application files", "build output", "other steps"
)
CACHES = ("root/.cache/", "tmp/")


def _layer_kind(source: RewriteSource, n: int, stacked: dict[str, int] | None = None) -> str:
    """What made the layer of instruction ``n``; ``stacked``: the rows a Node or Go builder
    hands the runtime (their layers are counted there)."""
    ins = source.instructions[n]
    if ins.keyword == "RUN" and not ins.exec_form:
        kinds = {c.kind for c in cmd.analyse_run(ins.args)}
        if kinds & {cmd.APT_UPDATE, cmd.APT_INSTALL, cmd.APK_ADD}:
            return OS_PACKAGES
        if cmd.PIP_INSTALL in kinds:
            return PYTHON_PACKAGES
        if stacked and NODE_PACKAGES in stacked and cmd.NODE_INSTALL in kinds:
            return NODE_PACKAGES
        if stacked and BUILD_OUTPUT in stacked and kinds & {cmd.NODE_SCRIPT, cmd.GO_BUILD, cmd.GO_TOOL}:
            return BUILD_OUTPUT
    if ins.keyword in ("COPY", "ADD") and "--from=" not in ins.args:
        return APP_FILES
    return OTHER


def pip_layers(history: RewriteSource) -> list[int]:
    """The layers the image's pip steps made."""
    return [
        ins.layer for n, ins in enumerate(history.instructions)
        if ins.layer is not None and ins.layer >= history.base_layers and _layer_kind(history, n) == PYTHON_PACKAGES
    ]


def estimate(
    index: ImageIndex,
    history: RewriteSource,
    rewritten: RewriteSource,
    written: Written,
    runtime_base_size: int | None,
    db: PackageDatabase | None,
    *,
    same_base: bool = False,
    runtime_base: str = "",
    trims: DeepFacts | None = None,
) -> tuple[list[SizeRow], list[str]]:
    """Rows (before, after) and notes on what was assumed. ``history`` is the image's
    reconstruction (it says which layer each step made); ``rewritten`` what was rewritten;
    ``db`` the image's package database (the installed sizes of the runtime packages);
    ``same_base``: the runtime base is the original's; ``runtime_base_size``: its size in
    the local engine, if there; ``trims``: what --deep removes from the virtualenv."""
    notes: list[str] = []
    layers = index.layers
    source = history
    base_layers = history.base_layers
    before = {BASE: sum(layer.stats.size for layer in layers[:base_layers])}
    after: dict[str, int | None] = {BASE: before[BASE] if same_base else runtime_base_size}
    if after[BASE] is None:
        notes.append(f"the runtime base {runtime_base} is not in the local engine: the estimate leaves its size out")
    kinds: dict[int, str] = {}
    for n, ins in enumerate(source.instructions):
        if ins.layer is not None and ins.layer >= base_layers:
            kinds[ins.layer] = _layer_kind(source, n, written.estimated)
    for layer in layers[base_layers:]:
        kind = kinds.get(layer.index, OTHER)
        before[kind] = before.get(kind, 0) + layer.stats.size

    installed = db.packages if db is not None else {}
    already = set(db.listed_at(base_layers - 1)) if db is not None else set()
    already |= {name for name in installed if is_python_tooling(name) or name.startswith(("libpython3", "python3."))}
    after[OS_PACKAGES] = closure_bytes(written.runtime_packages, installed, already)
    if written.runtime_packages and not installed:
        notes.append("no package database in the image: the runtime OS packages are not counted")
    pip_made = [layer for layer, kind in kinds.items() if kind == PYTHON_PACKAGES]
    trimmed = sum(trims.of(rule) for rule in REMOVED) if trims is not None else 0
    after[PYTHON_PACKAGES] = sum(added_bytes(index, layer, CACHES) for layer in pip_made) - trimmed
    after.update(written.estimated)
    copy_layers = [layer for layer, kind in kinds.items() if kind == APP_FILES]
    copied = written.app_bytes or written.context_in_builder
    after[APP_FILES] = written.app_bytes if copied else sum(layers[n].stats.size for n in copy_layers)
    if rewritten is history:
        kept = {made for n in written.kept_runs if (made := history.instructions[n].layer) is not None}
        after[OTHER] = sum(layers[n].stats.size for n in kept if kinds.get(n) == OTHER)
    elif written.kept_runs:
        notes.append("RUN steps kept from the Dockerfile are not counted in the estimate")
    order: Sequence[str] = (BASE, OS_PACKAGES, PYTHON_PACKAGES, NODE_PACKAGES, APP_FILES, BUILD_OUTPUT, OTHER)
    rows = [SizeRow(label, before.get(label, 0), after.get(label, 0)) for label in order]
    return [r for r in rows if r.before or r.after != 0], notes
