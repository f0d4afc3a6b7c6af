"""Stage 4, rewrite: a smaller Dockerfile that builds and runs the same program.

``rewrite_image`` works from the index alone (the reconstructed history, the files each
layer holds, the image's package database, read and classified by slimview/packages the
way findings do); findings, when given, name context junk and secrets more precisely and
put their byte counts on each change. With the user's own Dockerfile and build context,
that Dockerfile is rewritten instead, keeping its comments.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Sequence

from slimview.display import human_bytes
from slimview.dockerfile.stages import read_dockerfile
from slimview.errors import InputError
from slimview.findings.details import JunkDetails, NoHealthcheckDetails, RootUserDetails
from slimview.findings.model import Finding, FindingKind
from slimview.index.model import ImageIndex
from slimview.packages.classify import BuildRole, is_build_only
from slimview.packages.closure import build_roles, closure_bytes, closure_names, shared_libraries
from slimview.packages.database import read_database
from slimview.packages.model import PackageDatabase
from slimview.packages.osrelease import distribution_family, os_release
from slimview.rewrite import dockerignore as di
from slimview.rewrite.base import BaseImage, LocalImage
from slimview.rewrite.dockerfile import CopyStep, Facts, installs_python_packages, requested_packages, write
from slimview.rewrite.estimate import estimate
from slimview.rewrite.model import Rewrite
from slimview.rewrite.smoke import smoke_command
from slimview.rewrite.stack import CopiedEntry, copied_entries, python_version, stored_under
from slimview.rewrite.target import RewriteSource, from_dockerfile, from_image

__all__ = ["Rewrite", "rewrite_image"]

DOCKERFILE_NAME = "Dockerfile.slim"
DOCKERIGNORE_NAME = ".dockerignore.slim"
PACKAGE_LISTS = ("var/lib/apt/lists/", "var/cache/apk/")
PIP_CACHES = ("root/.cache/pip/",)


def rewrite_image(
    index: ImageIndex,
    base_image: BaseImage,
    findings: Sequence[Finding] = (),
    *,
    dockerfile: str | None = None,
    context: str | None = None,
    base: str | None = None,
    local_images: Sequence[LocalImage] = (),
    names: tuple[str, str] = (DOCKERFILE_NAME, DOCKERIGNORE_NAME),
    packages: PackageDatabase | None = None,
) -> Rewrite:
    """Rewrite the image's Dockerfile (reconstructed, or the user's at ``dockerfile``).

    ``names``: what the Dockerfile and the .dockerignore will be called (for their headers);
    ``packages``: the image's package database, when the caller has read it already.
    """
    # The history says what each layer of the image holds, whichever Dockerfile is rewritten.
    history = from_image(index, base_image)
    if dockerfile is not None:
        source = from_dockerfile(read_dockerfile(dockerfile), dockerfile)
        source.base_layers = history.base_layers
        context = context if context is not None else os.path.dirname(os.path.abspath(dockerfile))
    else:
        source = history
    if not any(i.keyword in ("RUN", "COPY", "ADD") for i in source.instructions):
        raise InputError(
            f"nothing to rewrite: {source.origin} has no RUN, COPY or ADD step of its own"
            + (f" (its layers are those of {base_image.name})" if base_image.known else "")
        )
    user_ignore = _user_dockerignore(context)

    version = python_version(index)
    family = distribution_family(os_release(index))
    db = packages if packages is not None else read_database(index)
    build = _build_packages(db)
    python_stack = version is not None and installs_python_packages(source)
    runtime_base, reason = _runtime_base(base, python_stack, version, family, source, base_image)

    ignore = _ignore_file(findings, user_ignore, python_stack)
    facts = Facts(
        python=version,
        family=family,
        runtime_base=runtime_base,
        base_reason=reason,
        base_has_python=_has_python(runtime_base) and python_stack,
        build_packages=build,
        junk=lambda name: di.is_ignored(name, ignore.patterns),
        entries=lambda step, layer: _entries(index, step, layer, context, user_ignore),
        savings=_savings(index, history, findings, db, build),
        secrets={posixpath.basename(p.path) for f in findings if f.kind == FindingKind.SECRET for p in f.paths},
        layer_bytes={layer.index: layer.stats.size for layer in index.layers},
        shared_libraries=_shared_libraries(db, build, history, source),
        runs_as_root_finding=any(isinstance(f.details, RootUserDetails) for f in findings),
        no_healthcheck_finding=any(isinstance(f.details, NoHealthcheckDetails) for f in findings),
    )
    written = write(source, facts)
    dropped = _keep_copied(ignore, written.copied, context)

    sizes = {tag: img.size for img in local_images for tag in img.tags}
    rows, notes = estimate(index, history, source, written, sizes.get(runtime_base), db)
    if dropped:
        notes.append("kept in the context because the rewrite copies them: " + ", ".join(dropped))
    before, after = sum(r.before for r in rows), sum(r.after for r in rows)
    dockerfile_name, dockerignore_name = names
    header = [
        f"{dockerfile_name}: written by slimview from {source.origin}.",
        f"Estimated size {human_bytes(before)} -> {human_bytes(after)} ({_percent(after, before)} of the original);"
        " `slimview verify` builds it and measures.",
        f"Build it with {dockerignore_name} as the build context's .dockerignore (BuildKit also reads it",
        f"as {dockerfile_name}.dockerignore next to this file).",
    ]
    text = "".join(f"# {line}\n" for line in header) + "\n" + written.text
    ignore_text = ignore.render([
        f"{dockerignore_name}: written by slimview for {dockerfile_name}; use it as the context's .dockerignore.",
        "Nothing the Dockerfile copies is excluded.",
    ])
    return Rewrite(
        dockerfile=text,
        dockerignore=ignore_text,
        fixes=written.fixes,
        sizes=rows,
        copied_sources=[path for path, _is_dir in written.copied],
        smoke=smoke_command(written.exec_command, written.venv is not None),
        notes=notes,
    )


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f} %" if whole else "-"


def _has_python(image: str) -> bool:
    name = image.rsplit("/", 1)[-1]
    return name.startswith("python:") or name.startswith("python@")


def _runtime_base(
    chosen: str | None, python_stack: bool, version: str | None, family: str, source: RewriteSource, base_image: BaseImage
) -> tuple[str, str]:
    if chosen:
        return chosen, f"{chosen}, chosen with --base."
    if python_stack and version:
        flavour = "alpine" if family == "alpine" else "slim"
        image = f"python:{version}-{flavour}"
        was = source.base or base_image.name
        change = " (unchanged)" if was == image else f" (it was {was})" if was else ""
        return image, f"{image}{change} matches the Python {version} the image runs."
    original = source.base or base_image.name
    if original:
        return original, f"{original}, the original base."
    return "debian:bookworm-slim", "debian:bookworm-slim, since the original base is unknown."


def _user_dockerignore(context: str | None) -> list[str]:
    if context is None:
        return []
    path = os.path.join(context, ".dockerignore")
    try:
        with open(path, encoding="utf-8") as fh:
            return di.read_patterns(fh.read())
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError):
        return []


def _ignore_file(findings: Sequence[Finding], user: list[str], python: bool) -> di.IgnoreFile:
    ignore = di.IgnoreFile()
    ignore.add("Kept from the context's own .dockerignore.", user)
    root = _context_root(findings)
    secrets = [p.path[len(root):] for f in findings if f.kind == FindingKind.SECRET and root is not None for p in f.paths if p.path.startswith(root)]
    ignore.add("secret finding: credentials must never be copied into an image.", secrets)
    for finding in findings:
        if isinstance(finding.details, JunkDetails):
            ignore.add(f"context-junk finding: {human_bytes(finding.bytes)} the image copied and never uses.", finding.details.dockerignore)
    ignore.add("Version control, editor and build files.", di.COMMON)
    if python:
        ignore.add("Python caches, virtualenvs and tool output.", di.PYTHON)
    ignore.add("Tests, notebooks and docs: not needed to run the program.", di.NOT_RUNTIME)
    return ignore


def _context_root(findings: Sequence[Finding]) -> str | None:
    for finding in findings:
        root = finding.details.context_root if isinstance(finding.details, JunkDetails) else None
        if root is not None:
            return root.strip("/") + "/" if root.strip("/") else ""
    return None


def _keep_copied(ignore: di.IgnoreFile, copied: list[tuple[str, bool]], context: str | None) -> list[str]:
    """Drop every pattern that would exclude a file the Dockerfile copies; the dropped ones."""
    dropped: list[str] = []
    for path, is_dir in copied:
        if path in (".", "./"):
            continue  # the whole context: trimming it is what the .dockerignore is for
        for pattern in di.blocking(di.copied_paths(path, is_dir, context), ignore.patterns):
            ignore.drop(pattern)
            dropped.append(pattern)
    return dropped


def _build_packages(db: PackageDatabase | None) -> set[str]:
    """The image's build-only packages, by the rule build-tools findings use."""
    if db is None:
        return set()
    return {name.split(":", 1)[0] for name, role in build_roles(db.packages, db.manager).items() if role != BuildRole.DEPENDENCY}


