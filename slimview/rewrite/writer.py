"""The rewritten Dockerfile, for every stack: a builder stage when the stack has one
(slimview/rewrite/stacks/), and a runtime stage that follows the original instruction by
instruction, so the program starts exactly as before (same WORKDIR, ENV, EXPOSE,
ENTRYPOINT/CMD), with these changes, each commented with the finding it fixes and the
bytes it saves:

- OS packages (ospackages.py): build-only ones move to the builder when the stack has one;
  the rest are installed in one RUN that leaves no list, archive or cache behind;
- the stack's own steps (a pip install, say) run in the builder, and the runtime copies
  what they made;
- context copies take only the application's own files (copies.py), owned by the user
  that runs them;
- a non-root user (user.py), exec-form CMD/ENTRYPOINT, and the original's command written
  out when it came from a base the rewrite replaces.

Anything not recognised is kept, in its place.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from slimview.dockerfile import shell as cmd
from slimview.dockerfile.instruction import Instruction, render_instructions
from slimview.dockerfile.values import exec_array, json_array
from slimview.findings.model import FindingKind
from slimview.packages.model import Manager
from slimview.rewrite import ospackages, user
from slimview.rewrite.copies import CopyStep, chown_covered, left_in_builder, rewrite_copy
from slimview.rewrite.deep import DeepFacts
from slimview.rewrite.layers import CopiedEntry
from slimview.rewrite.model import Fix, fixes
from slimview.rewrite.original import collect
from slimview.rewrite.target import RewriteSource
from slimview.rewrite.user import UserTools

if TYPE_CHECKING:
    from slimview.rewrite.stacks import Stack

_SHELL_SYNTAX = re.compile(r"[|&;<>()$`\\\"'*?\[\]#~=%{}\n]")


@dataclass(frozen=True)
class Stored:
    """Bytes the original's own layers stored under a cache directory: still ``visible``
    in the final filesystem (a package-cache finding) or ``hidden`` by a later layer's
    deletion (part of a hidden-bytes finding)."""

    visible: int = 0
    hidden: int = 0

    def kinds(self) -> tuple[tuple[FindingKind, int], ...]:
        """(finding kind, bytes) in the order comments name them."""
        return (FindingKind.HIDDEN_BYTES, self.hidden), (FindingKind.PACKAGE_CACHE, self.visible)


@dataclass(frozen=True)
class Savings:
    """Bytes each kind of change saves, by the finding kind the report gives them."""

    build_tools: int = 0
    toolchain: int = 0  # a toolchain image shipped for one program: all but the program and what it loads (tool packages included)
    package_lists: Stored = Stored()  # apt's lists and apk's index
    apt_archives: Stored = Stored()  # downloaded .debs and apt's binary caches
    pip_cache: Stored = Stored()


@dataclass
class OriginalCommand:
    """What the original image runs, from its config."""

    entrypoint: list[str]
    cmd: list[str]


@dataclass
class Facts:
    """What the writer knows beyond the instructions: the image's stack, what it wastes, the context."""

    python: str | None  # "3.11"
    family: str  # "debian", "alpine" or "" (from os-release)
    runtime_base: str  # the FROM of the runtime (and builder) stage
    base_reason: str  # why that base, for its comment
    base_has_python: bool  # the runtime base provides python, pip and venv
    build_packages: set[str] = field(default_factory=set)  # the image's build-only packages (its database's)
    junk: Callable[[str], bool] = lambda name: False  # a top-level context name that is junk
    entries: Callable[[CopyStep, int | None], list[CopiedEntry] | None] = lambda step, layer: None
    savings: Savings = Savings()
    secrets: set[str] = field(default_factory=set)  # top-level context names holding secrets
    layer_bytes: dict[int, int] = field(default_factory=dict)  # layer → bytes it stores
    # -dev package → the shared libraries it depends on (libpq-dev → libpq5), from the image's package database.
    shared_libraries: dict[str, list[str]] = field(default_factory=dict)
    runs_as_root_finding: bool = False
    no_healthcheck_finding: bool = False
    user_tools: UserTools | None = None  # how the runtime base makes users (None: by the family)
    # The original's command (its config), when the runtime base is not the original's: a
    # CMD the original inherited from its base is then written out.
    inherited: OriginalCommand | None = None
    original_command: OriginalCommand | None = None  # what the original runs (its config), whatever the base
    original_base: str = ""  # for the comment above an inherited command
    runtime_entrypoint: list[str] = field(default_factory=list)  # the runtime base's ENTRYPOINT, when known
    deep: DeepFacts | None = None  # --deep: the trims, measured on the original


