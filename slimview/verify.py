"""``slimview verify``: build a rewrite with the engine, run its smoke command in the built
image, and measure both images the way ``docker image inspect`` does, with their findings.

A command-level workflow over the stages (rewrite, then source → index → findings again
on the built image through ``slimview.session``), not a rewrite step.

The build runs on a temporary copy of the build context (hard links where possible) that
has the rewrite's .dockerignore in place, so the user's own .dockerignore is never touched.
Containers get no network (``--network none``); builds use the host's (``--network host``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field

from slimview import session
from slimview.compare import Comparison, ImageSummary, compare
from slimview.display import human_bytes
from slimview.errors import EngineError, InputError
from slimview.findings import Analysis
from slimview.index import IndexOptions
from slimview.rewrite import dockerignore
from slimview.rewrite.model import Rewrite
from slimview.source.engine import connect, engine_host, inspect_image

BUILD_TIMEOUT_S = 1800
SMOKE_TIMEOUT_S = 300
LOG_LINES = 25

def docker_cli() -> str:
    """The docker CLI to build with: one that has the classic builder and BuildKit."""
    for candidate in (os.environ.get("SLIMVIEW_DOCKER"), "/usr/bin/docker", shutil.which("docker")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise EngineError("verify needs the docker command-line client (set SLIMVIEW_DOCKER to its path)")


def _cli_env(buildkit: bool) -> dict[str, str]:
    return {**os.environ, "DOCKER_HOST": engine_host(), "DOCKER_BUILDKIT": "1" if buildkit else "0"}


@dataclass
class BuildResult:
    ok: bool
    image_id: str
    log: str

    def relevant_lines(self) -> list[str]:
        """The lines of a failed build's log that say why."""
        lines = [line for line in self.log.splitlines() if line.strip()]
        errors = [i for i, line in enumerate(lines) if re.search(r"error|failed|returned a non-zero|not found", line, re.I)]
        if not errors:
            return lines[-LOG_LINES:]
        start = max(0, errors[0] - 10)
        return lines[start : start + LOG_LINES]


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def stage_context(context: str, dockerignore: str, workdir: str, skip: frozenset[str] | set[str]) -> str:
    """A copy of ``context`` under ``workdir`` with ``dockerignore`` as its .dockerignore;
    top-level names in ``skip`` (ignored anyway) are not copied."""
    if not os.path.isdir(context):
        raise InputError(f"build context {context} is not a directory")
    staged = os.path.join(workdir, "context")
    ignore_top = lambda folder, names: [n for n in names if folder == context and (n in skip or n == ".dockerignore")]  # noqa: E731
    try:
        shutil.copytree(context, staged, symlinks=True, copy_function=_link_or_copy, ignore=ignore_top)
    except (OSError, shutil.Error) as exc:
        raise InputError(f"cannot copy the build context {context}: {exc}") from None
    with open(os.path.join(staged, ".dockerignore"), "w", encoding="utf-8") as fh:
        fh.write(dockerignore)
    return staged


def build(dockerfile: str, context: str, dockerignore: str, tag: str, *, skip: frozenset[str] | set[str] = frozenset(), buildkit: bool = True) -> BuildResult:
    """Build ``dockerfile`` (its text) over a staged copy of ``context``; tag it ``tag``."""
    cli = docker_cli()
    with tempfile.TemporaryDirectory(prefix="slimview-verify-") as tmp:
        staged = stage_context(context, dockerignore, tmp, skip)
        path = os.path.join(tmp, "Dockerfile.slim")
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(dockerfile)
        iidfile = os.path.join(tmp, "iid")
        progress = ["--progress=plain"] if buildkit else []
        try:
            proc = subprocess.run(
                [cli, "build", "--network", "host", "--force-rm", *progress, "-f", path, "--iidfile", iidfile, "-t", tag, staged],
                env=_cli_env(buildkit), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                timeout=BUILD_TIMEOUT_S, check=False,
            )
        except subprocess.TimeoutExpired:
            return BuildResult(False, "", f"the build took longer than {BUILD_TIMEOUT_S} s and was stopped")
        image_id = ""
        if proc.returncode == 0 and os.path.exists(iidfile):
            with open(iidfile, encoding="utf-8") as fh:
                image_id = fh.read().strip()
        return BuildResult(proc.returncode == 0, image_id, proc.stdout)


@dataclass
class SmokeResult:
    ok: bool
    command: list[str]
    output: str


def smoke(tag: str, command: list[str]) -> SmokeResult:
    """Run ``command`` in a fresh container of ``tag`` with no network."""
    cli = docker_cli()
    try:
        proc = subprocess.run(
            [cli, "run", "--rm", "--network", "none", "--entrypoint", command[0], tag, *command[1:]],
            env=_cli_env(True), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            timeout=SMOKE_TIMEOUT_S, check=False,
        )
    except subprocess.TimeoutExpired:
        return SmokeResult(False, command, f"no result after {SMOKE_TIMEOUT_S} s")
    return SmokeResult(proc.returncode == 0, command, proc.stdout)


