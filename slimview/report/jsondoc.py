"""The stable JSON report (documented in schema.md; bump SCHEMA_VERSION on breaking changes)."""

from __future__ import annotations

import base64
import io
import json
import uuid
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from typing import BinaryIO

import orjson

from slimview import __version__
from slimview.findings import KINDS, Analysis
from slimview.findings.model import Finding
from slimview.index.model import Change, Deletions, ImageIndex, split_ref
from slimview.source.tarstream import EntryType

SCHEMA_VERSION = 1
FILE = EntryType.FILE


def path_fields(path: str) -> dict:
    """``path`` as JSON: text, plus the raw bytes in base64 when it is not valid UTF-8."""
    try:
        path.encode("utf-8")
        return {"path": path}
    except UnicodeEncodeError:
        raw = path.encode("utf-8", "surrogateescape")
        return {"path": raw.decode("utf-8", "backslashreplace"), "path_b64": base64.b64encode(raw).decode()}


def safe_text(text: str) -> str:
    """Text with any undecodable bytes (kept as surrogates) shown as \\xNN escapes."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _all_utf8(texts: Iterable[str]) -> bool:
    """Whether no string holds undecodable bytes: one encode for a whole column."""
    try:
        "".join(texts).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _with_raw_paths(items: list[dict], paths: list[str]) -> list[dict]:
    """``items`` (objects whose first key "path" holds ``paths[i]``) with each path that is
    not valid UTF-8 replaced by its ``path_fields``, in place."""
    if not _all_utf8(paths):
        for i, path in enumerate(paths):
            fields = path_fields(path)
            if len(fields) > 1:
                item = items[i]
                del item["path"]
                items[i] = fields | item
    return items


def _layer_files(index: ImageIndex, layer_no: int) -> list[dict]:
    """The layer's entries, then the lower paths it deleted, as JSON objects."""
    return [item for batch in _layer_file_batches(index, layer_no, LIST_BATCH) for item in batch]


# Items per batch when a long list (a layer's files, a finding's paths, dive's inefficient
# files) is written: bounds what one list holds in memory (a million-entry layer was 400 MB
# of dicts plus its encoding, twice; batches of 20,000 still added 22 MB to the sample's
# 56 MB peak, batches of 2,000 nothing).
LIST_BATCH = 2_000


def _batches(items: list | Deletions, batch: int) -> Iterator[list]:
    for lo in range(0, len(items), batch):
        yield items[lo : lo + batch]


def _layer_file_batches(index: ImageIndex, layer_no: int, batch: int) -> Iterator[list[dict]]:
    """``_layer_files`` a batch at a time (never an empty batch).

    Built column by column (one dict literal per entry, the rarer keys added afterwards)
    rather than entry by entry: this is most of the document for a large image.
    """
    layer = index.layers[layer_no]
    files = layer.files
    type_names = EntryType.NAMES
    change_names = Change.NAMES
    links = files.links
    links_utf8 = _all_utf8(links.values())
    linked = sorted(links)
    for lo in range(0, len(files), batch):
        hi = min(lo + batch, len(files))
        digests = files.hashes[16 * lo : 16 * hi].hex()
        columns = zip(files.paths[lo:hi], files.types[lo:hi], layer.changes[lo:hi], files.sizes[lo:hi], files.modes[lo:hi], files.uids[lo:hi], files.gids[lo:hi])
        out = [
            # Regular files end with their content hash; other entries have none.
            {"path": p, "type": type_names[t], "change": change_names[c], "size": s, "mode": m, "uid": u, "gid": g, "xxh3": digests[k : k + 32]}
            if t == FILE
            else {"path": p, "type": type_names[t], "change": change_names[c], "size": s, "mode": m, "uid": u, "gid": g}
            for (p, t, c, s, m, u, g), k in zip(columns, range(0, 32 * (hi - lo), 32))
        ]
        for i in linked[bisect_left(linked, lo) : bisect_left(linked, hi)]:
            target = links[i]
            item = out[i - lo]
            item["link"] = target if links_utf8 else safe_text(target)
            if "xxh3" in item:  # "link" comes before "xxh3" (only a hand-made index links a regular file)
                item["xxh3"] = item.pop("xxh3")
        yield _with_raw_paths(out, files.paths[lo:hi])
    for some in _batches(layer.deleted_paths, batch):
        deleted = []
        for path, ref in some:
            owner, j = split_ref(ref)
            gone = index.layers[owner].files
            deleted.append({"path": path, "type": type_names[gone.types[j]], "change": "deleted", "size": gone.sizes[j], "from_layer": owner})
        yield _with_raw_paths(deleted, [path for path, _ref in some])