@dataclass
class Written:
    text: str
    fixes: list[Fix]
    copied: list[tuple[str, bool]]  # (context path, is a directory) of every COPY source
    app_bytes: int
    runtime_packages: list[str]
    build_packages: list[str]
    kept_runs: list[int]  # instructions whose commands the runtime still runs
    exec_command: list[str]  # the runtime's ENTRYPOINT + CMD, for the smoke test
    venv: str | None
    manager: Manager  # the package manager the install commands use
    runtime: list[Instruction] = field(default_factory=list)  # the runtime stage, as written
    estimated: dict[str, int] = field(default_factory=dict)  # what the stack's builder hands the runtime, by estimate row
    context_in_builder: bool = False  # a context copy stays in the builder (the runtime copies what it made)


class Ledger:
    """What writing records as it goes: the fixes, the context paths copied, the bytes of
    the application's files, and which of the user's comments have been placed."""

    def __init__(self, source: RewriteSource):
        self.source = source
        self.fixes: list[Fix] = []
        self.copied: list[tuple[str, bool]] = []
        self.app_bytes = 0
        self.kept_runs: list[int] = []
        self.estimated: dict[str, int] = {}
        self.context_in_builder = False
        self._comments_used: set[int] = set()

    def comments(self, n: int) -> list[str]:
        """The user's comments above instruction ``n``, once: they follow what it became."""
        if n in self._comments_used:
            return []
        self._comments_used.add(n)
        return list(self.source.instructions[n].comments)


