"""What a comparison needs to know about one image, and nothing more: its layers, every file
body it stores (visible, or hidden by a later layer), its OS packages and its findings.

An :class:`ImageSummary` is made from an analysed image (``summarize``) or read back from
the JSON ``slimview ci --json`` saves (``ImageSummary.from_json``), so a CI job can keep
the summary of an earlier build as an artifact and compare a new build with it without
the old image. Every size follows the index's rules: a layer's size is its regular-file
bytes, and the image's size is the visible bodies plus the hidden ones, each counted once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from slimview.errors import InputError
from slimview.findings import Analysis
from slimview.findings.details import (
    CacheDetails,
    DuplicateDetails,
    DuplicateGroupsDetails,
    HiddenDetails,
    LargeFileDetails,
    NoHealthcheckDetails,
    RootUserDetails,
    SecretDetails,
)
from slimview.findings.model import Finding, FindingKind
from slimview.index.model import ImageIndex, split_ref

SUMMARY_VERSION = 1


@dataclass(frozen=True)
class LayerSummary:
    index: int
    diff_id: str
    instruction: str  # the history line that made the layer, as recorded
    size: int  # regular-file bytes stored in the layer


class FileState(NamedTuple):
    """A file body the final filesystem shows."""

    size: int
    layer: int  # the layer that put it there
    digest: str  # xxh3-128 of its content, hex ("" when unknown)


class HiddenState(NamedTuple):
    """Bytes stored under a path and hidden by a later layer (all copies of the path, summed)."""

    size: int
    stored_in: int  # the layer that stored the largest copy
    hidden_by: int  # the layer that deleted or overwrote it


class PackageState(NamedTuple):
    version: str
    bytes: int  # visible bytes of the files it owns
    layer: int | None  # the first layer whose package database lists it


@dataclass(frozen=True)
class FindingSummary:
    key: str  # what stays the same when the same problem is found in another build (finding_key)
    kind: FindingKind
    title: str
    bytes: int
    layer: int | None
    instruction: str


@dataclass(frozen=True)
class BaseSummary:
    """The image the summarised one was built FROM."""

    name: str  # "" when unknown
    layers: int  # bottom layers that belong to it; 0 when unknown


@dataclass
class ImageSummary:
    name: str
    reference: str
    config_digest: str
    layers: list[LayerSummary]
    files: dict[str, FileState]
    hidden: dict[str, HiddenState]
    package_manager: str  # "dpkg", "apk", or "" when the image has no package database
    packages: dict[str, PackageState]
    findings: list[FindingSummary]
    base: BaseSummary = field(default_factory=lambda: BaseSummary("", 0))
    avoidable_bytes: int = 0

    @property
    def size(self) -> int:
        """Bytes stored in all layers (the index's image size)."""
        return sum(layer.size for layer in self.layers)

    @property
    def visible_bytes(self) -> int:
        return sum(f.size for f in self.files.values())

    @property
    def hidden_bytes(self) -> int:
        return sum(h.size for h in self.hidden.values())

    @property
    def base_bytes(self) -> int:
        return sum(layer.size for layer in self.layers[: self.base.layers])

    def instruction(self, layer: int | None) -> str:
        if layer is None or not 0 <= layer < len(self.layers):
            return ""
        return self.layers[layer].instruction

    def findings_by_kind(self) -> dict[FindingKind, tuple[int, int]]:
        """Count and bytes of the findings of each kind the image has."""
        out: dict[FindingKind, tuple[int, int]] = {}
        for f in self.findings:
            count, size = out.get(f.kind, (0, 0))
            out[f.kind] = (count + 1, size + f.bytes)
        return out

    # -- JSON --------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """The summary as ``slimview ci --json`` saves it (documented in report/diff-schema.md)."""
        return {
            "summary_version": SUMMARY_VERSION,
            "name": self.name,
            "reference": self.reference,
            "config_digest": self.config_digest,
            "base": {"name": self.base.name, "layers": self.base.layers},
            "size_bytes": self.size,
            "visible_bytes": self.visible_bytes,
            "hidden_bytes": self.hidden_bytes,
            "avoidable_bytes": self.avoidable_bytes,
            "layers": [{"index": s.index, "diff_id": s.diff_id, "instruction": s.instruction, "size_bytes": s.size} for s in self.layers],
            "package_manager": self.package_manager,
            "packages": [
                {"name": name, "version": p.version, "bytes": p.bytes, "layer": p.layer} for name, p in sorted(self.packages.items())
            ],
            "findings": [
                {"key": f.key, "kind": f.kind.value, "title": f.title, "bytes": f.bytes, "layer": f.layer, "instruction": f.instruction}
                for f in self.findings
            ],
            "files": [[path, f.size, f.layer, f.digest] for path, f in sorted(self.files.items())],
            "hidden": [[path, h.size, h.stored_in, h.hidden_by] for path, h in sorted(self.hidden.items())],
        }

    @classmethod
    def from_json(cls, doc: Any, where: str) -> ImageSummary:
        """A summary saved by ``to_json``; ``where`` names the file in errors."""
        if not isinstance(doc, dict) or doc.get("summary_version") != SUMMARY_VERSION:
            raise InputError(f"{where}: not an image summary slimview can read (summary_version {SUMMARY_VERSION} expected)")
        try:
            base = doc["base"]
            return cls(
                name=str(doc["name"]),
                reference=str(doc["reference"]),
                config_digest=str(doc["config_digest"]),
                layers=[LayerSummary(int(s["index"]), str(s["diff_id"]), str(s["instruction"]), int(s["size_bytes"])) for s in doc["layers"]],
                files={str(p): FileState(int(size), int(layer), str(digest)) for p, size, layer, digest in doc["files"]},
                hidden={str(p): HiddenState(int(size), int(stored), int(by)) for p, size, stored, by in doc["hidden"]},
                package_manager=str(doc["package_manager"]),
                packages={
                    str(p["name"]): PackageState(str(p["version"]), int(p["bytes"]), None if p["layer"] is None else int(p["layer"]))
                    for p in doc["packages"]
                },
                findings=[
                    FindingSummary(str(f["key"]), FindingKind(f["kind"]), str(f["title"]), int(f["bytes"]),
                                   None if f["layer"] is None else int(f["layer"]), str(f["instruction"]))
                    for f in doc["findings"]
                ],
                base=BaseSummary(str(base["name"]), int(base["layers"])),
                avoidable_bytes=int(doc["avoidable_bytes"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{where}: the image summary is damaged ({exc.__class__.__name__}: {exc})") from None


def is_saved_summary(reference: str) -> bool:
    """Whether ``reference`` names a saved JSON summary rather than an image."""
    return reference.endswith(".json")


def read_summary(path: str) -> ImageSummary:
    """The summary in a JSON file: one ``slimview ci --json`` wrote (its ``summary``), or a bare one."""
    try:
        with open(path, "rb") as fh:
            doc = json.load(fh)
    except FileNotFoundError:
        raise InputError(f"no saved summary at {path}") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
    except (ValueError, UnicodeDecodeError):
        raise InputError(f"{path} is not JSON") from None
    if isinstance(doc, dict) and isinstance(doc.get("summary"), dict):
        doc = doc["summary"]
    return ImageSummary.from_json(doc, path)


def finding_key(finding: Finding) -> str:
    """What identifies a finding across two builds of an image.

    Titles name the instruction, which changes between builds; the key names what the
    finding is about instead: which cache, which secret file, which configuration check.
    Findings of one image that share a key are compared together.
    """
    d = finding.details
    kind = finding.kind.value
    if isinstance(d, CacheDetails):
        return f"{kind}:{d.cache}"
    if isinstance(d, HiddenDetails):
        label = d.contents[0].label if d.contents else ""
        return f"{kind}:{d.reason.value}:{label}"
    if isinstance(d, (SecretDetails, LargeFileDetails)):
        return f"{kind}:{finding.paths[0].path}" if finding.paths else kind
    if isinstance(d, DuplicateDetails):
        return f"{kind}:{d.keep}"
    if isinstance(d, DuplicateGroupsDetails):
        return f"{kind}:small groups"
    if isinstance(d, (RootUserDetails, NoHealthcheckDetails)):
        return f"{kind}:{d.check.value}"
    return kind  # build tools and context junk: one problem per image, whichever layer has it


def _files(index: ImageIndex) -> dict[str, FileState]:
    """Every visible file body, with the layer that put it there and its content hash."""
    out: dict[str, FileState] = {}
    final = index.final
    layers = index.layers
    for path, size in index.visible_bodies():
        ref = final[path]
        body = index.content_ref(ref)
        digest = ""
        if body is not None:
            body_layer, i = split_ref(body)
            digest = layers[body_layer].files.hashes[16 * i : 16 * i + 16].hex()
        out[path] = FileState(size, split_ref(ref)[0], digest)
    return out


def _hidden(index: ImageIndex) -> dict[str, HiddenState]:
    out: dict[str, HiddenState] = {}
    largest: dict[str, int] = {}
    for h in index.hidden:
        got = out.get(h.path)
        total = h.size + (got.size if got else 0)
        if got is None or h.size > largest[h.path]:
            largest[h.path] = h.size
            out[h.path] = HiddenState(total, h.stored_in, h.hidden_by)
        else:
            out[h.path] = got._replace(size=total)
    return out


def _findings(findings: Iterable[Finding]) -> list[FindingSummary]:
    return [FindingSummary(finding_key(f), f.kind, f.title, f.bytes, f.layer, f.instruction) for f in findings]


def summarize(analysis: Analysis, base: BaseSummary) -> ImageSummary:
    """The summary of an analysed image; ``base`` is what its base image was found to be."""
    index = analysis.index
    source = index.source
    db = analysis.packages
    packages = {name: PackageState(p.version, p.bytes, p.installed_in) for name, p in db.packages.items()} if db is not None else {}
    return ImageSummary(
        name=source.name,
        reference=source.reference,
        config_digest=source.config_digest,
        layers=[LayerSummary(layer.index, layer.digest, layer.instruction, layer.stats.size) for layer in index.layers],
        files=_files(index),
        hidden=_hidden(index),
        package_manager=db.manager.value if db is not None else "",
        packages=packages,
        findings=_findings(analysis.findings),
        base=base,
        avoidable_bytes=analysis.avoidable_bytes,
    )
