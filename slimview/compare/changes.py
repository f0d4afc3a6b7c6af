"""What changed between two image summaries: file bodies, directories, packages, findings
and the base image.

Files are compared by path: a visible body against the other image's visible body, and the
bytes hidden under a path (stored, then deleted or overwritten) against the other image's
hidden bytes there. Every stored byte is in exactly one of the two, so the changes add up
to the change in image size exactly.

A directory's change is the sum of the changes below it. Listing every directory would
repeat each change at every level (``usr``, ``usr/lib``, ``usr/lib/gcc``…), so only the
directories where a change concentrates are kept: those no single subdirectory accounts
for nearly all of (``CONCENTRATED``), and whose change is not mostly (``EXPLAINED``) the
change of deeper directories already kept. (A directory that is mostly one file is kept:
it says where the file is, and the file is listed too.)
"""

from __future__ import annotations

from collections import defaultdict

from slimview.compare.model import BaseDelta, BaseStatus, FindingChange, FindingDelta, PackageChange, PackageDelta, PathChange, PathDelta
from slimview.compare.summary import FindingSummary, ImageSummary
from slimview.packages.versions import version_order

CONCENTRATED = 0.9  # a child with this share of its directory's change stands for it
EXPLAINED = 0.5  # share of a directory's change that kept subdirectories may explain


def _change(before: int, after: int) -> PathChange:
    return PathChange.GROWN if after > before else PathChange.SHRUNK if after < before else PathChange.CHANGED


def file_changes(before: ImageSummary, after: ImageSummary) -> list[PathDelta]:
    """Every file body that differs, visible or hidden, largest change first."""
    out: list[PathDelta] = []
    for path, b in after.files.items():
        a = before.files.get(path)
        if a is None:
            out.append(PathDelta(path, PathChange.ADDED, 0, b.size, None, b.layer))
        elif a.size != b.size or a.digest != b.digest:
            out.append(PathDelta(path, _change(a.size, b.size), a.size, b.size, a.layer, b.layer))
    out += [PathDelta(path, PathChange.REMOVED, a.size, 0, a.layer, None) for path, a in before.files.items() if path not in after.files]
    for path, hb in after.hidden.items():
        ha = before.hidden.get(path)
        if ha is None:
            out.append(PathDelta(path, PathChange.ADDED, 0, hb.size, None, hb.stored_in, hidden=True))
        elif ha.size != hb.size:
            out.append(PathDelta(path, _change(ha.size, hb.size), ha.size, hb.size, ha.stored_in, hb.stored_in, hidden=True))
    out += [
        PathDelta(path, PathChange.REMOVED, ha.size, 0, ha.stored_in, None, hidden=True)
        for path, ha in before.hidden.items() if path not in after.hidden
    ]
    out.sort(key=lambda d: (-abs(d.delta), d.path, d.hidden))
    return out


def _parents(path: str) -> list[str]:
    out = []
    while "/" in path:
        path = path.rpartition("/")[0]
        out.append(path)
    return out


def _directories(summary: ImageSummary) -> set[str]:
    out: set[str] = set()
    for path in summary.files:
        for parent in _parents(path):
            if parent in out:
                break
            out.add(parent)
    return out


def directory_changes(before: ImageSummary, after: ImageSummary, files: list[PathDelta]) -> list[PathDelta]:
    """The directories where the change concentrates (see the module's docstring), largest first."""
    delta: dict[str, int] = defaultdict(int)
    largest_child: dict[str, int] = defaultdict(int)  # the largest same-direction change of one subdirectory
    for f in files:
        for parent in _parents(f.path):
            delta[parent] += f.delta
    for path, d in delta.items():
        parent = path.rpartition("/")[0]
        if "/" in path and d * delta[parent] > 0:  # every parent of a changed path is in delta
            largest_child[parent] = max(largest_child[parent], abs(d))

    candidates = [p for p, d in delta.items() if d and largest_child[p] < CONCENTRATED * abs(d)]
    candidates.sort(key=lambda p: -p.count("/"))
    explained: dict[str, int] = defaultdict(int)
    kept: list[str] = []
    for path in candidates:
        d = delta[path]
        if explained[path] * d >= EXPLAINED * d * d:  # kept subdirectories explain most of it, in its direction
            continue
        kept.append(path)
        for parent in _parents(path):
            explained[parent] += d - explained[path]

    in_before, in_after = _directories(before), _directories(after)
    stored_before = _stored_below(before, kept)
    layers: dict[str, dict[int, int]] = {p: defaultdict(int) for p in kept}
    for f in files:
        layer = f.after_layer if f.delta > 0 else f.before_layer
        if layer is None:
            continue
        for parent in _parents(f.path):
            if parent in layers and f.delta * delta[parent] > 0:
                layers[parent][layer] += abs(f.delta)
    out = []
    for path in kept:
        d = delta[path]
        main = max(layers[path].items(), key=lambda kv: (kv[1], -kv[0]))[0] if layers[path] else None
        if path not in in_before:
            change = PathChange.ADDED
        elif path not in in_after:
            change = PathChange.REMOVED
        else:
            change = _change(0, d)
        before_bytes = stored_before[path]
        out.append(PathDelta(path, change, before_bytes, before_bytes + d,
                             main if d < 0 else None, main if d > 0 else None))
    out.sort(key=lambda x: (-abs(x.delta), x.path))
    return out