@dataclass
class Measured:
    """An image as ``docker image inspect`` describes it, with its findings by kind."""

    name: str
    size: int
    layers: int
    findings: dict[str, tuple[int, int]] = field(default_factory=dict)  # kind → (count, bytes)


def inspect(client, reference: str) -> tuple[int, int]:
    """(Size, number of RootFS layers) of an engine image."""
    attrs = inspect_image(client, reference).attrs
    return int(attrs.get("Size") or 0), len((attrs.get("RootFS") or {}).get("Layers") or [])


def _findings_cell(found: tuple[int, int] | None) -> str:
    if found is None:
        return "gone"
    count, size = found
    return f"{count} ({human_bytes(size)})" if size else str(count)


def render_table(before: Measured, after: Measured) -> str:
    """The before/after table: size and layers as ``docker image inspect`` reports them, and
    the findings of each kind (count, bytes) in both images."""
    ratio = f"{100 * after.size / before.size:.1f} % of before" if before.size else ""
    rows = [
        ("", before.name, after.name, ""),
        ("size", f"{human_bytes(before.size)} ({before.size:,} B)", f"{human_bytes(after.size)} ({after.size:,} B)", ratio),
        ("layers", str(before.layers), str(after.layers), ""),
        ("findings", "", "", ""),
    ]
    kinds = sorted(set(before.findings) | set(after.findings), key=lambda k: (-before.findings.get(k, (0, 0))[1], k))
    for kind in kinds:
        rows.append((f"  {kind}", _findings_cell(before.findings.get(kind)) if kind in before.findings else "-",
                     _findings_cell(after.findings.get(kind)), ""))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "".join("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() + "\n" for row in rows)


def shown_command(command: list[str]) -> str:
    """A command as a person would type it (double quotes where needed)."""
    def quote(arg: str) -> str:
        if arg and not re.search(r"[\s'\"$`\\;&|<>()*?]", arg):
            return arg
        return '"' + re.sub(r'(["\\$`])', r"\\\1", arg) + '"'

    return " ".join(quote(a) for a in command)


@dataclass
class Verification:
    """What `slimview verify` found: the build, the smoke run and both images' figures."""

    build: BuildResult
    smoke: SmokeResult | None
    before: Measured
    after: Measured | None
    comparison: Comparison | None = None  # the original against the built rewrite

    @property
    def ok(self) -> bool:
        return self.build.ok and self.smoke is not None and self.smoke.ok


def default_tag(index) -> str:
    """``python-inference:latest`` → ``python-inference:slimview``."""
    source = index.source
    name = source.repo_tags[0] if source.repo_tags else ""
    repo = name.rsplit(":", 1)[0] if ":" in name.rsplit("/", 1)[-1] else name
    return f"{repo or 'slimview-verify'}:slimview"


def _by_kind(summary: ImageSummary) -> dict[str, tuple[int, int]]:
    return {kind.value: found for kind, found in summary.findings_by_kind().items()}


def measure_original(analysis: Analysis, client, summary: ImageSummary) -> Measured:
    """The original as the engine reports it; an image read from a file is measured by its
    layers. Its findings are those of ``summary``, what the comparison with the rewrite uses."""
    index = analysis.index
    by_kind = _by_kind(summary)
    if index.source.kind == "engine":
        size, layers = inspect(client, index.source.config_digest)
        return Measured(index.source.name, size, layers, by_kind)
    return Measured(index.source.name, index.size, len(index.layers), by_kind)


def verify(
    analysis: Analysis, rewrite: Rewrite, context: str, tag: str, smoke_cmd: list[str] | None, *,
    buildkit: bool = True, options: IndexOptions | None = None,
) -> Verification:
    """Build ``rewrite`` over ``context``, smoke-test it and measure both images."""
    client = connect()
    original = session.summary(analysis)
    before = measure_original(analysis, client, original)
    skip = {name for name in os.listdir(context) if dockerignore.is_ignored(name, dockerignore.read_patterns(rewrite.dockerignore))}
    built = build(rewrite.dockerfile, context, rewrite.dockerignore, tag, skip=skip, buildkit=buildkit)
    if not built.ok:
        return Verification(built, None, before, None)
    command = smoke_cmd or rewrite.smoke
    result = smoke(tag, command) if command else SmokeResult(False, [], "no smoke command could be derived from the image's CMD; pass --smoke")
    size, layers = inspect(client, built.image_id)
    # By id: the engine names a save after the image's first tag, which need not be ours.
    comparison = compare(original, session.summary(session.load(built.image_id, options)))
    after = Measured(tag, size, layers, _by_kind(comparison.after))
    return Verification(built, result, before, after, comparison)
