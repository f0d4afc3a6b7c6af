"""``slimview diff --json``: the comparison as one JSON document (documented in
diff-schema.md; bump DIFF_SCHEMA_VERSION on breaking changes)."""

from __future__ import annotations

import json
from typing import Any

from slimview import __version__
from slimview.compare import Comparison, LayerPair, PathDelta
from slimview.compare.summary import ImageSummary

DIFF_SCHEMA_VERSION = 1


def _side(s: ImageSummary) -> dict[str, Any]:
    return {
        "name": s.name,
        "reference": s.reference,
        "config_digest": s.config_digest,
        "layer_count": len(s.layers),
        "size_bytes": s.size,
        "visible_bytes": s.visible_bytes,
        "hidden_bytes": s.hidden_bytes,
        "avoidable_bytes": s.avoidable_bytes,
        "base": {"name": s.base.name, "layers": s.base.layers, "bytes": s.base_bytes},
        "package_manager": s.package_manager,
    }


def _pair(p: LayerPair) -> dict[str, Any]:
    return {
        "status": p.status.value,
        "before_layers": list(p.before),
        "after_layers": list(p.after),
        "before_instruction": p.before_instruction,
        "after_instruction": p.after_instruction,
        "before_bytes": p.before_bytes,
        "after_bytes": p.after_bytes,
        "change_bytes": p.delta,
    }


def _path(d: PathDelta) -> dict[str, Any]:
    return {
        "path": d.path,
        "change": d.change.value,
        "hidden": d.hidden,
        "before_bytes": d.before_bytes,
        "after_bytes": d.after_bytes,
        "change_bytes": d.delta,
        "before_layer": d.before_layer,
        "after_layer": d.after_layer,
    }


def diff_json(c: Comparison) -> dict[str, Any]:
    return {
        "schema_version": DIFF_SCHEMA_VERSION,
        "generator": f"slimview {__version__}",
        "before": _side(c.before),
        "after": _side(c.after),
        "size_change_bytes": c.size_change,
        "size_change_share": round(c.share, 6),
        "visible_change_bytes": c.visible_change,
        "hidden_change_bytes": c.hidden_change,
        "base_change_bytes": c.base.delta,
        "own_change_bytes": c.own_change,
        "base": {"status": c.base.status.value, "before": c.base.before.name, "after": c.base.after.name},
        "layers": [_pair(p) for p in c.layers],
        "packages": [
            {
                "name": p.name, "change": p.change.value, "before_version": p.before_version, "after_version": p.after_version,
                "before_bytes": p.before_bytes, "after_bytes": p.after_bytes, "change_bytes": p.delta,
                "before_layer": p.before_layer, "after_layer": p.after_layer,
            }
            for p in c.packages
        ],
        "directories": [_path(d) for d in c.directories],
        "files": [_path(d) for d in c.files],
        "findings": [
            {
                "key": f.key, "kind": f.kind.value, "change": f.change.value, "title": f.title,
                "before_bytes": f.before_bytes, "after_bytes": f.after_bytes, "change_bytes": f.delta,
                "before_count": f.before_count, "after_count": f.after_count, "layer": f.layer, "instruction": f.instruction,
            }
            for f in c.findings
        ],
    }


def dumps(doc: Any) -> str:
    """JSON as slimview writes its machine-readable outputs: indented, and ASCII, so a path
    that is not UTF-8 (kept as surrogates) is written as its escape and reads back the same."""
    return json.dumps(doc, indent=2) + "\n"


def render_diff_json(c: Comparison) -> str:
    return dumps(diff_json(c))
