"""Prove a rewrite: build it with the engine, run a smoke command in it, and measure it
against the original the way ``docker image inspect`` does.

The build runs on a temporary copy of the build context (hard links where possible) that
has the rewrite's .dockerignore in place, so the user's own .dockerignore is never touched.
Containers get no network (``--network none``); builds use the host's (``--network host``).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field

from slimview.errors import EngineError, InputError

BUILD_TIMEOUT_S = 1800
SMOKE_TIMEOUT_S = 300
LOG_LINES = 25

SERVERS = ("uvicorn", "gunicorn", "hypercorn", "daphne", "granian")
_PYTHON = re.compile(r"^python[\d.]*$")
_APP_SPEC = re.compile(r"^(?P<module>[A-Za-z_][\w.]*):(?P<attr>[A-Za-z_]\w*)(?P<call>\(.*\))?$")
_MODULE = re.compile(r"^[A-Za-z_][\w.]*$")

# Imports every module a script or module imports at its top level, without running it.
# The target is a script path, a module name, or "-c" followed by the code itself.
_IMPORTS_OF = (
    "import ast, importlib, importlib.util, sys\n"
    "target = sys.argv[1]\n"
    "if target == '-c':\n"
    "    path, code = '<string>', sys.argv[2]\n"
    "else:\n"
    "    if target.endswith('.py'):\n"
    "        path = target\n"
    "    else:\n"
    "        spec = importlib.util.find_spec(target)\n"
    "        main = spec.submodule_search_locations and importlib.util.find_spec(target + '.__main__')\n"
    "        path = (main or spec).origin\n"
    "    code = open(path, encoding='utf-8').read()\n"
    "tree = ast.parse(code, path)\n"
    "names = [a.name for n in tree.body if isinstance(n, ast.Import) for a in n.names]\n"
    "names += [n.module for n in tree.body if isinstance(n, ast.ImportFrom) and n.level == 0 and n.module]\n"
    "for name in names:\n"
    "    importlib.import_module(name)\n"
    "print('imports ok:', ', '.join(names) or '(none)')\n"
)


def smoke_command(command: list[str], python_app: bool) -> list[str] | None:
    """A command proving the program's imports work, derived from its ENTRYPOINT + CMD.

    ``python -m uvicorn pkg.mod:app`` (or ``uvicorn pkg.mod:app``) imports ``pkg.mod`` and
    reads ``app``; ``python script.py``, ``python -m pkg`` and ``python -c CODE`` import what
    the code imports at its top level, without running it. Other programs: check the
    executable is there.
    """
    if not command:
        return None
    program = os.path.basename(command[0])
    args = command[1:]
    python = command[0] if _PYTHON.match(program) else "python"
    if _PYTHON.match(program):
        if args[:1] == ["-m"] and len(args) >= 2:
            module, rest = args[1], args[2:]
            if module in SERVERS:
                return _server_smoke(python, rest) or [python, "-c", f"import {module}"]
            return [python, "-c", _IMPORTS_OF, module] if _MODULE.match(module) else None
        script = _script(args)
        if script is not None:
            return [python, "-c", _IMPORTS_OF, script]
        if "-c" in args and args.index("-c") + 1 < len(args):
            return [python, "-c", _IMPORTS_OF, "-c", args[args.index("-c") + 1]]
        return [python, "-c", "import sys; print(sys.version)"]
    if program in SERVERS:
        return _server_smoke(python, args) or [python, "-c", f"import {program}"]
    if python_app:
        return None
    return ["sh", "-c", f"command -v {shlex.quote(command[0])}"]


def _script(args: list[str]) -> str | None:
    """The script ``python [options] script.py [args]`` runs, if that is the command's shape."""
    i = 0
    while i < len(args) and args[i].startswith("-"):
        if args[i] in ("-c", "-m"):
            return None  # code or a module, not a script
        i += 2 if args[i] in ("-X", "-W") else 1
    return args[i] if i < len(args) and args[i].endswith(".py") else None