class StageWriter:
    """The shared writer: the stack says what its builder does and what the runtime copies
    from it; everything else (OS packages, the user, context copies, kept steps, the
    command) is written here the same way for every stack."""

    def __init__(self, source: RewriteSource, facts: Facts, stack: Stack):
        self.source = source
        self.facts = facts
        self.stack = stack
        self.original = collect(source)
        self.ledger = Ledger(source)
        self.last = {ins.keyword: n for n, ins in enumerate(source.instructions) if ins.keyword in ("CMD", "ENTRYPOINT")}
        self.alpine = facts.family == "alpine" or (bool(self.original.apk) and not self.original.apt)
        self.manager = Manager.APK if self.alpine else Manager.DPKG
        self.user_tools = facts.user_tools or (UserTools.BUSYBOX if self.alpine else UserTools.SHADOW)
        self.owner = user.owner(self)
        self.packages = stack.packages(self)

    @property
    def requested(self) -> list[str]:
        """The OS packages the original installs with its package manager."""
        return self.original.apk if self.alpine else self.original.apt

    def builder_name(self) -> str:
        name = "builder"
        while name in self.source.stage_names:
            name = "slimview-" + name
        return name

    def args(self) -> list[Instruction]:
        return [Instruction("ARG", i.args) for i in self.source.instructions if i.keyword == "ARG"]

    def builder_env(self) -> list[Instruction]:
        """The original's ENV for a builder stage, but PATH: the builder's tools are its base's."""
        return [Instruction("ENV", i.args) for i in self.source.instructions if i.keyword == "ENV" and "PATH" not in env_names(i.args)]

    def install(self, packages: list[str]) -> str:
        return ospackages.install(packages, self.manager)

    # -- the runtime stage -----------------------------------------------------------------------

    def runtime(self) -> list[Instruction]:
        comments = [*self.source.from_comments, f"Runtime stage: {self.facts.base_reason}"]
        out = [Instruction("FROM", self.facts.runtime_base, comments)]
        out += self.args()
        setup_done = artifacts_done = False
        for n, ins in enumerate(self.source.instructions):
            k = ins.keyword
            if not setup_done and k in ("RUN", "COPY", "ADD", "WORKDIR", "USER"):
                out += self.setup()
                setup_done = True
            if not artifacts_done and self.stack.starts_app(self, n):
                out += self.stack.artifacts(self)
                artifacts_done = True
            if k == "ARG":
                continue
            if k == "RUN":
                out += self.run(n, ins)
            elif k in ("COPY", "ADD") and self.stack.builder_input(self, n):
                left_in_builder(self, n)
            elif k in ("COPY", "ADD"):
                out += rewrite_copy(self, n, ins)
            elif k == "WORKDIR":
                out.append(Instruction("WORKDIR", self.original.workdir_at[n], ins.comments))
            elif k in ("CMD", "ENTRYPOINT"):
                if n == self.last[k]:  # an earlier one is overridden
                    out.append(self.exec_form(ins))
            elif k == "USER":
                out.append(user.original_user(self, ins))
            else:
                out.append(ins)
        if not setup_done:
            out += self.setup()
        if not artifacts_done:
            out += self.stack.artifacts(self)
        out += self.inherited_command()
        out = self.base_entrypoint(out)
        if self.original.runs_as_root:
            out = user.place_user(out, user.user_instruction(self))
        out[0].comments.extend(self.stack.alternatives(self))  # once the stage is known: what it keeps decides
        return merge_runs(out)

    def setup(self) -> list[Instruction]:
        """One RUN: the runtime's OS packages and the user that runs the program."""
        commands: list[str] = []
        comments = ospackages.package_comments(self)
        lists, archives = self.facts.savings.package_lists, self.facts.savings.apt_archives
        plan = self.packages
        if plan.runtime:
            saved = fixes(*lists.kinds(), *archives.kinds())
            comments.append(f"Runtime packages only, with {ospackages.how(self.manager)}{saved}.")
            commands.append(self.install(plan.runtime))
        if lists.hidden:
            self.ledger.fixes.append(Fix(FindingKind.HIDDEN_BYTES, "package lists never stored: removed in the RUN that downloads them", lists.hidden))
        if lists.visible:
            self.ledger.fixes.append(Fix(FindingKind.PACKAGE_CACHE, "no package lists left in the image", lists.visible))
        if archives.hidden:
            self.ledger.fixes.append(Fix(FindingKind.HIDDEN_BYTES, "apt's archives and caches never stored: apt-get clean in the installing RUN", archives.hidden))
        if archives.visible:
            self.ledger.fixes.append(Fix(FindingKind.PACKAGE_CACHE, "no apt archives or caches left in the image: apt-get clean", archives.visible))
        added = [f"{', '.join(libs)} ({dev})" for dev, libs in plan.libraries.items() if libs]
        if added:
            comments.append(f"Run-time libraries of the build's -dev packages: {'; '.join(added)}.")
        comments += plan.comments
        if self.original.runs_as_root:
            self.ledger.fixes.append(Fix(FindingKind.CONFIG, user.fix_summary(self)))
            made = user.add_user(self)
            if made is not None:
                commands.append(made)
            comments.append(user.comment(self, made is not None))
        if not commands:
            return [Instruction("", "", comments)] if comments and self.original.runs_as_root else []
        return [Instruction("RUN", " \\\n && ".join(commands), comments)]

    def run(self, n: int, ins: Instruction) -> list[Instruction]:
        """What the runtime keeps of the original's RUN ``n``: its commands that are no package
        install, clean-up, user creation the rewrite does itself or step of the stack's builder."""
        if ins.exec_form:
            self.ledger.kept_runs.append(n)
            return [ins]
        kept = []
        for command in self.original.commands[n]:
            if command.kind == cmd.OTHER or (command.kind == cmd.ADD_USER and not self.original.runs_as_root):
                kept.append(command.text)
            elif command.kind in cmd.STACK_KINDS and not self.stack.replaces(command):
                kept.append(command.text)  # no builder of the stack's own does this
            elif command.kind == cmd.CHOWN and not chown_covered(self, command, self.source.instructions[n].layer):
                kept.append(command.text)
        if not kept:
            return []
        self.ledger.kept_runs.append(n)
        return [Instruction("RUN", " \\\n && ".join(kept), self.ledger.comments(n), flags=ins.flags)]

    def exec_form(self, ins: Instruction) -> Instruction:
        """CMD/ENTRYPOINT in exec form, as the stack runs it (Node: node instead of npm start)."""
        return self.stack.command(self, self._exec_form(ins))

    def _exec_form(self, ins: Instruction) -> Instruction:
        """CMD/ENTRYPOINT in exec form: the program is PID 1 and gets signals itself."""
        comments = list(ins.comments)
        if ins.keyword == "CMD" and self.facts.no_healthcheck_finding:
            comments.append("No HEALTHCHECK (config finding): add one that probes the program's health endpoint.")
        items = exec_array(ins.args)
        if items is None:
            if _SHELL_SYNTAX.search(ins.args):
                return Instruction(ins.keyword, json_array(["/bin/sh", "-c", ins.args]), comments)
            comments.append(f"Exec form: signals reach the program directly (was `{ins.keyword} {ins.args}`).")
            return Instruction(ins.keyword, json_array(shlex.split(ins.args)), comments)
        if len(items) == 3 and items[:2] == ["/bin/sh", "-c"] and not _SHELL_SYNTAX.search(items[2]):
            comments.append("Exec form: signals reach the program directly (it ran through /bin/sh -c).")
            return Instruction(ins.keyword, json_array(shlex.split(items[2])), comments)
        return Instruction(ins.keyword, json_array(items), comments)

    def sets_command(self) -> bool:
        return bool(self.last)

    def inherited_command(self) -> list[Instruction]:
        """The original's CMD, written out when it came from a base the rewrite replaces
        (the runtime base would otherwise run its own)."""
        inherited = self.facts.inherited
        if inherited is None or self.sets_command() or not inherited.cmd:
            return []
        was = f" ({self.facts.original_base})" if self.facts.original_base else ""
        comments = [f"The original's command came from its base image{was}; {self.facts.runtime_base} has its own."]
        return [Instruction("CMD", json_array(inherited.cmd), comments)]

    def base_entrypoint(self, out: list[Instruction]) -> list[Instruction]:
        """``ENTRYPOINT`` set to the original's, before the command, when the runtime base has
        an ENTRYPOINT of its own the original did not run (distroless's python)."""
        theirs = self.facts.runtime_entrypoint
        ours = self.facts.inherited.entrypoint if self.facts.inherited is not None else []
        if not theirs or "ENTRYPOINT" in self.last or theirs == ours:
            return out
        at = next((i for i, ins in enumerate(out) if ins.keyword == "CMD"), len(out))
        comment = f"{self.facts.runtime_base} starts {json_array(theirs)} itself; the original's command runs as it did."
        return [*out[:at], Instruction("ENTRYPOINT", json_array(ours), [comment]), *out[at:]]

    def exec_command(self) -> list[str]:
        """ENTRYPOINT + CMD of the rewritten image, in exec form."""
        entrypoint: list[str] = []
        command: list[str] = []
        for ins in self.source.instructions:
            if ins.keyword in ("CMD", "ENTRYPOINT"):
                items = exec_array(self.exec_form(ins).args) or []
                if ins.keyword == "ENTRYPOINT":
                    entrypoint, command = items, []
                else:
                    command = items
        if not self.sets_command():  # the runtime base's: the original's, or written out when the base changed
            ran = self.facts.inherited or self.facts.original_command
            return ran.entrypoint + ran.cmd if ran is not None else []
        return entrypoint + command