def _shared_libraries(
    db: PackageDatabase | None, build: set[str], history: RewriteSource, source: RewriteSource
) -> dict[str, list[str]]:
    if db is None:
        return {}
    dev = [p for p in requested_packages(source) if is_build_only(p, build, db.manager)]
    return shared_libraries(dev, db.packages, set(db.listed_at(history.base_layers - 1)))


def _savings(
    index: ImageIndex, source: RewriteSource, findings: Sequence[Finding], db: PackageDatabase | None, build: set[str]
) -> dict[str, int]:
    """Bytes each kind of fix saves: build tools (from the findings, else the packages'
    installed sizes), package lists and pip's cache (what the image's own layers stored)."""
    first = source.base_layers
    lists_visible, lists_hidden = stored_under(index, PACKAGE_LISTS, first)
    pip_visible, pip_hidden = stored_under(index, PIP_CACHES, first)
    build_tools = sum(f.bytes for f in findings if f.kind == FindingKind.BUILD_TOOLS)
    if not build_tools and db is not None:
        requested = requested_packages(source)
        runtime = [p for p in requested if not is_build_only(p, build, db.manager)]
        keep = set(db.listed_at(first - 1)) | closure_names(runtime, db.packages)
        build_tools = closure_bytes([p for p in requested if is_build_only(p, build, db.manager)], db.packages, keep)
    return {
        "build-tools": build_tools,
        "hidden-bytes": lists_hidden,
        "package-cache": lists_visible,
        "pip-cache": pip_visible + pip_hidden,
    }


