"""Stage 4, rewrite: a smaller Dockerfile that builds and runs the same program.

``rewrite_image`` works from the index alone (the reconstructed history, the files each
layer holds, the image's package database, read and classified by slimview/packages the
way findings do); findings, when given, name context junk and secrets more precisely and
put their byte counts on each change. With the user's own Dockerfile and build context,
that Dockerfile is rewritten instead, keeping its comments.

How it is organised: ``original.py`` reads what the stage does; ``writer.py`` writes the
stages, with the parts every stack shares (``ospackages.py``, ``user.py``, ``copies.py``)
and what one stack adds from ``stacks/`` (python, plain); ``deep.py`` and
``distroless.py`` are the opt-in trims and runtime; ``checks.py`` refuses (``NoRewrite``)
a rewrite that would not build or would change what the image runs; ``estimate.py``,
``dockerignore.py`` and ``smoke.py`` complete it.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Sequence

from slimview.display import human_bytes
from slimview.dockerfile import shell as cmd
from slimview.dockerfile.stages import read_dockerfile
from slimview.errors import InputError
from slimview.findings.details import JunkDetails, NoHealthcheckDetails, RootUserDetails, ToolchainDetails
from slimview.findings.model import Finding, FindingKind
from slimview.index.model import ImageIndex
from slimview.packages.classify import BuildRole, is_build_only
from slimview.packages.closure import build_roles, closure_bytes, closure_names, shared_libraries
from slimview.packages.database import read_database
from slimview.packages.model import PackageDatabase
from slimview.packages.osrelease import distribution_family, os_release
from slimview.rewrite import deep as deep_trims
from slimview.rewrite import distroless
from slimview.rewrite import dockerignore as di
from slimview.rewrite.base import BaseImage, LocalImage
from slimview.rewrite.checks import check
from slimview.rewrite.copies import CopyStep
from slimview.rewrite.estimate import estimate, pip_layers
from slimview.rewrite.layers import CopiedEntry, copied_entries, stored_under
from slimview.rewrite.model import NoRewrite, Rewrite
from slimview.rewrite.original import requested_packages
from slimview.rewrite.stacks import PLAIN, Stack, stack_for, unknown_stack
from slimview.rewrite.stacks.python import has_python, python_version
from slimview.rewrite.summary import estimate_phrase
from slimview.rewrite.target import RewriteSource, from_dockerfile, from_image
from slimview.rewrite.user import UserTools
from slimview.rewrite.writer import Facts, OriginalCommand, Savings, Stored, write

__all__ = ["NoRewrite", "Rewrite", "rewrite_image"]

DOCKERFILE_NAME = "Dockerfile.slim"
DOCKERIGNORE_NAME = ".dockerignore.slim"
PACKAGE_LISTS = ("var/lib/apt/lists/", "var/cache/apk/")
APT_ARCHIVES = ("var/cache/apt/",)
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
    deep: bool = False,
) -> Rewrite:
    """Rewrite the image's Dockerfile (reconstructed, or the user's at ``dockerfile``).

    ``names``: what the Dockerfile and the .dockerignore will be called (for their headers);
    ``packages``: the image's package database, when the caller has read it already;
    ``deep``: also trim what the program does not load (slimview/rewrite/deep.py).
    Raises NoRewrite when the rewrite would not build or would change what the image runs.
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
    stack = stack_for(source, version, index, history, build, db)
    unknown = unknown_stack(source) if stack is PLAIN else None
    if unknown is not None:
        raise NoRewrite(
            f"no rewrite for this stack yet: `{_one_line(unknown.text)}` builds with {cmd.BUILD_TOOLS[unknown.tool]}, and slimview "
            "rewrites Python, Node and Go images and plain ones (OS packages, files, shell steps); the report's findings still apply"
        )
    original_base = source.base or base_image.name
    runtime_base, reason = _runtime_base(base, stack, version, family, original_base)
    same_base = bool(original_base) and runtime_base == original_base

    ignore = _ignore_file(findings, user_ignore, stack)
    facts = Facts(
        python=version,
        family=family,
        runtime_base=runtime_base,
        base_reason=reason,
        base_has_python=(has_python(runtime_base) or distroless.is_distroless_python(runtime_base)) and stack.name == "python",
        build_packages=build,
        junk=lambda name: di.is_ignored(name, ignore.patterns),
        entries=lambda step, layer: _entries(index, step, layer, context, user_ignore),
        savings=_savings(index, history, findings, db, build),
        secrets={posixpath.basename(p.path) for f in findings if f.kind == FindingKind.SECRET for p in f.paths},
        layer_bytes={layer.index: layer.stats.size for layer in index.layers},
        shared_libraries=_shared_libraries(db, build, history, source),
        runs_as_root_finding=any(isinstance(f.details, RootUserDetails) for f in findings),
        no_healthcheck_finding=any(isinstance(f.details, NoHealthcheckDetails) for f in findings),
        user_tools=_user_tools(index, runtime_base, same_base),
        inherited=None if same_base else _command(index),
        original_command=_command(index),
        original_base=original_base,
        runtime_entrypoint=stack.base_entrypoint(runtime_base),
        deep=deep_trims.measure(index, pip_layers(history)) if deep and stack.name == "python" else None,
    )
    written = write(source, facts, stack)
    check(written, facts, db)
    dropped = _keep_copied(ignore, written.copied, context)

    sizes = {tag: img.size for img in local_images for tag in img.tags}
    base_size = 0 if runtime_base == "scratch" else sizes.get(runtime_base)
    rows, notes = estimate(index, history, source, written, base_size, db, same_base=same_base, runtime_base=runtime_base, trims=facts.deep)
    excluded = runtime_base if any(r.after is None for r in rows) else ""
    if dropped:
        notes.append("kept in the context because the rewrite copies them: " + ", ".join(dropped))
    if deep and facts.deep is None:
        notes.append(f"--deep has nothing more to trim in a {stack.name} image")
    before, after = sum(r.before for r in rows), sum(r.after for r in rows if r.after is not None)
    dockerfile_name, dockerignore_name = names
    header = [
        f"{dockerfile_name}: written by slimview from {source.origin}{' with --deep' if deep else ''}.",
        f"Estimated size {estimate_phrase(before, after, excluded)}; `slimview verify` builds it and measures.",
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
        smoke=stack.smoke(written.exec_command),
        service=stack.serves and bool(index.source.image_config.get("ExposedPorts")),
        notes=notes,
        runtime_base=runtime_base,
        base_excluded=excluded,
        copied_from_builder=written.venv or "",
    )


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= 60 else line[:57] + "..."


