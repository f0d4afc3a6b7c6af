"""Apply layers in order, the way overlayfs and ``docker load`` do, and record every change.

Rules (OCI image spec, "Representing Changes"):
- ``dir/.wh.name`` deletes ``dir/name`` (and its whole subtree) from the layers below;
- ``dir/.wh..wh..opq`` hides every lower child of ``dir`` (the directory itself stays);
- whiteouts only ever apply to lower layers, never to entries of their own layer;
- a non-directory replacing a directory hides the directory's subtree; an entry below a
  lower non-directory replaces it with a directory;
- a re-emitted entry with the same type, content, mode and owner is *unchanged*.

Each stored regular file is visible in the final image or hidden exactly once, by the
layer that deleted or overwrote it, so hidden bytes = stored bytes − visible bytes. A file
body with hard links stays visible while any of its names does (``rm a`` keeps the bytes
that ``a``'s hard link ``b`` still names); it is hidden by the layer that removes the last.
"""

from __future__ import annotations

from slimview.display import quoted_path
from slimview.index.layer import LayerFiles
from slimview.index.model import Change, EntryRef, Hidden, HiddenFiles, LayerIndex, LayerStats, entry_ref, ref_layer, split_ref
from slimview.source.tarstream import EntryType

FILE = EntryType.FILE
HARDLINK = EntryType.HARDLINK
DIR = EntryType.DIR


