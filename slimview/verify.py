"""``slimview verify``: build a rewrite with the engine, run its smoke command in the built
image, and measure both images the way ``docker image inspect`` does, with their findings.

A command-level workflow over the stages (rewrite, then source → index → findings again
on the built image through ``slimview.session``), not a rewrite step. It fails when:

- the rewrite does not build, or its smoke command fails (for a service: it does not start,
  answer its health endpoint and stay up);
- slimview's own report on the built rewrite is not a fixed point: it leaves a finding of
  a kind the rewrite claims to fix, or has one the original did not have (findings stored
  in the runtime base's own layers are the base's, and only noted);
- with ``--reference DOCKERFILE``, the rewrite is larger than that hand-written Dockerfile
  built over the same context;
- with ``--deep``, the trimmed twin fails any of the above; each trim's bytes are measured
  as the difference between the two built images.

The build runs on a temporary copy of the build context (hard links where possible) that
has the rewrite's .dockerignore in place, so the user's own .dockerignore is never touched.
Smoke commands run with no network (``--network none``); a service runs with the host's
network on a free loopback port and is always removed; builds use the host's network.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from slimview import session
from slimview.compare import Comparison, ImageSummary, compare, finding_key
from slimview.display import human_bytes, printable
from slimview.errors import EngineError, InputError
from slimview.findings import Analysis, Finding, FindingKind
from slimview.findings.details import CacheDetails, NoHealthcheckDetails, RootUserDetails
from slimview.index import IndexOptions
from slimview.rewrite import deep, dockerignore
from slimview.rewrite.model import Fix, Rewrite
from slimview.rewrite.smoke import HEALTH_PATHS
from slimview.source.engine import connect, engine_host, inspect_image

BUILD_TIMEOUT_S = 1800
SMOKE_TIMEOUT_S = 300
LOG_LINES = 25
SERVICE_START_S = 60  # for the service to answer its health endpoint
SERVICE_STAY_S = 3  # and then to be still up and answering
STOP_GRACE_S = 10  # docker stop's wait before SIGKILL


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
    summary: str = ""  # what passed, when it is not the command (a service's health check)


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


def _free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _ask(url: str) -> int | None:
    """The HTTP status ``url`` answers with (never through a proxy), None when nothing answers."""
    # Imported here: urllib.request brings http.client, email and ssl (1.5 MB, ~20 ms), which
    # every other command would load for nothing; only a service check asks anything.
    import urllib.error
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, OSError):
        return None


def _docker(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [docker_cli(), *args], env=_cli_env(True), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout, check=False,
    )


def _running(container: str) -> bool:
    return _docker("inspect", "-f", "{{.State.Running}}", container).stdout.strip() == "true"


def service_check(tag: str, paths: Sequence[str]) -> SmokeResult:
    """Run ``tag`` as a service (host network, ``PORT`` a free loopback port, ``HOST``
    127.0.0.1), wait until one of ``paths`` answers 2xx, check it is still up and answering
    SERVICE_STAY_S later, then stop it with SIGTERM (how long that took is reported). The
    container is removed whatever happens."""
    port = _free_loopback_port()
    started = _docker("run", "-d", "--network", "host", "-e", f"PORT={port}", "-e", "HOST=127.0.0.1", tag)
    shown = ["GET", f"http://127.0.0.1:{port}{paths[0]}"]
    if started.returncode != 0:
        return SmokeResult(False, shown, started.stdout)
    container = started.stdout.strip().splitlines()[-1]
    try:
        return _watch(container, port, paths)
    finally:
        _docker("rm", "-f", container)


def _watch(container: str, port: int, paths: Sequence[str]) -> SmokeResult:
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + SERVICE_START_S
    answered: tuple[str, int] | None = None
    seen: dict[str, int] = {}
    while answered is None:
        for path in paths:
            status = _ask(base + path)
            if status is not None:
                seen[path] = status
            if status is not None and 200 <= status < 300:
                answered = (path, status)
                break
        if answered is not None:
            break
        if not _running(container):
            logs = _docker("logs", "--tail", str(LOG_LINES), container).stdout
            return SmokeResult(False, ["GET", base + paths[0]], f"the service exited before answering:\n{logs}")
        if time.monotonic() > deadline:
            heard = ", ".join(f"{p} answered {code}" for p, code in seen.items()) or "nothing answered"
            logs = _docker("logs", "--tail", str(LOG_LINES), container).stdout
            return SmokeResult(False, ["GET", base + paths[0]], (
                f"no 2xx from {', '.join(paths)} on 127.0.0.1:{port} within {SERVICE_START_S} s ({heard}); the service is "
                f"given PORT={port} and HOST=127.0.0.1 (pass --health PATH for its health endpoint, or --smoke)\n{logs}"
            ))
        time.sleep(0.25)
    path, status = answered
    command = ["GET", base + path]
    time.sleep(SERVICE_STAY_S)
    again = _ask(base + path)
    if not _running(container) or again is None or not 200 <= again < 300:
        logs = _docker("logs", "--tail", str(LOG_LINES), container).stdout
        return SmokeResult(False, command, f"it answered {path} ({status}) but was not up and answering {SERVICE_STAY_S} s later:\n{logs}")
    stopping = time.monotonic()
    _docker("stop", "-t", str(STOP_GRACE_S), container, timeout=STOP_GRACE_S + 60)
    took = time.monotonic() - stopping
    stop = (f"stopped by SIGTERM in {took:.1f} s" if took < STOP_GRACE_S
            else f"ignored SIGTERM for {STOP_GRACE_S} s and was killed")
    summary = f"the service started, answered GET {path} ({status}), was still up {SERVICE_STAY_S} s later, and {stop}"
    return SmokeResult(True, command, "", summary)


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


def render_table(before: Measured, *afters: Measured) -> str:
    """The before/after table: size and layers as ``docker image inspect`` reports them, and
    the findings of each kind (count, bytes) in every image; one column per image."""
    ratios = [f"{100 * a.size / before.size:.1f} % of before" if before.size else "" for a in afters]
    size = [f"{human_bytes(m.size)} ({m.size:,} B)" for m in (before, *afters)]
    if len(afters) == 1:  # one rewrite: the share in a column of its own
        rows = [("", before.name, afters[0].name, ""), ("size", *size, ratios[0]), ("layers", str(before.layers), str(afters[0].layers), "")]
    else:
        rows = [("", before.name, *(a.name for a in afters)), ("size", *size), ("", "", *ratios), ("layers", *(str(m.layers) for m in (before, *afters)))]
    width = len(rows[0])
    rows.append(("findings", *[""] * (width - 1)))
    kinds = sorted(set(before.findings).union(*(a.findings for a in afters)), key=lambda k: (-before.findings.get(k, (0, 0))[1], k))
    for kind in kinds:
        cells = [_findings_cell(before.findings.get(kind)) if kind in before.findings else "-"]
        cells += [_findings_cell(a.findings.get(kind)) if kind in before.findings or kind in a.findings else "-" for a in afters]
        rows.append((f"  {kind}", *cells, *[""] * (width - 1 - len(cells))))
    widths = [max(len(row[i]) for row in rows) for i in range(width)]
    return "".join("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() + "\n" for row in rows)


def shown_command(command: list[str]) -> str:
    """A command as a person would type it (double quotes where needed)."""
    def quote(arg: str) -> str:
        if arg and not re.search(r"[\s'\"$`\\;&|<>()*?]", arg):
            return arg
        return '"' + re.sub(r'(["\\$`])', r"\\\1", arg) + '"'

    return " ".join(quote(a) for a in command)


# -- is the rewrite a fixed point? ------------------------------------------------------------


def _key(finding: Finding) -> str:
    """What makes a finding of the rewrite one the original had: the comparison's key
    (which cache, which config check), coarsened to the kind where that key names a file or
    what the bytes were (a rewrite moves files: pip's /usr/local/lib/... is /opt/venv/...)."""
    if isinstance(finding.details, (CacheDetails, RootUserDetails, NoHealthcheckDetails)):
        return finding_key(finding)
    return finding.kind.value


def _claimed(finding: Finding, fixes: list[Fix]) -> bool:
    """Whether the rewrite claims to fix ``finding``'s kind (for config: running as root)."""
    if finding.kind == FindingKind.CONFIG:
        return isinstance(finding.details, RootUserDetails) and any(fix.kind == FindingKind.CONFIG for fix in fixes)
    return any(fix.kind == finding.kind for fix in fixes)


def _in_base(finding: Finding, base_layers: int) -> bool:
    return finding.layer is not None and finding.layer < base_layers and all(p.layer < base_layers for p in finding.paths)


def judge(original: list[Finding], rebuilt: list[Finding], fixes: list[Fix], base_layers: int) -> tuple[list[str], list[str]]:
    """(problems, notes): the findings on the built rewrite it should not have, and those
    its runtime base brought (``base_layers``: the bottom layers that are the base's).

    A finding of a kind the rewrite claims to fix is a problem, and so is one the original
    did not have; one the original had and the rewrite does not claim to fix (a step it
    keeps as written) is not."""
    had = {_key(f) for f in original}
    problems: list[str] = []
    notes: list[str] = []
    for finding in rebuilt:
        what = f"{finding.kind}{f' {human_bytes(finding.bytes)}' if finding.bytes else ''}: {printable(finding.title)}"
        if _in_base(finding, base_layers):
            notes.append(f"the runtime base brings {what}")
        elif _claimed(finding, fixes):
            problems.append(f"it leaves a finding it claims to fix: {what}")
        elif _key(finding) not in had:
            problems.append(f"it has a finding the original did not have: {what}")
    return problems, notes


# -- building and measuring -----------------------------------------------------------------------


@dataclass
class Built:
    """One image verify built: how the build went, its smoke run, its figures and findings."""

    build: BuildResult
    smoke: SmokeResult | None = None
    measured: Measured | None = None
    analysis: Analysis | None = None
    comparison: Comparison | None = None  # the original against this image


@dataclass
class TrimMeasure:
    """What one --deep trim removed, measured on the two built images."""

    label: str
    before: int  # bytes under the trim's rule in the rewrite
    after: int  # and in its --deep twin


@dataclass
class Verification:
    """What `slimview verify` found: the builds, the smoke runs and every image's figures."""

    before: Measured
    rewrite: Built
    deep: Built | None = None
    reference: Built | None = None
    problems: list[str] = field(default_factory=list)  # why the rewrite is not good enough, one line each
    notes: list[str] = field(default_factory=list)
    trims: list[TrimMeasure] = field(default_factory=list)

    @property
    def built(self) -> list[Built]:
        return [b for b in (self.rewrite, self.deep) if b is not None]

    @property
    def ok(self) -> bool:
        return all(b.build.ok and b.smoke is not None and b.smoke.ok for b in self.built) and not self.problems


def default_tag(index) -> str:
    """``python-inference:latest`` → ``python-inference:slimview``."""
    source = index.source
    name = source.repo_tags[0] if source.repo_tags else ""
    repo = name.rsplit(":", 1)[0] if ":" in name.rsplit("/", 1)[-1] else name
    return f"{repo or 'slimview-verify'}:slimview"


def sibling_tag(tag: str, suffix: str) -> str:
    """``python-inference:slimview`` → ``python-inference:slimview-deep``."""
    if ":" in tag.rsplit("/", 1)[-1]:
        return f"{tag}-{suffix}"
    return f"{tag}:{suffix}"


def _by_kind(summary: ImageSummary) -> dict[str, tuple[int, int]]:
    return {kind.value: found for kind, found in summary.findings_by_kind().items()}


def measure_original(analysis: Analysis, client, summary: ImageSummary) -> Measured:
    """The original as the engine reports it; an image read from a file is measured by its
    layers. Its findings are those of ``summary``, what the comparisons with the builds use."""
    index = analysis.index
    by_kind = _by_kind(summary)
    if index.source.kind == "engine":
        size, layers = inspect(client, index.source.config_digest)
        return Measured(index.source.name, size, layers, by_kind)
    return Measured(index.source.name, index.size, len(index.layers), by_kind)


def _skip(context: str, ignore: str) -> set[str]:
    patterns = dockerignore.read_patterns(ignore)
    return {name for name in os.listdir(context) if dockerignore.is_ignored(name, patterns)}


def _analysed(client, built: BuildResult, tag: str, original: ImageSummary, options: IndexOptions | None) -> tuple[Measured, Analysis, Comparison]:
    """A built image measured, analysed and compared with the original."""
    size, layers = inspect(client, built.image_id)
    # By id: the engine names a save after the image's first tag, which need not be ours.
    analysis = session.load(built.image_id, options)
    comparison = compare(original, session.summary(analysis))
    return Measured(tag, size, layers, _by_kind(comparison.after)), analysis, comparison


def _build_and_measure(
    client, rewrite: Rewrite, context: str, tag: str, smoke_cmd: list[str] | None, buildkit: bool,
    options: IndexOptions | None, original: ImageSummary, health: str | None,
) -> Built:
    built = build(rewrite.dockerfile, context, rewrite.dockerignore, tag, skip=_skip(context, rewrite.dockerignore), buildkit=buildkit)
    if not built.ok:
        return Built(built)
    command = smoke_cmd or (None if health or rewrite.service else rewrite.smoke)
    if command:
        result = smoke(tag, command)
    elif health or rewrite.service:
        result = service_check(tag, (health,) if health else HEALTH_PATHS)
    else:
        result = SmokeResult(False, [], "no smoke command could be derived from the image's CMD; pass --smoke (or --health PATH for a service)")
    measured, analysis, comparison = _analysed(client, built, tag, original, options)
    return Built(built, result, measured, analysis, comparison)


def reference_dockerignore(reference: str, context: str) -> str:
    """What BuildKit would read as the reference's .dockerignore: ``DOCKERFILE.dockerignore``
    beside it, else the context's own."""
    for path in (reference + ".dockerignore", os.path.join(context, ".dockerignore")):
        try:
            with open(path, encoding="utf-8") as fh:
                return fh.read()
        except FileNotFoundError:
            continue
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read {path}: {exc}") from None
    return ""


def _build_reference(client, reference: str, context: str, tag: str, options: IndexOptions | None, original: ImageSummary) -> Built:
    try:
        with open(reference, encoding="utf-8") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the reference Dockerfile {reference}: {exc}") from None
    ignore = reference_dockerignore(reference, context)
    built = build(text, context, ignore, tag, skip=_skip(context, ignore), buildkit=True)  # references may use BuildKit's mounts
    if not built.ok:
        return Built(built)
    measured, analysis, comparison = _analysed(client, built, tag, original, options)
    return Built(built, measured=measured, analysis=analysis, comparison=comparison)


def _measure_trims(rewrite: Built, twin: Built, under: str) -> list[TrimMeasure]:
    """What each --deep trim removed from the directory ``under`` (the virtualenv)."""
    assert rewrite.analysis is not None and twin.analysis is not None, "both images were built and analysed"
    before, after = deep.visible_bytes(rewrite.analysis.index, under), deep.visible_bytes(twin.analysis.index, under)
    return [TrimMeasure(rule.label, before.get(rule.key, 0), after.get(rule.key, 0)) for rule in deep.MEASURED]


def verify(
    analysis: Analysis, rewrite: Rewrite, context: str, tag: str, smoke_cmd: list[str] | None, *,
    buildkit: bool = True, options: IndexOptions | None = None, deep_rewrite: Rewrite | None = None, reference: str | None = None,
    health: str | None = None,
) -> Verification:
    """Build ``rewrite`` over ``context`` (and its --deep twin, and the ``reference``
    Dockerfile, when given), smoke-test what was built and measure every image. ``health``:
    the path of a service's health endpoint (the rewrite of a service asks HEALTH_PATHS)."""
    client = connect()
    original = session.summary(analysis)
    result = Verification(
        measure_original(analysis, client, original), _build_and_measure(client, rewrite, context, tag, smoke_cmd, buildkit, options, original, health),
    )
    if not result.rewrite.build.ok:
        return result
    pairs = [(rewrite, result.rewrite)]
    if deep_rewrite is not None:
        result.deep = _build_and_measure(client, deep_rewrite, context, sibling_tag(tag, "deep"), smoke_cmd, buildkit, options, original, health)
        if not result.deep.build.ok:
            return result
        pairs.append((deep_rewrite, result.deep))
        if deep_rewrite.copied_from_builder:
            result.trims = _measure_trims(result.rewrite, result.deep, deep_rewrite.copied_from_builder)
    for made, built in pairs:
        assert built.analysis is not None and built.comparison is not None, "a built image is analysed and compared"
        problems, notes = judge(analysis.findings, built.analysis.findings, made.fixes, built.comparison.after.base.layers)
        name = built.measured.name if built.measured is not None else ""
        result.problems += [f"{name}: {p}" for p in problems]
        result.notes += [f"{name}: {n}" for n in notes]
    if reference is not None:
        result.reference = _build_reference(client, reference, context, sibling_tag(tag, "reference"), options, original)
        ref = result.reference.measured
        if ref is not None:
            for built in result.built:
                assert built.measured is not None, "a built image is measured"
                if built.measured.size > ref.size:
                    result.problems.append(
                        f"{built.measured.name}: {human_bytes(built.measured.size)} ({built.measured.size:,} B) is larger than "
                        f"the reference {os.path.basename(reference)}: {human_bytes(ref.size)} ({ref.size:,} B)"
                    )
    return result