def _server_smoke(python: str, args: list[str]) -> list[str] | None:
    for arg in args:
        m = _APP_SPEC.match(arg)
        if m:
            module, attr = m.group("module"), m.group("attr")
            return [python, "-c", f"import importlib; getattr(importlib.import_module({module!r}), {attr!r}); print('import ok: {module}:{attr}')"]
    return None


# -- the engine -----------------------------------------------------------------------------------


def docker_cli() -> str:
    """The docker CLI to build with: one that has the classic builder and BuildKit."""
    for candidate in (os.environ.get("SLIMVIEW_DOCKER"), "/usr/bin/docker", shutil.which("docker")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise EngineError("verify needs the docker command-line client (set SLIMVIEW_DOCKER to its path)")


def _cli_env(buildkit: bool) -> dict[str, str]:
    from slimview.source.engine import engine_host

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


def stage_context(context: str, dockerignore: str, workdir: str, skip: set[str]) -> str:
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


def build(dockerfile: str, context: str, dockerignore: str, tag: str, *, skip: set[str] = frozenset(), buildkit: bool = True) -> BuildResult:
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
    from slimview.source.engine import inspect_image

    attrs = inspect_image(client, reference).attrs
    return int(attrs.get("Size") or 0), len((attrs.get("RootFS") or {}).get("Layers") or [])


def findings_by_kind(findings) -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    for finding in findings:
        count, size = out.get(finding.kind, (0, 0))
        out[finding.kind] = (count + 1, size + finding.bytes)
    return out


def _findings_cell(found: tuple[int, int] | None) -> str:
    from slimview.report.format import human_bytes

    if found is None:
        return "gone"
    count, size = found
    return f"{count} ({human_bytes(size)})" if size else str(count)


def render_table(before: Measured, after: Measured) -> str:
    """The before/after table: size and layers as ``docker image inspect`` reports them, and
    the findings of each kind (count, bytes) in both images."""
    from slimview.report.format import human_bytes

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

    @property
    def ok(self) -> bool:
        return self.build.ok and self.smoke is not None and self.smoke.ok


def default_tag(index) -> str:
    """``python-inference:latest`` → ``python-inference:slimview``."""
    source = index.source
    name = source.repo_tags[0] if source.repo_tags else ""
    repo = name.rsplit(":", 1)[0] if ":" in name.rsplit("/", 1)[-1] else name
    return f"{repo or 'slimview-verify'}:slimview"


def measure_original(index, findings, client) -> Measured:
    """The original as the engine reports it; an image read from a file is measured by its layers."""
    by_kind = findings_by_kind(findings)
    if index.source.kind == "engine":
        size, layers = inspect(client, index.source.config_digest)
        return Measured(index.source.name, size, layers, by_kind)
    return Measured(index.source.name, index.size, len(index.layers), by_kind)


def verify(index, findings, rewrite, context: str, tag: str, smoke_cmd: list[str] | None, *, buildkit: bool = True, options=None) -> Verification:
    """Build ``rewrite`` over ``context``, smoke-test it and measure both images."""
    from slimview.findings import analyze
    from slimview.index import build_index
    from slimview.rewrite import dockerignore
    from slimview.source.engine import connect

    client = connect()
    before = measure_original(index, findings, client)
    skip = {name for name in os.listdir(context) if dockerignore.is_ignored(name, dockerignore.read_patterns(rewrite.dockerignore))}
    built = build(rewrite.dockerfile, context, rewrite.dockerignore, tag, skip=skip, buildkit=buildkit)
    if not built.ok:
        return Verification(built, None, before, None)
    command = smoke_cmd or rewrite.smoke
    result = smoke(tag, command) if command else SmokeResult(False, [], "no smoke command could be derived from the image's CMD; pass --smoke")
    size, layers = inspect(client, built.image_id)
    # By id: the engine names a save after the image's first tag, which need not be ours.
    after_index = build_index(built.image_id, options) if options is not None else build_index(built.image_id)
    after = Measured(tag, size, layers, findings_by_kind(analyze(after_index)))
    return Verification(built, result, before, after)
