"""The stable JSON report (documented in schema.md; bump SCHEMA_VERSION on breaking changes)."""

from __future__ import annotations

import base64
import json

import orjson

from slimview import __version__
from slimview.findings import KINDS
from slimview.findings.model import Finding
from slimview.index.model import Change, ImageIndex, unpack
from slimview.report import Report
from slimview.source.tarstream import EntryType

SCHEMA_VERSION = 1


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


def _layer_files(index: ImageIndex, layer_no: int) -> list[dict]:
    layer = index.layers[layer_no]
    files = layer.files
    out = []
    for i in range(len(files)):
        item = path_fields(files.paths[i])
        item.update(
            type=EntryType.NAMES[files.types[i]],
            change=Change.NAMES[layer.changes[i]],
            size=files.sizes[i],
            mode=files.modes[i],
            uid=files.uids[i],
            gid=files.gids[i],
        )
        if i in files.links:
            item["link"] = safe_text(files.links[i])
        if files.types[i] == EntryType.FILE:
            item["xxh3"] = files.hashes[16 * i : 16 * i + 16].hex()
        out.append(item)
    for path, ref in layer.deleted_paths:
        owner, j = unpack(ref)
        gone = index.layers[owner].files
        item = path_fields(path)
        item.update(type=EntryType.NAMES[gone.types[j]], change="deleted", size=gone.sizes[j], from_layer=owner)
        out.append(item)
    return out


def _safe(value):
    """Details as JSON: strings with undecodable path bytes escaped, containers recursively."""
    if isinstance(value, str):
        return safe_text(value)
    if isinstance(value, dict):
        return {safe_text(str(k)): _safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_safe(v) for v in value]
    return value


def finding_json(finding: Finding) -> dict:
    return {
        "kind": finding.kind,
        "title": safe_text(finding.title),
        "severity": finding.severity,
        "bytes": finding.bytes,
        "layer": finding.layer,
        "instruction": safe_text(finding.instruction),
        "paths": [{**path_fields(p.path), "size": p.size, "layer": p.layer} for p in finding.paths],
        "evidence": safe_text(finding.evidence),
        "fix": safe_text(finding.fix),
        "details": _safe(finding.details),
    }


def _by_kind(findings: list[Finding]) -> dict:
    """Count and bytes per finding kind (every kind present, zero when none was found)."""
    out = {kind: {"count": 0, "bytes": 0} for kind in KINDS}
    for f in findings:
        out[f.kind]["count"] += 1
        out[f.kind]["bytes"] += f.bytes
    return out


def report_json(report: Report, *, include_files: bool = True) -> dict:
    index = report.index
    source = index.source
    size = index.size
    hidden = index.hidden_bytes
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
                    {**path_fields(p), "bytes": n, "count": c} for p, n, c in dive.inefficient_paths
                ],
            },
            "avoidable_bytes": report.avoidable_bytes,
            "avoidable_share": round(report.avoidable_bytes / size, 6) if size else 0.0,
        },
        "layers": layers,
        "findings": [finding_json(f) for f in report.findings],
        "findings_by_kind": _by_kind(report.findings),
        "notes": index.notes,
    }
    return doc


def render_json(report: Report, *, include_files: bool = True) -> str:
    doc = report_json(report, include_files=include_files)
    try:
        # orjson writes the same document as json.dumps(indent=2, ensure_ascii=False), about
        # ten times faster: a million-entry image is a few hundred MB of JSON.
        return orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode("utf-8") + "\n"
    except (TypeError, orjson.JSONEncodeError):  # a string orjson refuses (lone surrogates)
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
