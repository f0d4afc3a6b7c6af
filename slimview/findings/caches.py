"""Package-manager caches, temporary files and logs left in the final filesystem.

Each cache is reported once per layer that added its bytes, because the fix belongs in
that layer's instruction: clean up in the same RUN (a later ``rm`` only hides the bytes)
or keep the cache out of the image with a BuildKit cache mount.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

from slimview.findings.details import CacheDetails
from slimview.findings.model import Finding, FindingKind, FindingPath, sort_largest_first
from slimview.findings.view import ImageView

LEFTOVER_MIN_BYTES = 1_000_000  # /tmp and /var/log: small logs are normal and not worth a finding


@dataclass(frozen=True)
class CacheRule:
    key: str
    label: str
    pattern: str  # regex searched in the relative path; its match ends at the cache's root
    fix: str
    min_bytes: int = 1
    package_manager: bool = True  # a package manager's downloads and indexes (not leftovers: bytecode, /tmp, logs)


RULES = [
    CacheRule(
        "apt_lists", "apt package lists", r"^var/lib/apt/lists/",
        "Remove the lists in the same RUN that downloads them (`apt-get update && apt-get install -y … "
        "&& rm -rf /var/lib/apt/lists/*`), or keep them out of the image with "
        "`RUN --mount=type=cache,target=/var/lib/apt/lists,sharing=locked`.",
    ),
    CacheRule(
        "apt_archives", "apt package archives", r"^var/cache/apt/(?=archives/.*\.deb$|[^/]+\.bin$)",
        "Run `apt-get clean` (or `rm -rf /var/cache/apt/archives/*.deb /var/cache/apt/*.bin`) in the same RUN "
        "as `apt-get install`, or mount it: `RUN --mount=type=cache,target=/var/cache/apt,sharing=locked`.",
    ),
    CacheRule(
        "apk", "apk package cache", r"^(?:var/cache/apk|etc/apk/cache)/",
        "Install with `apk add --no-cache …` so the index and packages are never stored.",
    ),
    CacheRule(
        "pip", "pip cache", r"(?:^|/)\.cache/pip/",
        "Install with `pip install --no-cache-dir …` (or `ENV PIP_NO_CACHE_DIR=1`), or keep the cache out of "
        "the image with `RUN --mount=type=cache,target=/root/.cache/pip`.",
    ),
    CacheRule(
        "poetry", "poetry cache", r"(?:^|/)\.cache/pypoetry/(?!virtualenvs/)",
        "Run `poetry install --no-cache …` or `rm -rf ~/.cache/pypoetry` in the same RUN, or use "
        "`RUN --mount=type=cache,target=/root/.cache/pypoetry`.",
    ),
    CacheRule(
        "uv", "uv cache", r"(?:^|/)\.cache/uv/",
        "Set `ENV UV_NO_CACHE=1` (or pass `--no-cache`), or use `RUN --mount=type=cache,target=/root/.cache/uv`.",
    ),
    CacheRule(
        "npm", "npm cache", r"(?:^|/)\.npm/(?=_cacache/|_logs/|_npx/)",
        "Run `npm ci … && npm cache clean --force` in one RUN, or use `RUN --mount=type=cache,target=/root/.npm`.",
    ),
    CacheRule(
        "yarn", "yarn cache", r"(?:^|/)(?:\.cache/yarn|\.yarn/berry/cache|share/\.cache/yarn)/",
        "Run `yarn install … && yarn cache clean` in one RUN, or mount the yarn cache directory as a cache.",
    ),
    CacheRule(
        "pnpm", "pnpm store", r"(?:^|/)(?:\.local/share/pnpm/store|\.pnpm-store|\.cache/pnpm)/",
        "Run `pnpm install … && pnpm store prune` in one RUN, or use "
        "`RUN --mount=type=cache,target=/root/.local/share/pnpm/store`.",
    ),
    CacheRule(
        "conda", "conda package cache",
        r"(?:^|/)(?:conda|miniconda3?|anaconda3?|mambaforge|miniforge3|\.conda)/pkgs/",
        "Run `conda clean -afy` in the same RUN as `conda install` (or `mamba clean -afy`).",
    ),
    CacheRule(
        "go", "Go build and module caches", r"(?:^|/)(?:\.cache/go-build|go/pkg/mod)/",
        "Build in a separate stage and copy only the binary, or use cache mounts: "
        "`RUN --mount=type=cache,target=/root/.cache/go-build --mount=type=cache,target=/go/pkg/mod go build …`.",
    ),
    CacheRule(
        "cargo", "cargo registry", r"(?:^|/)(?:\.cargo|usr/local/cargo)/(?:registry|git)/",
        "Build in a separate stage, or use `RUN --mount=type=cache,target=/usr/local/cargo/registry cargo build …`.",
    ),
    CacheRule(
        "maven", "Maven repository", r"(?:^|/)\.m2/repository/",
        "Build in a separate stage and copy only the jar, or use `RUN --mount=type=cache,target=/root/.m2 mvn …`.",
    ),
    CacheRule(
        "gradle", "Gradle caches", r"(?:^|/)\.gradle/(?:caches|wrapper/dists)/",
        "Build in a separate stage and copy only the artifacts, or use "
        "`RUN --mount=type=cache,target=/root/.gradle gradle …`.",
    ),
    CacheRule(
        "composer", "Composer cache", r"(?:^|/)(?:\.composer/cache|\.cache/composer)/",
        "Run `composer install --no-cache …`, or use `RUN --mount=type=cache,target=/root/.cache/composer`.",
    ),
    CacheRule(
        "build_tool_bytecode", "bytecode of pip/setuptools/wheel",
        r"/site-packages/(?:pip|setuptools|wheel|pkg_resources|_distutils_hack)/(?:[^/]+/)*?__pycache__/",
        "Python wrote this bytecode while pip ran; set `ENV PYTHONDONTWRITEBYTECODE=1` before the install step "
        "(or delete these __pycache__ directories in the same RUN).",
        package_manager=False,
    ),
    CacheRule(
        "tmp", "temporary files", r"^(?:tmp|var/tmp)/",
        "Delete temporary files in the same RUN that creates them, or give that RUN a scratch directory "
        "that is never stored: `RUN --mount=type=tmpfs,target=/tmp …`.",
        LEFTOVER_MIN_BYTES,
        package_manager=False,
    ),
    CacheRule(
        "logs", "build logs", r"^var/log/",
        "Delete logs written during the build in the same RUN (e.g. `rm -rf /var/log/*.log /var/log/apt`).",
        LEFTOVER_MIN_BYTES,
        package_manager=False,
    ),
]
RULE_BY_KEY = {rule.key: rule for rule in RULES}


def cache_pattern(*keys: str) -> re.Pattern[str]:
    """The paths the caches named by ``keys`` hold (for the rewrite's cache mounts)."""
    return re.compile("|".join(RULE_BY_KEY[key].pattern for key in keys))
# One regex for all rules: a single search per path, the matching group names the rule.
_MATCHER = re.compile("|".join(f"(?P<{rule.key}>{rule.pattern})" for rule in RULES))
# Every rule's pattern needs one of these substrings; most paths fail this cheap test. The
# hints are precise enough that __pycache__ directories (hundreds in a Python image, on long
# paths where the full search is slow) fail it unless they belong to pip and its kin.
_HINTS = re.compile(
    r"var/|\.cache/|\.yarn/|\.composer/|\.npm|pnpm|pkgs/|go/pkg|cargo/|\.m2/|\.gradle/|tmp/|etc/apk/"
    r"|/site-packages/(?:pip|setuptools|wheel|pkg_resources|_distutils_hack)/"
)


def classify(path: str) -> tuple[CacheRule, str] | None:
    """The cache rule ``path`` falls under and the cache's root directory, or None."""
    if _HINTS.search(path) is None:
        return None
    m = _MATCHER.search(path)
    if m is None:
        return None
    assert m.lastgroup is not None, "every alternative of the matcher is a named group"
    return RULE_BY_KEY[m.lastgroup], path[: m.end()].rstrip("/")


def package_manager_cache(path: str) -> CacheRule | None:
    """The package-manager cache rule ``path`` falls under, or None (leftovers included)."""
    got = classify(path)
    return got[0] if got is not None and got[0].package_manager else None


def is_package_manager_cache(details: CacheDetails) -> bool:
    """Whether a package-cache finding is about a package manager's cache (not leftovers)."""
    return RULE_BY_KEY[details.cache].package_manager


def detect(view: ImageView) -> list[Finding]:
    groups: dict[tuple[str, int], list[FindingPath]] = defaultdict(list)
    roots: dict[tuple[str, int], set[str]] = defaultdict(set)
    # Every rule but apt's archives decides by directory alone: classify once per directory.
    by_dir: dict[str, tuple[CacheRule, str] | None] = {}
    for layer in view.layers:
        files = layer.files
        names, sizes = files.paths, files.sizes
        for i in view.visible_files(layer.index):
            size = sizes[i]
            if not size:
                continue
            path = names[i]
            directory = path.rpartition("/")[0]
            if directory.startswith("var/cache/apt"):
                got = classify(path)  # apt's archives are told apart file by file
            elif directory in by_dir:
                got = by_dir[directory]
            else:
                got = by_dir[directory] = classify(path)
            if got is None:
                continue
            rule, root = got
            key = (rule.key, layer.index)
            groups[key].append(FindingPath(path, size, layer.index))
            roots[key].add(root)

    findings = []
    for (rule_key, layer_no), paths in groups.items():
        rule = RULE_BY_KEY[rule_key]
        total = sum(p.size for p in paths)
        if total < rule.min_bytes:
            continue
        sort_largest_first(paths)
        where = sorted(roots[(rule_key, layer_no)])
        findings.append(
            view.finding(
                kind=FindingKind.PACKAGE_CACHE,
                title=f"{rule.label[0].upper()}{rule.label[1:]} left in the image by {view.quoted(layer_no)}",
                saved=total,
                layer_no=layer_no,
                paths=paths,
                evidence=f"{len(paths)} file(s) under /{', /'.join(where[:4])}{' …' if len(where) > 4 else ''}"
                f" are still in the final filesystem, added by layer {layer_no}.",
                fix=rule.fix,
                details=CacheDetails(rule_key, rule.label, ["/" + r for r in where]),
            )
        )
    return findings
