"""What every detector reads: the index plus a few columns derived from it once.

The index keeps the final filesystem as ``{path: packed ref}``. Detectors mostly need the
opposite direction — for each layer, which of its entries are still visible — so they can
loop over the layer's columns instead of building an object per path. One pass over
``final`` builds that mask for all of them.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable

from slimview.dockerfile.history import quoted, recorded_instruction
from slimview.dockerfile.instruction import Instruction
from slimview.findings.details import FindingDetails
from slimview.findings.model import Finding, FindingKind, FindingPath, Severity
from slimview.index.model import ImageIndex, split_ref
from slimview.source.tarstream import EntryType

FILE = EntryType.FILE

# Severity by bytes saved: what a reviewer should look at first.
HIGH_BYTES = 50_000_000
MEDIUM_BYTES = 5_000_000


def severity_for(n: int) -> Severity:
    if n >= HIGH_BYTES:
        return Severity.HIGH
    if n >= MEDIUM_BYTES:
        return Severity.MEDIUM
    return Severity.LOW


class ImageView:
    def __init__(self, index: ImageIndex):
        self.index = index
        self.layers = index.layers
        self.visible = index.visible
        self._files: dict[int, array] = {}
        self._instructions: dict[int, Instruction] = {}

    def visible_files(self, layer_no: int) -> array:
        """Entry numbers of the layer's regular files that the final filesystem shows."""
        got = self._files.get(layer_no)
        if got is None:
            files = self.layers[layer_no].files
            vis = self.visible[layer_no]
            types = files.types
            got = array("l", (i for i in range(len(vis)) if vis[i] and types[i] == FILE))
            self._files[layer_no] = got
        return got

    def instruction(self, layer_no: int) -> Instruction:
        """The step that made the layer, as its history line records it."""
        got = self._instructions.get(layer_no)
        if got is None:
            got = recorded_instruction(self.layers[layer_no].instruction)
            self._instructions[layer_no] = got
        return got

    def finding(
        self,
        *,
        kind: FindingKind,
        title: str,
        saved: int,
        layer_no: int,
        paths: list[FindingPath],
        evidence: str,
        fix: str,
        details: FindingDetails,
    ) -> Finding:
        """A finding whose fix saves ``saved`` bytes, made by layer ``layer_no``: its severity
        follows from the bytes, its instruction from the layer."""
        return Finding(
            kind=kind, title=title, severity=severity_for(saved), bytes=saved, layer=layer_no,
            instruction=self.layers[layer_no].instruction, paths=paths, evidence=evidence, fix=fix, details=details,
        )

    def quoted(self, layer_no: int) -> str:
        """The layer's step in backquotes, shortened, for a finding's title."""
        return quoted(self.layers[layer_no].instruction)

    def file_paths(self, paths: Iterable[str]) -> list[FindingPath]:
        """``paths``, each a regular file the final filesystem shows, with size and layer."""
        final = self.index.final
        sizes = [layer.files.sizes for layer in self.layers]
        out = []
        for path in paths:
            layer, i = split_ref(final[path])
            out.append(FindingPath(path, sizes[layer][i], layer))
        return out

    def content_path(self, path: str) -> str:
        """``path``, or the target of the hard link visible there (which holds the bytes)."""
        ref = self.index.final.get(path)
        if ref is None:
            return path
        layer, i = split_ref(ref)
        files = self.layers[layer].files
        return files.links.get(i, path) if files.types[i] == EntryType.HARDLINK else path

    @property
    def user(self) -> str:
        return (self.index.source.image_config.get("User") or "").strip()