def _entries(
    index: ImageIndex, step: CopyStep, layer: int | None, context: str | None, user_ignore: list[str]
) -> list[CopiedEntry] | None:
    """Top-level names a COPY of the whole context brings in: from the context when there is
    one, else from the layer it made."""
    if step.sources not in (["."], ["./"]) or not step.dest.endswith("/"):
        return None  # named sources say what the user wants copied: copy them as written
    if context is not None:
        return _listing(context, context, user_ignore)
    if layer is None:
        return None
    return copied_entries(index, layer, step.dest)


def _listing(root: str, context: str, user_ignore: list[str]) -> list[CopiedEntry]:
    out = []
    for name in sorted(os.listdir(root)):
        path = os.path.join(root, name)
        rel = os.path.relpath(path, context)
        if di.is_ignored(rel, user_ignore):
            continue
        is_dir = os.path.isdir(path) and not os.path.islink(path)
        out.append(CopiedEntry(name, is_dir, _tree_bytes(path) if is_dir else _file_bytes(path)))
    return out


def _file_bytes(path: str) -> int:
    try:
        return os.lstat(path).st_size
    except OSError:
        return 0


def _tree_bytes(path: str) -> int:
    total = 0
    for folder, _dirs, files in os.walk(path):
        total += sum(_file_bytes(os.path.join(folder, f)) for f in files)
    return total
