"""Python: pip packages built into a virtualenv in a builder stage.

The builder has the build-only OS packages (compilers, ``-dev``), copies only the
dependency manifests pip reads (so editing the source keeps pip's layer cached) and runs
pip with ``--no-cache-dir`` into a virtualenv without pip; the runtime copies the
virtualenv and puts its ``bin`` first on PATH, so ``python``, pip-installed scripts and the
program's imports resolve to it exactly as the original's did.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from typing import TYPE_CHECKING

from slimview.dockerfile import shell as cmd
from slimview.dockerfile.instruction import Instruction
from slimview.findings.model import FindingKind
from slimview.index.model import ImageIndex
from slimview.packages.classify import is_python_tooling
from slimview.rewrite import deep, distroless
from slimview.rewrite import dockerignore as di
from slimview.rewrite.copies import context_path
from slimview.rewrite.model import Change, Fix, fixes
from slimview.rewrite.ospackages import PackagePlan, package_comments, split_build_only
from slimview.rewrite.smoke import smoke_command
from slimview.rewrite.stacks.plain import Plain
from slimview.rewrite.target import RewriteSource
from slimview.rewrite.writer import Stored, merge_runs
from slimview.source.tarstream import EntryType

if TYPE_CHECKING:
    from slimview.rewrite.writer import StageWriter

VENV = "/opt/venv"

MANIFESTS = re.compile(
    r"^(?:requirements[\w.-]*\.(?:txt|in)|constraints[\w.-]*\.txt|pyproject\.toml|setup\.py|setup\.cfg|poetry\.lock|"
    r"Pipfile(?:\.lock)?|uv\.lock|pdm\.lock|package(?:-lock)?\.json|yarn\.lock|pnpm-lock\.yaml)$"
)
_PYTHON_LIB = re.compile(r"^usr/(?:local/)?lib/python(3\.\d+)/")
_PYTHON_BIN = re.compile(r"^usr/(?:local/)?bin/python(3\.\d+)$")


def python_version(index: ImageIndex) -> str | None:
    """The X.Y of the Python the image runs: the version whose library directory holds the
    most bytes, among versions with an interpreter in ``usr/bin`` or ``usr/local/bin``."""
    interpreters: set[str] = set()
    library_bytes: dict[str, int] = {}
    for path, entry, _layer in index.final_files():
        m = _PYTHON_BIN.match(path)
        if m:
            interpreters.add(m.group(1))
            continue
        m = _PYTHON_LIB.match(path)
        if m and entry.type == EntryType.FILE:
            library_bytes[m.group(1)] = library_bytes.get(m.group(1), 0) + entry.size
    found = [v for v in interpreters if v in library_bytes] or sorted(interpreters)
    if not found:
        return None
    return max(found, key=lambda v: (library_bytes.get(v, 0), tuple(int(p) for p in v.split("."))))


def installs_python_packages(source: RewriteSource) -> bool:
    """Whether the stage runs pip (then the rewrite is a builder/runtime pair around a virtualenv)."""
    return any(
        c.kind == cmd.PIP_INSTALL
        for ins in source.instructions
        if ins.keyword == "RUN" and not ins.exec_form
        for c in cmd.analyse_run(ins.args)
    )


def has_python(image: str) -> bool:
    """Whether ``image`` is an official python:X.Y image (python, pip and venv included)."""
    name = image.rsplit("/", 1)[-1]
    return name.startswith("python:") or name.startswith("python@")


class Python(Plain):
    """Plain's defaults where Python needs nothing of its own (its builder takes no context
    copy as input, the runtime runs the original's command, the base has no user)."""

    name = "python"
    serves = False  # verify proves it by importing what the program imports

    def runtime_base(self, version: str | None, family: str, original: str) -> tuple[str, str] | None:
        if version is None:
            return None
        flavour = "alpine" if family == "alpine" else "slim"
        image = f"python:{version}-{flavour}"
        change = " (unchanged)" if original == image else f" (it was {original})" if original else ""
        return image, f"{image}{change} matches the Python {version} the image runs."

    def builder_base(self, runtime_base: str) -> str:
        """The builder's base: the runtime's, unless that has no shell to build in."""
        return distroless.PYTHON_BUILDER if distroless.is_distroless_python(runtime_base) else runtime_base

    def venv(self, w: StageWriter) -> str:
        return w.original.venv or VENV

    def copied_from_builder(self, w: StageWriter) -> str | None:
        return self.venv(w)

    def packages(self, w: StageWriter) -> PackagePlan:
        requested = w.requested
        tooling = [p for p in requested if is_python_tooling(p)]  # python, pip, venv from the distribution
        plan = PackagePlan(w.manager)
        split_build_only([p for p in requested if p not in tooling], plan, w.facts.build_packages, w.facts.shared_libraries)
        if distroless.is_distroless_python(w.facts.runtime_base):
            # Debian's Python in the builder is distroless's: the virtualenv's links resolve in both.
            plan.build += [p for p in ("python3-pip", "python3-venv") if p not in plan.build]
        elif not w.facts.base_has_python:
            # A base without Python: the builder needs pip and venv, the runtime the interpreter.
            plan.build += [p for p in ("python3", "python3-pip", "python3-venv") if p not in plan.build]
            plan.runtime = ["python3", *plan.runtime]
        if w.facts.deep is not None:
            plan.build += deep.strip_tools(plan.build)
        if tooling and w.facts.base_has_python:
            plan.comments.append(f"{', '.join(tooling)}: {w.facts.runtime_base} provides these.")
        elif tooling:
            plan.comments.append(f"{', '.join(tooling)}: the virtualenv needs only python3 at run time.")
        return plan

    # -- builder ---------------------------------------------------------------------------------

    def builder(self, w: StageWriter) -> list[Instruction]:
        venv = self.venv(w)
        out = [Instruction("FROM", f"{self.builder_base(w.facts.runtime_base)} AS {w.builder_name()}", [
            "Builder stage: compilers and headers stay here; only the virtualenv moves on."
        ])]
        out += w.args()
        # The builder keeps PATH as its base sets it: python3 there must be the base's, with pip.
        out += w.builder_env()
        build = w.packages.build
        if build:
            saved = w.facts.savings.build_tools
            comments = package_comments(w) + [f"Build-only packages stay in this stage{fixes((FindingKind.BUILD_TOOLS, saved))}."]
            out.append(Instruction("RUN", w.install(build), comments))
            w.ledger.fixes.append(Fix(FindingKind.BUILD_TOOLS, "build-only packages only in the builder: " + ", ".join(build), saved))
        workdir = w.original.workdir_at[w.original.pips[0][0]]
        if workdir != "/":
            out.append(Instruction("WORKDIR", workdir))
        manifests = self._manifest_copy(w, workdir)
        if manifests:
            out.append(Instruction("COPY", manifests, ["Dependency manifests first: editing the source no longer re-runs pip."]))
            w.ledger.fixes.append(Fix(Change.CACHE_ORDER, "dependency manifests copied and installed before the source"))
        if any(command.local for _n, command in w.original.pips):
            tree = self._source_tree_copy(w)
            if tree:
                out.append(Instruction("COPY", tree, ["pip installs the project itself, so it needs the source tree."]))
        cache = w.facts.savings.pip_cache
        for n, command in w.original.pips:
            if cmd.is_pip_tooling_upgrade(command):
                continue
            args = " ".join(shlex.quote(a) for a in command.pip_args)
            comments = w.ledger.comments(n)
            comments.append(f"--no-cache-dir: pip's download cache never reaches a layer{fixes(*cache.kinds())}.")
            if cache.hidden:
                w.ledger.fixes.append(Fix(FindingKind.HIDDEN_BYTES, "pip's cache never stored: pip runs with --no-cache-dir", cache.hidden))
            if cache.visible:
                w.ledger.fixes.append(Fix(FindingKind.PACKAGE_CACHE, "no pip cache left in the image: pip runs with --no-cache-dir", cache.visible))
            cache = Stored()
            # The user's RUN flags stay with their pip step (a secret or a bind mount it reads).
            out.append(Instruction(
                "RUN", f"python3 -m pip --python {venv}/bin/python install --no-cache-dir {args}", comments,
                flags=w.source.instructions[n].flags,
            ))
        # The virtualenv is made by the first pip step's RUN (one RUN, so hadolint's DL3059 holds).
        first_pip = next((i for i, ins in enumerate(out) if ins.keyword == "RUN" and " -m pip " in ins.args), len(out))
        out.insert(first_pip, Instruction(
            "RUN", f"python3 -m venv --without-pip {venv}",
            [f"A virtualenv without pip: the runtime stage copies {venv} and nothing else from here."],
            flags=out[first_pip].flags if first_pip < len(out) else (),
        ))
        if w.facts.deep is not None:
            out += deep.python_trims(w, venv)
        return merge_runs(out)

    def _manifest_copy(self, w: StageWriter, workdir: str) -> str:
        """``COPY`` arguments for the requirement files pip reads, or ""."""
        wanted: list[str] = []
        for _n, command in w.original.pips:
            wanted += [path for path in command.requirements if path not in wanted]
        if not wanted:
            return ""
        sources = []
        for path in wanted:
            absolute = posixpath.normpath(posixpath.join(workdir, path))
            source = context_path(w, absolute) or path
            sources.append(source)
            w.ledger.copied.append((source, False))
        targets = {posixpath.dirname(posixpath.normpath(posixpath.join(workdir, p))) for p in wanted}
        dest = (targets.pop() if len(targets) == 1 else workdir).rstrip("/") + "/"
        return " ".join([*sources, dest])

    def _source_tree_copy(self, w: StageWriter) -> str:
        for step in w.original.copies.values():
            if step.reads_context and step.whole_context:
                w.ledger.copied.append((".", True))
                return f". {step.dest}"
        return ""

    # -- runtime ---------------------------------------------------------------------------------

    def starts_app(self, w: StageWriter, n: int) -> bool:
        copy = w.original.copies.get(n)
        return (copy is not None and copy.reads_context) or any(p[0] == n for p in w.original.pips)

    def artifacts(self, w: StageWriter) -> list[Instruction]:
        venv = self.venv(w)
        env = f'PATH="{venv}/bin:$PATH"'
        pythonpath = self._pythonpath(w, venv)
        if pythonpath:
            env += f" PYTHONPATH={pythonpath}"
        w.ledger.fixes.append(Fix(Change.PYTHON, f"pip packages in a virtualenv ({venv}) built in the builder stage"))
        out = [
            Instruction("COPY", f"--from={w.builder_name()} {venv} {venv}", [
                "The virtualenv the builder made; its bin/ first on PATH, so python, pip-installed",
                "scripts and the program's imports resolve to it exactly as the original's did.",
            ]),
            Instruction("ENV", env),
        ]
        if w.facts.deep is not None:
            out += deep.python_runtime(w)
        return out

    def _pythonpath(self, w: StageWriter, venv: str) -> str:
        """PYTHONPATH, needed only when the program's interpreter is named by an absolute
        path outside the virtualenv (PATH does not apply then)."""
        command = w.exec_command()
        interpreter = command[0] if command else ""
        if interpreter.startswith("/") and re.search(r"/python[\d.]*$", interpreter) and not interpreter.startswith(venv + "/"):
            return f"{venv}/lib/python{w.facts.python}/site-packages"
        return ""

    def replaces(self, command: cmd.Command) -> bool:
        return command.kind in (cmd.PIP_INSTALL, cmd.VENV)

    def is_manifest(self, name: str, is_dir: bool) -> bool:
        return not is_dir and bool(MANIFESTS.match(name))

    def alternatives(self, w: StageWriter) -> list[str]:
        return distroless.python_note(w)

    def ignore_patterns(self) -> list[tuple[str, tuple[str, ...]]]:
        return [("Python caches, virtualenvs and tool output.", di.PYTHON), (di.NOT_RUNTIME_COMMENT, di.NOT_RUNTIME)]

    def smoke(self, command: list[str]) -> list[str] | None:
        return smoke_command(command, True)

    def base_entrypoint(self, runtime_base: str) -> list[str]:
        return list(distroless.PYTHON_ENTRYPOINT) if distroless.is_distroless_python(runtime_base) else []



PYTHON = Python()