class _Merger:
    def __init__(self, layers: list[LayerIndex]):
        self.layers = layers
        self.final: dict[str, EntryRef] = {}
        # Directory → the names ever linked below it, removed ones included: they are
        # dropped when the list is next read (see _live), a list per directory costing a
        # tenth of a set (60 MB on a million entries).
        self.children: dict[str, list[str]] = {}
        self.hidden = HiddenFiles()
        self.notes: list[str] = []
        self._links_to: dict[int, dict[str, list[int]]] = {}  # layer → target path → its hard links
        self._hidden_bodies: set[EntryRef] = set()  # file bodies already counted hidden

    # -- helpers -------------------------------------------------------------------------------
    def _files(self, ref: int) -> tuple[LayerFiles, int]:
        layer, i = split_ref(ref)
        return self.layers[layer].files, i

    def _hide(self, path: str, ref: int, by: int, how: str, stats: LayerStats) -> None:
        """``path`` (what ``ref`` names) leaves the view: hide its bytes unless another name keeps them."""
        files, i = self._files(ref)
        stored_in = ref_layer(ref)
        type_ = files.types[i]
        if type_ == FILE:
            size = files.sizes[i]
            if not size or files.links and self._linked(stored_in, path, skip=i):
                return
            body = i
        elif type_ == HARDLINK:
            # Removing a hard link hides its target's bytes if it was their last visible name.
            found = self.layers[stored_in].link_body(i)
            if found is None or files.types[found] != FILE or not files.sizes[found]:
                return
            body = found
            target = files.paths[body]
            if self.final.get(target) == entry_ref(stored_in, body) or self._linked(stored_in, target, skip=i):
                return
            size = files.sizes[body]
        else:
            return
        body_ref = entry_ref(stored_in, body)
        if body_ref in self._hidden_bodies:
            return  # a link made to a body after it was hidden (crafted tars) hides nothing more
        self._hidden_bodies.add(body_ref)
        self.hidden.append(Hidden(path, size, stored_in, by, how, body))
        self.layers[stored_in].stats.hidden_stored += size
        if how == "deleted":
            stats.bytes_deleted += size
        else:
            stats.bytes_overwritten += size

    def _linked(self, layer_no: int, target: str, skip: int) -> bool:
        """Is a hard link to ``target`` in layer ``layer_no`` (other than entry ``skip``) still visible?"""
        by_target = self._links_to.get(layer_no)
        if by_target is None:
            files = self.layers[layer_no].files
            by_target = {}
            for j, link in files.links.items():
                if files.types[j] == HARDLINK:
                    by_target.setdefault(link, []).append(j)
            self._links_to[layer_no] = by_target
        paths = self.layers[layer_no].files.paths
        return any(j != skip and self.final.get(paths[j]) == entry_ref(layer_no, j) for j in by_target.get(target, ()))

    def _remove(self, path: str, by: LayerIndex) -> None:
        """Remove ``path`` and everything below it from the merged view."""
        stack = [path]
        while stack:
            p = stack.pop()
            kids = self.children.pop(p, None)
            if kids:
                stack.extend(reversed(self._live(kids)))
            ref = self.final.pop(p, None)
            if ref is not None:
                self._hide(p, ref, by.index, "deleted", by.stats)
                by.deleted_paths.append(p, ref)
                by.stats.deleted += 1

    def _exists(self, path: str) -> bool:
        return path in self.final or path in self.children

    def _live(self, kids: list[str]) -> list[str]:
        """The names in a directory's list still in the view, each once, sorted: deletions
        (and hidden bytes) are listed the same way on every run."""
        return sorted({kid for kid in kids if self._exists(kid)})

    # -- one layer -----------------------------------------------------------------------------
    def apply(self, layer: LayerIndex) -> None:
        files = layer.files
        stats = layer.stats
        final = self.final
        children = self.children
        n = len(files)
        changes = bytearray(n)
        layer.changes = changes
        stats.entries = n

        # 1. Deletions act on the layers below only, so they go first.
        absent = 0
        for path in files.whiteouts:
            if self._exists(path):
                self._remove(path, layer)
            else:
                absent += 1
        for path in files.opaque_dirs:
            for child in self._live(children.get(path, [])):
                self._remove(child, layer)
        if absent:
            self.notes.append(f"layer {layer.index}: {absent} whiteout(s) name paths that no lower layer has")

        # 2. Entries, in tar order.
        types, sizes, modes, uids, gids, hashes, links = (
            files.types, files.sizes, files.modes, files.uids, files.gids, files.hashes, files.links,
        )
        me = layer.index
        checked_parent = None
        layer_size = 0
        for i in range(n):
            path = files.paths[i]
            parent = path.rpartition("/")[0]
            if parent != checked_parent:
                self._ensure_dirs(parent, layer)
                checked_parent = parent
            type_ = types[i]
            size = sizes[i]
            if type_ == FILE:
                layer_size += size
            prev = final.get(path)
            linked = prev is not None or path in children
            if prev is None:
                change = Change.ADDED
                stats.added += 1
                stats.bytes_added += size
            else:
                pfiles, j = self._files(prev)
                ptype = pfiles.types[j]
                same = (
                    ptype == type_
                    and pfiles.modes[j] == modes[i]
                    and pfiles.uids[j] == uids[i]
                    and pfiles.gids[j] == gids[i]
                    and (type_ == DIR or (pfiles.hashes[16 * j : 16 * j + 16] == hashes[16 * i : 16 * i + 16]
                                          and pfiles.links.get(j, "") == links.get(i, "")))
                )
                if same:
                    change = Change.UNCHANGED
                    stats.unchanged += 1
                    stats.bytes_unchanged += size
                else:
                    change = Change.MODIFIED
                    stats.modified += 1
                    stats.bytes_modified += size
                self._hide(path, prev, me, "overwritten", stats)
            if type_ != DIR and path in children:
                # A non-directory replaces a directory, whether an entry or only implied by
                # deeper paths: the directory's subtree goes with it.
                for child in self._live(children.pop(path)):
                    self._remove(child, layer)
            changes[i] = change
            final[path] = entry_ref(me, i)
            if not linked:
                kids = children.get(parent)
                if kids is None:
                    children[parent] = [path]
                else:
                    kids.append(path)
        stats.size = layer_size

    def _ensure_dirs(self, parent: str, layer: LayerIndex) -> None:
        """Every ancestor of a new entry must be a directory; lower non-directories give way."""
        # First the nearest ancestor that exists: a non-directory is removed (with the links
        # below it) before this entry's implied directories are linked, or they would be lost.
        p = parent
        while p:
            ref = self.final.get(p)
            if ref is not None:
                files, i = self._files(ref)
                if files.types[i] != DIR:
                    self._remove(p, layer)
                    self.notes.append(f"layer {layer.index}: {quoted_path(p)} was a {EntryType.NAMES[files.types[i]]}; entries below it replace it with a directory")
                break
            p = p.rpartition("/")[0]
        # Then link each missing directory into its parent, up to the first that exists (an
        # entry, or a directory implied by an earlier entry: its ancestors were checked then).
        children = self.children
        p, child = parent, None
        while p and p not in self.final:
            implied = p in children
            if child is not None:
                children.setdefault(p, []).append(child)
            if implied:
                return
            p, child = p.rpartition("/")[0], p
        if child is not None:
            children.setdefault(p, []).append(child)


def merge_layers(layers: list[LayerIndex]) -> tuple[dict[str, EntryRef], HiddenFiles, list[str]]:
    """Apply ``layers`` bottom-up; fills each layer's changes and stats."""
    merger = _Merger(layers)
    for layer in layers:
        merger.apply(layer)
    return merger.final, merger.hidden, merger.notes
