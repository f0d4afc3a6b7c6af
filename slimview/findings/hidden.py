"""Wasted deletions and overwrites: bytes one layer stored that a later one hid.

A layer is immutable: ``rm`` in a later RUN only hides files, the image still ships them.
Findings are grouped by the instruction that stored the bytes and the one that hid them,
because the fix joins exactly those two steps. Three causes get their own finding, since
their fixes differ:

- deleted or overwritten with new content: clean up in the step that created the files;
- stored again with the same content only to change owner or mode (``RUN chown -R``
  after a COPY; the content hashes match, the owner or mode differ): set them where the
  files are written (``COPY --chown/--chmod``), and the second copy is never stored;
- stored again with the same content and attributes: drop or merge the step that does it;
- package files rewritten by an upgrade on top of a stale base: update the base.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from slimview.findings.caches import classify
from slimview.findings.details import HiddenDetails, HiddenReason, LabelBytes, MetadataChange, UpgradedPackage
from slimview.findings.model import Finding, FindingKind, FindingPath, sort_largest_first
from slimview.findings.view import ImageView
from slimview.index.model import Hidden
from slimview.packages.model import PackageDatabase
from slimview.packages.paths import APK_WORLD, APT_EXTENDED_STATES, DATABASE_TREES

HIDDEN_MIN_BYTES = 100_000
# Files every package install or user creation rewrites: hiding their old copy is the
# price of adding packages in a later layer, not a mistake to fix.
BOOKKEEPING = (
    *DATABASE_TREES, APT_EXTENDED_STATES, APK_WORLD, "var/cache/debconf/", "var/cache/ldconfig/",
    "var/log/", "var/lib/dnf/",
    "var/cache/man/", "etc/ld.so.cache", "etc/passwd", "etc/group", "etc/shadow", "etc/gshadow",
    "etc/subuid", "etc/subgid", "usr/share/info/dir",
)


# What changed between two copies of one file: ((uid, gid, mode) before, the same after).
_Attributes = tuple[int, int, int]
_Change = tuple[_Attributes, _Attributes]


@dataclass
class _Group:
    deleted: list[Hidden] = field(default_factory=list)
    overwritten: list[Hidden] = field(default_factory=list)  # replaced by different content
    restored: list[Hidden] = field(default_factory=list)  # the same content and attributes stored again
    rechowned: list[Hidden] = field(default_factory=list)  # the same content stored again with another owner or mode
    changes: dict[_Change, list[Hidden]] = field(default_factory=lambda: defaultdict(list))
    upgraded: list[Hidden] = field(default_factory=list)  # package files the package manager rewrote

    @property
    def changed(self) -> list[Hidden]:
        return self.deleted + self.overwritten


def _restore_kind(view: ImageView, h: Hidden, entries: dict[int, dict[str, int]]) -> tuple[str, _Change | None]:
    """How the overwriting entry relates to the one it hides: "metadata" (same bytes, other
    owner or mode, with the attributes before and after), "identical" (same bytes and
    attributes) or "" (new content). ``entries``: per layer, the entry of each overwritten path."""
    lower, upper = view.layers[h.stored_in].files, view.layers[h.hidden_by].files
    i, j = entries[h.stored_in].get(h.path), entries[h.hidden_by].get(h.path)
    if i is None or j is None or upper.types[j] != lower.types[i] or upper.sizes[j] != lower.sizes[i]:
        return "", None
    if lower.hashes[16 * i:16 * i + 16] != upper.hashes[16 * j:16 * j + 16]:
        return "", None
    before = (lower.uids[i], lower.gids[i], lower.modes[i] & 0o7777)
    after = (upper.uids[j], upper.gids[j], upper.modes[j] & 0o7777)
    return ("identical", None) if before == after else ("metadata", (before, after))


def _groups(view: ImageView, db: PackageDatabase | None) -> dict[tuple[int, int], _Group]:
    groups: dict[tuple[int, int], _Group] = defaultdict(_Group)
    owner = db.owner if db is not None else {}
    hidden = [h for h in view.index.hidden if not h.path.startswith(BOOKKEEPING)]
    overwritten: dict[int, set[str]] = defaultdict(set)
    for h in hidden:
        if h.how != "deleted":
            overwritten[h.stored_in].add(h.path)
            overwritten[h.hidden_by].add(h.path)
    entries = {n: view.layers[n].find_many(paths) for n, paths in overwritten.items()}
    for h in hidden:
        group = groups[(h.stored_in, h.hidden_by)]
        if h.how == "deleted":
            group.deleted.append(h)
            continue
        kind, change = _restore_kind(view, h, entries)
        if change is not None:  # a chown or chmod, also of a package's files
            group.rechowned.append(h)
            group.changes[change].append(h)
        elif h.stored_in != h.hidden_by and view.content_path(h.path) in owner:
            group.upgraded.append(h)
        elif kind:
            group.restored.append(h)
        else:
            group.overwritten.append(h)
    return groups


def _paths(hidden: list[Hidden]) -> list[FindingPath]:
    paths = [FindingPath(h.path, h.size, h.stored_in) for h in hidden]
    sort_largest_first(paths)
    return paths


def _contents(hidden: list[Hidden]) -> list[LabelBytes]:
    """What the hidden bytes are, by cache kind where one applies."""
    by_label: dict[str, int] = defaultdict(int)
    for h in hidden:
        got = classify(h.path)
        by_label[got[0].label if got else "other files"] += h.size
    return [LabelBytes(k, v) for k, v in sorted(by_label.items(), key=lambda kv: (-kv[1], kv[0]))]


def _details(
    view: ImageView, stored: int, hider: int, reason: HiddenReason, hidden: list[Hidden],
    packages: list[UpgradedPackage] | None = None, metadata: list[MetadataChange] | None = None,
) -> HiddenDetails:
    deleted = sum(h.size for h in hidden if h.how == "deleted")
    return HiddenDetails(
        stored, hider, view.layers[hider].instruction, reason, deleted, sum(h.size for h in hidden) - deleted,
        _contents(hidden), packages or [], metadata or [],
    )


def _changed_finding(view: ImageView, stored: int, hider: int, group: _Group) -> Finding:
    hidden = group.changed
    total = sum(h.size for h in hidden)
    deleted = sum(h.size for h in group.deleted)
    overwritten = total - deleted
    verb = "deleted" if not overwritten else ("overwrote" if not deleted else "deleted or overwrote")
    contents = _contents(hidden)
    main = contents[0].label if contents[0].label != "other files" and contents[0].bytes * 2 >= total else ""
    if stored == hider:
        title = f"{view.quoted(stored)} stored paths twice; the first copies are hidden"
    else:
        title = f"{view.quoted(stored)} stored files that {view.quoted(hider)} {verb}" + (f" ({main})" if main else "")
    rule = next((got[0] for got in map(classify, (h.path for h in hidden)) if got and got[0].label == main), None)
    hider_text = view.instruction(hider).text
    fix = (
        "Delete the files in the same step that creates them: a later layer can only hide bytes. Move the "
        f"cleanup of layer {hider}" + (f" (`{hider_text}`)" if hider_text else "") + f" into layer {stored}'s instruction"
        + (". Or keep them out of the image from the start: " + rule.fix[0].lower() + rule.fix[1:] if rule else ".")
    )
    reason = HiddenReason.DELETED if not overwritten else (HiddenReason.OVERWRITTEN if not deleted else HiddenReason.DELETED_OR_OVERWRITTEN)
    return view.finding(
        kind=FindingKind.HIDDEN_BYTES,
        title=title,
        saved=total,
        layer_no=stored,
        paths=_paths(hidden),
        evidence=(
            f"{len(hidden)} file(s) stored by layer {stored} are not visible in the final image: layer {hider} "
            f"{verb} them ({deleted} bytes deleted, {overwritten} bytes overwritten). The image still ships them."
        ),
        fix=fix,
        details=_details(view, stored, hider, reason, hidden),
    )


def _owner(attributes: _Attributes) -> str:
    return f"{attributes[0]}:{attributes[1]}"


def _metadata_changes(group: _Group) -> list[MetadataChange]:
    changes = [
        MetadataChange(_owner(before), _owner(after), f"{before[2]:04o}", f"{after[2]:04o}", len(hidden), sum(h.size for h in hidden))
        for (before, after), hidden in group.changes.items()
    ]
    return sorted(changes, key=lambda c: (-c.bytes, c.owner_after, c.mode_after))


def _copy_flags(change: MetadataChange) -> str:
    """The COPY flags that write the files as the later layer left them."""
    flags = []
    if change.owner_after != change.owner_before:
        flags.append(f"--chown={change.owner_after}")
    if change.mode_after != change.mode_before:
        flags.append(f"--chmod={change.mode_after.lstrip('0') or '0'}")
    return " ".join(flags)


def _rechowned_finding(view: ImageView, stored: int, hider: int, group: _Group) -> Finding:
    hidden = group.rechowned
    total = sum(h.size for h in hidden)
    changes = _metadata_changes(group)
    flags = _copy_flags(changes[0])
    writer = view.instruction(stored)
    if writer.keyword in ("COPY", "ADD"):
        fix = (
            f"Set owner and mode when the files are copied: `{writer.keyword} {flags} …` in layer {stored}'s instruction "
            f"({view.quoted(stored)}), and drop the chown/chmod of layer {hider}; both copies ship today."
        )
    else:
        fix = (
            f"Set owner and mode in the step that writes the files: run the chown/chmod ({flags.replace('--', '')}) in "
            f"layer {stored}'s RUN, or `COPY {flags} …` when they come from the context, instead of a separate step."
        )
    what = ", ".join(
        f"{c.files} file(s) {c.owner_before} → {c.owner_after}" + (f", mode {c.mode_before} → {c.mode_after}" if c.mode_before != c.mode_after else "")
        if c.owner_before != c.owner_after else f"{c.files} file(s) mode {c.mode_before} → {c.mode_after}"
        for c in changes[:4]
    )
    return view.finding(
        kind=FindingKind.HIDDEN_BYTES,
        title=f"{view.quoted(hider)} stored {len(hidden)} file(s) from layer {stored} again only to change owner or mode",
        saved=total,
        layer_no=hider,
        paths=_paths(hidden),
        evidence=(
            f"Layer {hider} re-stores {len(hidden)} file(s) with exactly the content layer {stored} already stored "
            f"(same content hash), changing only their attributes ({what}); a layer records a whole file when only "
            "its metadata changes, so both copies ship."
        ),
        fix=fix,
        details=_details(view, stored, hider, HiddenReason.METADATA_ONLY, hidden, metadata=changes),
    )


def _restored_finding(view: ImageView, stored: int, hider: int, group: _Group) -> Finding:
    hidden = group.restored
    total = sum(h.size for h in hidden)
    return view.finding(
        kind=FindingKind.HIDDEN_BYTES,
        title=f"{view.quoted(hider)} stored {len(hidden)} file(s) from layer {stored} again with unchanged content",
        saved=total,
        layer_no=hider,
        paths=_paths(hidden),
        evidence=(
            f"Layer {hider} re-stores {len(hidden)} file(s) with exactly the content, owner and mode layer {stored} "
            "already stored; both copies ship."
        ),
        fix=(
            "Do not write the same files again in a later step (it stores a second copy); drop the step or "
            "merge it into the one that created them."
        ),
        details=_details(view, stored, hider, HiddenReason.SAME_CONTENT, hidden),
    )


def _upgraded_finding(view: ImageView, db: PackageDatabase, stored: int, hider: int, group: _Group) -> Finding:
    hidden = group.upgraded
    total = sum(h.size for h in hidden)
    by_package: dict[str, int] = defaultdict(int)
    for h in hidden:
        by_package[db.owner[view.content_path(h.path)]] += h.size
    packages = [
        UpgradedPackage(name, n, db.version_at(name, stored), db.version_at(name, hider))
        for name, n in sorted(by_package.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    names = ", ".join(p.name for p in packages[:5]) + (" …" if len(packages) > 5 else "")
    return view.finding(
        kind=FindingKind.HIDDEN_BYTES,
        title=f"{view.quoted(hider)} rewrote files of packages from layer {stored}: {names}",
        saved=total,
        layer_no=hider,
        paths=_paths(hidden),
        evidence=(
            f"The package manager in layer {hider} replaced {len(hidden)} file(s) of {len(packages)} package(s) that "
            f"layer {stored} had installed (upgrades pulled in by the install); the old copies still ship."
        ),
        fix=(
            "Start from an up-to-date base image (rebuild or re-pull it) so these packages are stored once, at "
            "their current version; avoid `apt-get upgrade`/`apk upgrade` in a later layer."
        ),
        details=_details(view, stored, hider, HiddenReason.PACKAGE_UPGRADE, hidden, packages),
    )


def detect(view: ImageView, db: PackageDatabase | None) -> list[Finding]:
    findings = []
    for (stored, hider), group in sorted(_groups(view, db).items()):
        if sum(h.size for h in group.changed) >= HIDDEN_MIN_BYTES:
            findings.append(_changed_finding(view, stored, hider, group))
        if sum(h.size for h in group.rechowned) >= HIDDEN_MIN_BYTES:
            findings.append(_rechowned_finding(view, stored, hider, group))
        if sum(h.size for h in group.restored) >= HIDDEN_MIN_BYTES:
            findings.append(_restored_finding(view, stored, hider, group))
        if db is not None and sum(h.size for h in group.upgraded) >= HIDDEN_MIN_BYTES:
            findings.append(_upgraded_finding(view, db, stored, hider, group))
    return findings