def _path_batches(finding: Finding, batch: int) -> Iterator[list[dict]]:
    for some in _batches(finding.paths, batch):
        yield _with_raw_paths([{"path": path, "size": size, "layer": layer} for path, size, layer in some], [p.path for p in some])


def _inefficient_batches(inefficient: list[tuple[str, int, int]], batch: int) -> Iterator[list[dict]]:
    for some in _batches(inefficient, batch):
        yield [{**path_fields(p), "bytes": n, "count": c} for p, n, c in some]


def _safe(value):
    """Details as JSON: strings with undecodable path bytes escaped, containers recursively."""
    if isinstance(value, str):
        return safe_text(value)
    if isinstance(value, dict):
        return {safe_text(str(k)): _safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_safe(v) for v in value]
    return value


def finding_json(finding: Finding, *, paths: bool = True) -> dict:
    """The finding as JSON; without its ``paths`` (an empty list) for a caller writing them itself."""
    return {
        "kind": finding.kind,
        "title": safe_text(finding.title),
        "severity": finding.severity,
        "bytes": finding.bytes,
        "layer": finding.layer,
        "instruction": safe_text(finding.instruction),
        "paths": [item for batch in _path_batches(finding, LIST_BATCH) for item in batch] if paths else [],
        "evidence": safe_text(finding.evidence),
        "fix": safe_text(finding.fix),
        "details": _safe(finding.details.to_json()) if finding.details is not None else {},
    }


def _by_kind(findings: list[Finding]) -> dict:
    """Count and bytes per finding kind (every kind present, zero when none was found)."""
    out = {kind.value: {"count": 0, "bytes": 0} for kind in KINDS}  # plain str keys: orjson takes no subclass
    for f in findings:
        out[f.kind.value]["count"] += 1
        out[f.kind.value]["bytes"] += f.bytes
    return out


def report_json(analysis: Analysis, *, include_files: bool = True, long_lists: bool = True) -> dict:
    """The document; without ``long_lists``, findings' paths and dive's inefficient files are
    left empty (``write_json`` writes them a batch at a time)."""
    index = analysis.index
    source = index.source
    size = index.size
    hidden = index.hidden_bytes
    avoidable = analysis.avoidable_bytes
    layers = []
    for layer in index.layers:
        s = layer.stats
        item = {
            "index": layer.index,
            "diff_id": layer.ref.diff_id,
            "digest": layer.ref.digest,
            "media_type": layer.ref.media_type,
            "stored_bytes": layer.ref.stored_size,
            "compression": layer.files.compression,
            "size_bytes": s.size,
            "instruction": layer.instruction,
            "created": layer.history.created if layer.history else "",
            "comment": layer.history.comment if layer.history else "",
            "entries": s.entries,
            "added": s.added,
            "modified": s.modified,
            "unchanged": s.unchanged,
            "deleted": s.deleted,
            "bytes_added": s.bytes_added,
            "bytes_modified": s.bytes_modified,
            "bytes_unchanged": s.bytes_unchanged,
            "bytes_deleted": s.bytes_deleted,
            "bytes_overwritten": s.bytes_overwritten,
            "hidden_stored_bytes": s.hidden_stored,
        }
        if include_files:
            item["files"] = _layer_files(index, layer.index)
        layers.append(item)
    dive = index.dive
    doc = {
        "schema_version": SCHEMA_VERSION,
        "generator": f"slimview {__version__}",
        "image": {
            "reference": source.reference,
            "name": source.name,
            "source": source.kind,
            "repo_tags": source.repo_tags,
            "config_digest": source.config_digest,
            "platform": source.platform,
            "layer_count": len(index.layers),
            "entry_count": index.entry_count,
            "size_bytes": size,
            "visible_bytes": size - hidden,
            "user": (source.image_config.get("User") or ""),
        },
        "waste": {
            "hidden_bytes": hidden,
            "hidden_share": round(hidden / size, 6) if size else 0.0,
            "hidden_by_layer": [
                {"stored_in": a, "hidden_by": b, "bytes": n}
                for (a, b), n in sorted(index.hidden_by_pair().items(), key=lambda kv: -kv[1])
            ],
            "dive": {
                "efficiency": round(dive.score, 6),
                "inefficient_bytes": dive.wasted_bytes,
                "user_size_bytes": dive.user_size,
                "wasted_user_percent": round(dive.wasted_user_percent, 6),
                "inefficient_files": [
                    item for batch in _inefficient_batches(dive.inefficient_paths, LIST_BATCH) for item in batch
                ] if long_lists else [],
            },
            "avoidable_bytes": avoidable,
            "avoidable_share": round(avoidable / size, 6) if size else 0.0,
        },
        "layers": layers,
        "findings": [finding_json(f, paths=long_lists) for f in analysis.findings],
        "findings_by_kind": _by_kind(analysis.findings),
        "notes": index.notes,
    }
    return doc