def _stored_below(summary: ImageSummary, directories: list[str]) -> dict[str, int]:
    """Bytes stored below each of ``directories``, visible or hidden."""
    out = dict.fromkeys(directories, 0)
    for path, size in [*((p, f.size) for p, f in summary.files.items()), *((p, h.size) for p, h in summary.hidden.items())]:
        for parent in _parents(path):
            if parent in out:
                out[parent] += size
    return out


def _version_change(manager: str, before: str, after: str) -> PackageChange:
    order = version_order(manager, before, after)
    if not order:  # unknown, or versions written differently that compare equal
        return PackageChange.CHANGED
    return PackageChange.UPGRADED if order > 0 else PackageChange.DOWNGRADED


def package_changes(before: ImageSummary, after: ImageSummary) -> list[PackageDelta]:
    """Packages added, removed, or at another version or size, largest change first. The
    two images must use the same package manager for versions to be compared."""
    out: list[PackageDelta] = []
    same_manager = before.package_manager == after.package_manager
    for name, b in after.packages.items():
        a = before.packages.get(name)
        if a is None:
            out.append(PackageDelta(name, PackageChange.ADDED, "", b.version, 0, b.bytes, None, b.layer))
        elif a.version != b.version:
            change = _version_change(after.package_manager, a.version, b.version) if same_manager else PackageChange.CHANGED
            out.append(PackageDelta(name, change, a.version, b.version, a.bytes, b.bytes, a.layer, b.layer))
        elif a.bytes != b.bytes:
            out.append(PackageDelta(name, PackageChange.RESIZED, a.version, b.version, a.bytes, b.bytes, a.layer, b.layer))
    out += [
        PackageDelta(name, PackageChange.REMOVED, a.version, "", a.bytes, 0, a.layer, None)
        for name, a in before.packages.items() if name not in after.packages
    ]
    out.sort(key=lambda p: (-abs(p.delta), p.name))
    return out


def _grouped(findings: list[FindingSummary]) -> dict[str, list[FindingSummary]]:
    out: dict[str, list[FindingSummary]] = defaultdict(list)
    for f in findings:
        out[f.key].append(f)
    return out


def finding_changes(before: ImageSummary, after: ImageSummary) -> list[FindingDelta]:
    """Findings new in the image after, resolved since the image before, or grown or shrunk."""
    a_groups, b_groups = _grouped(before.findings), _grouped(after.findings)
    out: list[FindingDelta] = []
    for key in [*b_groups, *(k for k in a_groups if k not in b_groups)]:
        a, b = a_groups.get(key, []), b_groups.get(key, [])
        a_bytes, b_bytes = sum(f.bytes for f in a), sum(f.bytes for f in b)
        if a and b and a_bytes == b_bytes:
            continue
        change = (FindingChange.NEW if not a else FindingChange.RESOLVED if not b
                  else FindingChange.GROWN if b_bytes > a_bytes else FindingChange.SHRUNK)
        shown = max(b or a, key=lambda f: f.bytes)
        out.append(FindingDelta(key, shown.kind, change, shown.title, a_bytes, b_bytes, len(a), len(b), shown.layer, shown.instruction))
    out.sort(key=lambda f: (-abs(f.delta), f.change != FindingChange.NEW, f.key))
    return out


def base_change(before: ImageSummary, after: ImageSummary) -> BaseDelta:
    a, b = before.base, after.base
    if a.layers and b.layers:
        same = [x.diff_id for x in before.layers[: a.layers]] == [x.diff_id for x in after.layers[: b.layers]]
        status = BaseStatus.SAME if same else BaseStatus.CHANGED
    elif a.name and b.name:
        status = BaseStatus.SAME if a.name == b.name else BaseStatus.CHANGED
    else:
        status = BaseStatus.UNKNOWN
    return BaseDelta(status, a, b, before.base_bytes, after.base_bytes)
