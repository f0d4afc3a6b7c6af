"""The image's configuration: who it runs as, whether it says how to check its health, and
single files big enough to deserve a look. None of these saves bytes by itself."""

from __future__ import annotations

from slimview.findings.details import LargeFileDetails, NoHealthcheckDetails, RootUserDetails
from slimview.findings.model import Finding, FindingKind, FindingPath, Severity, sort_largest_first
from slimview.findings.view import ImageView

LARGE_FILE_BYTES = 100_000_000
LARGE_FILE_LIMIT = 10  # report the largest few; the rest add nothing a person would act on

_ROOT = frozenset({"", "root", "0"})


def runs_as_root(user: str) -> bool:
    """USER unset, ``root`` or uid 0, with or without a group."""
    return user.split(":", 1)[0].strip() in _ROOT


def _root_finding(view: ImageView) -> Finding | None:
    user = view.user
    if not runs_as_root(user):
        return None
    how = "no USER instruction" if not user else f"USER {user}"
    return Finding(
        kind=FindingKind.CONFIG,
        title=f"Runs as root ({how})",
        severity=Severity.MEDIUM,
        bytes=0,
        layer=None,
        instruction="",
        evidence=f"The image config's User is {user!r}: processes in the container run as uid 0.",
        fix=(
            "Create an unprivileged user and switch to it after the steps that need root: "
            "`RUN useradd --system --uid 10001 app` (busybox/alpine: `adduser -D -u 10001 app`), then `USER 10001`."
        ),
        details=RootUserDetails(user),
    )


def _healthcheck_finding(view: ImageView) -> Finding | None:
    config = view.index.source.image_config
    check = config.get("Healthcheck") or {}
    test = check.get("Test") or []
    # Only services need one: an image that exposes no port is a base or a tool.
    if (test and test[0] != "NONE") or not config.get("ExposedPorts"):
        return None
    return Finding(
        kind=FindingKind.CONFIG,
        title="No HEALTHCHECK",
        severity=Severity.INFO,
        bytes=0,
        layer=None,
        instruction="",
        evidence="The image exposes " + ", ".join(sorted(config["ExposedPorts"])) + " but defines no health check.",
        fix="Add e.g. `HEALTHCHECK CMD curl -fsS http://localhost:PORT/health || exit 1`, or rely on the "
        "orchestrator's probes (Kubernetes ignores HEALTHCHECK).",
        details=NoHealthcheckDetails(),
    )


def _large_files(view: ImageView) -> list[Finding]:
    big: list[FindingPath] = []
    for layer in view.layers:
        sizes, paths = layer.files.sizes, layer.files.paths
        big.extend(FindingPath(paths[i], sizes[i], layer.index) for i in view.visible_files(layer.index) if sizes[i] >= LARGE_FILE_BYTES)
    sort_largest_first(big)
    return [
        Finding(
            kind=FindingKind.LARGE_FILE,
            title=f"Very large file /{p.path}",
            severity=Severity.INFO,
            bytes=0,
            layer=p.layer,
            instruction=view.layers[p.layer].instruction,
            paths=[p],
            evidence=f"One file of {p.size} bytes, added by layer {p.layer}.",
            fix=(
                "If it is data (model weights, a dataset), fetch it at start-up or mount it as a volume instead of "
                "baking it into every pull; if it is a binary, make sure it is stripped."
            ),
            details=LargeFileDetails(p.size),
        )
        for p in big[:LARGE_FILE_LIMIT]
    ]


def detect(view: ImageView) -> list[Finding]:
    found = [f for f in (_root_finding(view), _healthcheck_finding(view)) if f is not None]
    return found + _large_files(view)
