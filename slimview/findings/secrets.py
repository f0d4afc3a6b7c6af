"""Secrets in any layer, including files a later layer deleted (the image still ships them).

The index scanned the candidate files as it read them (index/secretscan.py) and kept only
redacted matches, never the bodies: a finding names the path, layer and kind of secret,
never the secret: at most a fingerprint made of the first four characters of a long
value and a sha256 prefix, enough to tell two secrets apart.
"""

from __future__ import annotations

import posixpath

from slimview.findings.details import SecretDetails, SecretMatch
from slimview.findings.model import Finding, FindingKind, FindingPath, Severity
from slimview.findings.view import ImageView
from slimview.index.secretscan import PRIVATE_KEY, Match, fingerprint, scan

__all__ = ["detect", "fingerprint", "scan"]


def _hidden_by(view: ImageView, wanted: set[tuple[int, str]]) -> dict[tuple[int, str], tuple[int, str]]:
    """(layer that hid it, "deleted" or "overwritten") for each wanted (layer, path)."""
    return {(h.stored_in, h.path): (h.hidden_by, h.how) for h in view.index.hidden if (h.stored_in, h.path) in wanted}


def detect(view: ImageView) -> list[Finding]:
    found: list[tuple[int, int, str, list[Match]]] = []
    for layer in view.layers:
        files = layer.files
        for i, kept in files.secrets.items():
            found.append((layer.index, i, files.paths[i], [Match(*m) for m in kept]))
    hidden = _hidden_by(view, {(layer_no, path) for layer_no, _i, path, _m in found})

    findings = []
    for layer_no, i, path, matches in found:
        files = view.layers[layer_no].files
        visible = bool(view.visible[layer_no][i])
        base = posixpath.basename(path)
        kinds = sorted({m.kind for m in matches})
        is_env = base == ".env" or base.startswith(".env.")
        keys_only = all(k.endswith(PRIVATE_KEY) for k in kinds)
        label = "Env file with credentials" if is_env else ("Private key" if keys_only else "Secret")
        hider, how = hidden.get((layer_no, path), (None, "hidden"))
        gone = "" if visible else f" ({how} by layer {hider}, still shipped in layer {layer_no})"
        names = sorted({m.name for m in matches if m.name})
        generic_only = kinds == ["credential-assignment"] and not is_env
        findings.append(
            Finding(
                kind=FindingKind.SECRET,
                title=f"{label} in /{path}{gone}",
                severity=Severity.MEDIUM if generic_only else Severity.HIGH,
                bytes=0,
                layer=layer_no,
                instruction=view.layers[layer_no].instruction,
                paths=[FindingPath(path, files.sizes[i], layer_no)],
                evidence=(
                    f"{len(matches)} secret(s) of kind {', '.join(kinds)}"
                    + (f" (in {', '.join(names[:5])})" if names else "")
                    + " found in the file layer " + str(layer_no) + " stores"
                    + ("" if visible else "; deleting it in a later layer does not remove it from the image")
                    + ". Values are not shown; fingerprints: "
                    + ", ".join(m.fingerprint for m in matches[:5]) + "."
                ),
                fix=(
                    "Keep it out of the image: exclude it from the build context (.dockerignore), pass build-time "
                    "secrets with `RUN --mount=type=secret,id=…`, and runtime ones through the environment or a secret "
                    "store. Rotate it: everyone who can pull this image can read it."
                ),
                details=SecretDetails(kinds, [SecretMatch(m.kind, m.name, m.fingerprint, m.line) for m in matches], visible, hider),
            )
        )
    return findings