# orjson writes the same document as json.dumps(indent=2, ensure_ascii=False) + "\n", about
# ten times faster: a million-entry image is a few hundred MB of JSON.
_ORJSON_OPTIONS = orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE
# Where a long list sits in the document: items at 8 spaces, the key at 6.
_LIST_INDENT = b"\n" + b" " * 6


def write_json(analysis: Analysis, out: BinaryIO, *, include_files: bool = True) -> None:
    """Write the JSON document to ``out`` (UTF-8), one long list at a time.

    Long lists (each layer's files, each finding's paths, dive's inefficient files) are
    most of a large image's document: building them all first held the whole document in
    memory twice (the dicts, then the bytes). Here the rest of the document is encoded
    with a marker where each long list goes, and each list is built, encoded (indented to
    its place) and written a batch at a time. The bytes are exactly those of one
    ``orjson.dumps`` of the whole document.
    """
    index = analysis.index
    doc = report_json(analysis, include_files=False, long_lists=False)
    token = uuid.uuid4().hex
    lists: list[tuple[bytes, Iterator[list[dict]]]] = []

    def later(batches: Iterator[list[dict]]) -> str:
        """A marker for a list written later; lists are added in the document's order."""
        marker = f"slimview-list-{token}-{len(lists)}"
        lists.append((orjson.dumps(marker), batches))
        return marker

    doc["waste"]["dive"]["inefficient_files"] = later(_inefficient_batches(index.dive.inefficient_paths, LIST_BATCH))
    if include_files:
        for layer in doc["layers"]:
            layer["files"] = later(_layer_file_batches(index, layer["index"], LIST_BATCH))
    for item, finding in zip(doc["findings"], analysis.findings):
        item["paths"] = later(_path_batches(finding, LIST_BATCH))
    try:
        skeleton = orjson.dumps(doc, option=_ORJSON_OPTIONS)
    except (TypeError, orjson.JSONEncodeError):
        # orjson refuses lone surrogates (in notes, titles…); json writes them as escapes (``\udcff``).
        out.write(_json_document(analysis, include_files).encode("utf-8", "backslashreplace"))
        return
    del doc  # only its bytes are needed now
    view, at = memoryview(skeleton), 0
    for marker, batches in lists:
        found = skeleton.find(marker, at)
        assert found >= 0, "every list's marker is in the document, in order"
        out.write(view[at:found])
        _write_list(out, batches)
        at = found + len(marker)
    out.write(view[at:])


def _write_list(out: BinaryIO, batches: Iterator[list[dict]]) -> None:
    """Write a long list batch by batch, as the bytes one ``orjson.dumps`` of the whole
    list would be, indented to its place (every long list sits at the same depth)."""
    separator = b"["
    for batch in batches:
        # Paths and link targets in file lists are made valid UTF-8 (see _layer_file_batches): orjson takes them.
        encoded = orjson.dumps(batch, option=orjson.OPT_INDENT_2)
        out.write(separator + encoded[1:-2].replace(b"\n", _LIST_INDENT))
        separator = b","
    out.write(b"[]" if separator == b"[" else _LIST_INDENT + b"]")


def _json_document(analysis: Analysis, include_files: bool) -> str:
    return json.dumps(report_json(analysis, include_files=include_files), indent=2, ensure_ascii=False) + "\n"


def render_json(analysis: Analysis, *, include_files: bool = True) -> str:
    """The document as text; a lone surrogate orjson cannot encode stays one (see render_json_bytes)."""
    try:
        return orjson.dumps(report_json(analysis, include_files=include_files), option=_ORJSON_OPTIONS).decode("utf-8")
    except (TypeError, orjson.JSONEncodeError):
        return _json_document(analysis, include_files)


def render_json_bytes(analysis: Analysis, *, include_files: bool = True) -> bytes:
    """The document as UTF-8 bytes (``write_json`` into memory); a lone surrogate is written
    as its JSON escape (``\\udcff``), so the bytes parse to the same document."""
    out = io.BytesIO()
    write_json(analysis, out, include_files=include_files)
    return out.getvalue()