def env_names(args: str) -> list[str]:
    """The names an ENV instruction sets (``A=1 B=2``, or the older ``A 1``)."""
    return [w.split("=", 1)[0] for w in args.split() if "=" in w] or args.split()[:1]


def merge_runs(instructions: list[Instruction]) -> list[Instruction]:
    """Consecutive shell-form RUNs with the same flags as one: fewer layers (and what
    hadolint's DL3059 asks). RUNs with other flags stay apart: a mount or ``--network``
    must not reach commands that were not written with it."""
    out: list[Instruction] = []
    for ins in instructions:
        prev = out[-1] if out else None
        if prev and ins.keyword == prev.keyword == "RUN" and not (ins.exec_form or prev.exec_form) and ins.flags == prev.flags:
            out[-1] = Instruction(
                "RUN", prev.args + " \\\n && " + ins.args, prev.comments + ins.comments, prev.layer, flags=prev.flags
            )
        else:
            out.append(ins)
    return out


def write(source: RewriteSource, facts: Facts, stack: Stack) -> Written:
    """The rewritten Dockerfile for ``source`` (without a header)."""
    writer = StageWriter(source, facts, stack)
    builder = stack.builder(writer)
    runtime = writer.runtime()
    text = render_instructions([Instruction(i.keyword, i.args, i.comments) for i in source.preamble])
    for part in (source.earlier_stages, render_instructions(builder) if builder else "", render_instructions(runtime)):
        if part:
            text += ("\n" if text else "") + part
    return Written(
        text=text,
        fixes=writer.ledger.fixes,
        copied=list(dict.fromkeys(writer.ledger.copied)),
        app_bytes=writer.ledger.app_bytes,
        runtime_packages=writer.packages.runtime,
        build_packages=writer.packages.build,
        kept_runs=writer.ledger.kept_runs,
        exec_command=writer.exec_command(),
        venv=stack.copied_from_builder(writer),
        manager=writer.manager,
        runtime=runtime,
        estimated=writer.ledger.estimated,
        context_in_builder=writer.ledger.context_in_builder,
    )