def _runtime_base(chosen: str | None, stack: Stack, version: str | None, family: str, original: str) -> tuple[str, str]:
    if chosen:
        return chosen, f"{chosen}, chosen with --base."
    preferred = stack.runtime_base(version, family, original)
    if preferred is not None:
        return preferred
    if original:
        return original, f"{original}, the original base."
    return "debian:bookworm-slim", "debian:bookworm-slim, since the original base is unknown."


def _user_tools(index: ImageIndex, runtime_base: str, same_base: bool) -> UserTools | None:
    """How the runtime base makes users: none on distroless; the original's own tools when
    the base is the original's; else by the distribution (None)."""
    if distroless.is_distroless(runtime_base):
        return UserTools.NONE
    if not same_base:
        return None
    final = index.final
    if "usr/sbin/useradd" in final or "sbin/useradd" in final:
        return UserTools.SHADOW
    if any(path in final for path in ("bin/adduser", "usr/sbin/adduser", "sbin/adduser", "usr/bin/adduser")):
        return UserTools.BUSYBOX
    return UserTools.NONE


def _command(index: ImageIndex) -> OriginalCommand:
    config = index.source.image_config
    return OriginalCommand(list(config.get("Entrypoint") or []), list(config.get("Cmd") or []))


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


def _ignore_file(findings: Sequence[Finding], user: list[str], stack: Stack) -> di.IgnoreFile:
    ignore = di.IgnoreFile()
    ignore.add("Kept from the context's own .dockerignore.", user)
    root = _context_root(findings)
    secrets = [p.path[len(root):] for f in findings if f.kind == FindingKind.SECRET and root is not None for p in f.paths if p.path.startswith(root)]
    ignore.add("secret finding: credentials must never be copied into an image.", secrets)
    for finding in findings:
        if isinstance(finding.details, JunkDetails):
            ignore.add(f"context-junk finding: {human_bytes(finding.bytes)} the image copied and never uses.", finding.details.dockerignore)
    ignore.add("Version control, editor and build files.", di.COMMON)
    for comment, patterns in stack.ignore_patterns():
        ignore.add(comment, patterns)
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
) -> Savings:
    """Bytes each kind of fix saves: build tools (from the findings, else the packages'
    installed sizes); package lists, apt's archives and pip's cache as the image's own layers
    stored them, visible (a package-cache finding) or hidden by a later layer (hidden bytes)."""
    first = source.base_layers
    build_tools = sum(f.bytes for f in findings if f.kind == FindingKind.BUILD_TOOLS)
    if not build_tools and db is not None:
        requested = requested_packages(source)
        runtime = [p for p in requested if not is_build_only(p, build, db.manager)]
        keep = set(db.listed_at(first - 1)) | closure_names(runtime, db.packages)
        build_tools = closure_bytes([p for p in requested if is_build_only(p, build, db.manager)], db.packages, keep)
    return Savings(
        build_tools=build_tools,
        toolchain=sum(f.bytes for f in findings if isinstance(f.details, ToolchainDetails)),
        package_lists=Stored(*stored_under(index, PACKAGE_LISTS, first)),
        apt_archives=Stored(*stored_under(index, APT_ARCHIVES, first)),
        pip_cache=Stored(*stored_under(index, PIP_CACHES, first)),
    )


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
