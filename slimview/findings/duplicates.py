"""Identical content at several paths of the final filesystem.

Two regular files with the same size and content hash (xxh3-128, from the index) hold the
same bytes; all copies but one could be links. Hard links already share their bytes and
are not regular-file entries, so they never count. Small files are left out: linking them
saves little and their duplicates (licence texts, empty __init__.py) are normal. Groups
whose every copy a distribution package installed are left out too: that is how the
distribution packs them, and the image's author cannot change it file by file.
"""

from __future__ import annotations

import posixpath
from collections import defaultdict

from slimview.findings.details import DuplicateDetails, DuplicateGroup, DuplicateGroupsDetails
from slimview.findings.model import Finding, FindingKind, FindingPath, Severity
from slimview.findings.view import ImageView
from slimview.packages.model import PackageDatabase

MIN_FILE_BYTES = 16_384
GROUP_MIN_SAVING = 1_000_000  # a group saving this much gets its own finding; the rest are summed up
SUMMARY_MIN_SAVING = 1_000_000

_FIX = (
    "Keep one copy: make the others hard links or symlinks in the step that writes them "
    "(e.g. `ln -f`, or `hardlink`/`rdfind -makehardlinks true` at the end of that RUN), or stop "
    "installing the same file twice."
)


def _groups(view: ImageView, owner: dict[str, str]) -> list[list[FindingPath]]:
    # (content hash, size) → (layer, entry) of each copy; most files have one copy, so the
    # FindingPaths are made only for groups.
    by_content: dict[tuple[bytes, int], list[tuple[int, int]]] = defaultdict(list)
    for layer in view.layers:
        files = layer.files
        sizes, hashes = files.sizes, bytes(files.hashes)
        for i in view.visible_files(layer.index):
            size = sizes[i]
            if size >= MIN_FILE_BYTES:
                by_content[(hashes[16 * i : 16 * i + 16], size)].append((layer.index, i))
    groups = []
    for (_hash, size), copies in by_content.items():
        if len(copies) > 1:
            group = [FindingPath(view.layers[n].files.paths[i], size, n) for n, i in copies]
            if not all(p.path in owner for p in group):
                group.sort(key=lambda p: (p.layer, p.path))
                groups.append(group)
    groups.sort(key=lambda g: (-(len(g) - 1) * g[0].size, g[0].path))
    return groups


def detect(view: ImageView, db: PackageDatabase | None) -> list[Finding]:
    findings = []
    rest: list[list[FindingPath]] = []
    for group in _groups(view, db.owner if db is not None else {}):
        saving = (len(group) - 1) * group[0].size
        if saving < GROUP_MIN_SAVING:
            rest.append(group)
            continue
        newest = max(p.layer for p in group)
        name = posixpath.basename(group[0].path)
        findings.append(
            view.finding(
                kind=FindingKind.DUPLICATES,
                title=f"{len(group)} identical copies of {name}",
                saved=saving,
                layer_no=newest,
                paths=group,
                evidence=(
                    f"{len(group)} regular files of {group[0].size} bytes each have the same content: "
                    + ", ".join("/" + p.path + f" (layer {p.layer})" for p in group[:5])
                    + (" …" if len(group) > 5 else "") + "."
                ),
                fix=_FIX,
                details=DuplicateDetails(len(group), group[0].size, group[0].path),
            )
        )
    saving = sum((len(g) - 1) * g[0].size for g in rest)
    if rest and saving >= SUMMARY_MIN_SAVING:
        paths = [p for g in rest for p in g]
        findings.append(
            Finding(
                kind=FindingKind.DUPLICATES,
                title=f"{len(rest)} more groups of identical files",
                severity=Severity.LOW,
                bytes=saving,
                layer=None,
                instruction="",
                paths=paths,
                evidence=f"{len(paths)} files in {len(rest)} groups of identical content, each group saving under "
                f"{GROUP_MIN_SAVING} bytes.",
                fix=_FIX,
                details=DuplicateGroupsDetails([DuplicateGroup(len(g), g[0].size, [p.path for p in g]) for g in rest]),
            )
        )
    return findings
