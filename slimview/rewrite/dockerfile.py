"""The rewritten Dockerfile: a builder stage with what building needs, a runtime stage on a
slim base with only the virtualenv and the application files.

The runtime stage follows the original instruction by instruction, so the program starts
exactly as before (same WORKDIR, ENV, EXPOSE, ENTRYPOINT/CMD), with these changes, each
commented with the finding it fixes and the bytes it saves:

- OS packages: build-only ones (compilers, ``-dev``, git) move to the builder; the rest are
  installed in one RUN with ``--no-install-recommends`` and the lists removed in that RUN;
- ``pip install`` runs in the builder into a virtualenv without pip (``--no-cache-dir``),
  after copying only the dependency manifests, so editing the source keeps pip's layer
  cached; the runtime copies the virtualenv and puts its ``bin`` first on PATH;
- context copies take only the application's own files (absolute destinations), owned by
  the user that runs it (``COPY --chown`` instead of a ``chown -R`` layer);
- a non-root user, and exec-form CMD/ENTRYPOINT.

Anything not recognised is kept, in its place.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field

from slimview.display import human_bytes
from slimview.dockerfile import shell as cmd
from slimview.dockerfile.instruction import Instruction, render_instructions
from slimview.dockerfile.values import exec_array, json_array
from slimview.packages.classify import is_build_only, is_python_tooling
from slimview.packages.model import Manager
from slimview.rewrite.model import Fix
from slimview.rewrite.stack import CopiedEntry
from slimview.rewrite.target import RewriteSource

VENV = "/opt/venv"
APP_UID = 10001
BUILDER = "builder"
MAX_EXPLICIT_COPIES = 8
DISTROLESS_PYTHON = "3.11"  # the Python of gcr.io/distroless/python3-debian12

MANIFESTS = re.compile(
    r"^(?:requirements[\w.-]*\.(?:txt|in)|constraints[\w.-]*\.txt|pyproject\.toml|setup\.py|setup\.cfg|poetry\.lock|"
    r"Pipfile(?:\.lock)?|uv\.lock|pdm\.lock|package(?:-lock)?\.json|yarn\.lock|pnpm-lock\.yaml)$"
)
_UNKNOWN_SOURCE = re.compile(r"^<unknown source: (?P<kind>\w+):(?P<hash>[0-9a-f]+)…>$")
_SHELL_SYNTAX = re.compile(r"[|&;<>()$`\\\"'*?\[\]#~=%{}\n]")
_ROOT_USERS = ("", "root", "0", "0:0", "root:root")


@dataclass
class CopyStep:
    """A COPY or ADD, its destination made absolute."""

    keyword: str
    flags: list[str]
    sources: list[str]
    dest: str  # absolute; ends with "/" when it names a directory
    unknown: str = ""  # "dir:e7a2da247d16" when the history kept only a hash of the sources

    @property
    def from_stage(self) -> str:
        return next((f.split("=", 1)[1] for f in self.flags if f.startswith("--from=")), "")

    @property
    def reads_context(self) -> bool:
        if self.from_stage:
            return False
        return not any(s.startswith(("http://", "https://", "git@")) for s in self.sources)

    def dest_for(self, name: str) -> str:
        return posixpath.join(self.dest, name) if self.dest.endswith("/") else self.dest


def parse_copy(instruction: Instruction, workdir: str) -> CopyStep:
    text = instruction.args
    flags = []
    words = text.split()
    while words and words[0].startswith("--"):
        flags.append(words.pop(0))
    rest = text.split(None, len(flags))[-1] if flags else text
    parts = exec_array(rest) if rest.lstrip().startswith("[") else None
    if parts is None:
        m = re.match(r"^(<unknown source: [^>]*>)\s+(.+)$", rest.strip())
        parts = [m.group(1), m.group(2)] if m else shlex.split(rest) if _quoted_ok(rest) else rest.split()
    sources, dest = parts[:-1], parts[-1] if parts else ""
    directory = dest.endswith("/") or dest in (".", "./") or len(sources) > 1
    absolute = posixpath.normpath(posixpath.join(workdir or "/", dest))
    if directory and not absolute.endswith("/"):
        absolute += "/"
    unknown = ""
    m = _UNKNOWN_SOURCE.match(sources[0]) if len(sources) == 1 else None
    if m:
        kind, unknown = m.group("kind"), f"{m.group('kind')}:{m.group('hash')}"
        if kind in ("dir", "multi") and not absolute.endswith("/"):
            absolute += "/"
        sources = _guess_sources(kind, absolute, workdir)
    return CopyStep(instruction.keyword, flags, sources, absolute, unknown)


def _guess_sources(kind: str, dest: str, workdir: str) -> list[str]:
    """Sources for a COPY whose history kept only a hash of them. A directory copied into
    the WORKDIR is taken for the context (``COPY . .``), one copied elsewhere for the context
    directory of the same name; a file keeps its name. Several files, or a file copied into
    a directory, are the context's, named after what the layer holds."""
    if kind == "dir":
        if dest.rstrip("/") == workdir.rstrip("/") or dest == "/":
            return ["."]
        return [posixpath.basename(dest.rstrip("/")) + "/"]
    if kind == "file" and not dest.endswith("/"):
        return [posixpath.basename(dest)]
    return ["."]


def _quoted_ok(text: str) -> bool:
    try:
        shlex.split(text)
        return True
    except ValueError:
        return False


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
    # Bytes each fix saves: "build-tools", "hidden-bytes" (package lists a later layer
    # deleted), "package-cache" (package lists left in place), "pip-cache" (pip's cache).
    savings: dict[str, int] = field(default_factory=dict)
    secrets: set[str] = field(default_factory=set)  # top-level context names holding secrets
    layer_bytes: dict[int, int] = field(default_factory=dict)  # layer → bytes it stores
    # -dev package → the shared libraries it depends on (libpq-dev → libpq5), from the image's package database.
    shared_libraries: dict[str, list[str]] = field(default_factory=dict)
    runs_as_root_finding: bool = False
    no_healthcheck_finding: bool = False


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


def fixes(*savings: tuple[str, int]) -> str:
    """The comment suffix naming what a change fixes, by finding kind and bytes:
    ``fixes(("build-tools", 410213098))`` is `` (fixes build-tools: 410.2 MB)``."""
    named = [f"{kind}: {human_bytes(n)}" for kind, n in savings if n]
    return f" (fixes {', '.join(named)})" if named else ""


# -- collecting what the original does -----------------------------------------------------------


@dataclass
class _Collected:
    workdir_at: list[str]  # WORKDIR in effect at each instruction
    commands: dict[int, list[cmd.Command]]  # RUN instruction → its commands
    copies: dict[int, CopyStep]
    apt: list[str]
    apk: list[str]
    pips: list[tuple[int, cmd.Command]]
    venv: str | None
    chowns: list[cmd.Command]
    user: str
    volumes: list[str]


def _collect(source: RewriteSource) -> _Collected:
    workdir = "/"
    c = _Collected([], {}, {}, [], [], [], None, [], "", [])
    for n, ins in enumerate(source.instructions):
        if ins.keyword == "WORKDIR":
            workdir = posixpath.normpath(posixpath.join(workdir, ins.args.strip().strip('"')))
        c.workdir_at.append(workdir)
        if ins.keyword == "RUN" and not ins.exec_form:
            commands = cmd.analyse_run(ins.args)
            c.commands[n] = commands
            for command in commands:
                if command.kind == cmd.APT_INSTALL:
                    c.apt += [p for p in command.packages if p not in c.apt]
                elif command.kind == cmd.APK_ADD:
                    c.apk += [p for p in command.packages if p not in c.apk]
                elif command.kind == cmd.PIP_INSTALL:
                    c.pips.append((n, command))
                elif command.kind == cmd.VENV and c.venv is None:
                    c.venv = posixpath.normpath(posixpath.join(workdir, command.paths[0]))
                elif command.kind == cmd.CHOWN:
                    c.chowns.append(command)
        elif ins.keyword in ("COPY", "ADD"):
            c.copies[n] = parse_copy(ins, workdir)
        elif ins.keyword == "USER":
            c.user = ins.args.strip()
        elif ins.keyword == "VOLUME":
            items = exec_array(ins.args)
            c.volumes += items if items is not None else ins.args.split()
    return c


# -- writing --------------------------------------------------------------------------------------


class _Writer:
    def __init__(self, source: RewriteSource, facts: Facts):
        self.source = source
        self.facts = facts
        self.original = _collect(source)
        self.fixes: list[Fix] = []
        self.copied: list[tuple[str, bool]] = []
        self.app_bytes = 0
        self.kept_runs: list[int] = []
        self.comments_used: set[int] = set()
        self.last = {ins.keyword: n for n, ins in enumerate(source.instructions) if ins.keyword in ("CMD", "ENTRYPOINT")}
        self.python = facts.python is not None and bool(self.original.pips)
        self.venv = (self.original.venv or VENV) if self.python else None
        self.alpine = facts.family == "alpine" or (bool(self.original.apk) and not self.original.apt)
        self.root_original = self.original.user in _ROOT_USERS
        self.owner = self.original.chowns[0].owner if self.original.chowns else (f"{APP_UID}:{APP_UID}" if self.root_original else "")
        requested = self.original.apk if self.alpine else self.original.apt
        self.build_packages: list[str] = []
        self.runtime_packages = requested
        self.python_tooling: list[str] = []  # python, pip, venv from the distribution
        self.libraries: dict[str, list[str]] = {}  # -dev package → run-time libraries added for it
        if self.python:
            self.python_tooling = [p for p in requested if is_python_tooling(p)]
            others = [p for p in requested if p not in self.python_tooling]
            manager = Manager.APK if self.alpine else Manager.DPKG
            self.build_packages = [p for p in others if is_build_only(p, facts.build_packages, manager)]
            self.runtime_packages = [p for p in others if p not in self.build_packages]
            # What was compiled against a -dev package's headers needs its library at run time.
            self.libraries = {
                dev: [lib for lib in libs if lib not in self.runtime_packages]
                for dev, libs in facts.shared_libraries.items() if dev in self.build_packages
            }
            self.runtime_packages += list(dict.fromkeys(lib for libs in self.libraries.values() for lib in libs))
            if not facts.base_has_python:
                # A base without Python: the builder needs venv, the runtime the interpreter.
                self.build_packages += [p for p in ("python3", "python3-venv") if p not in self.build_packages]
                self.runtime_packages = ["python3", *self.runtime_packages]

    def _take_comments(self, n: int) -> list[str]:
        """The user's comments above instruction ``n``, once: they follow what it became."""
        if n in self.comments_used:
            return []
        self.comments_used.add(n)
        return list(self.source.instructions[n].comments)

    def _builder_name(self) -> str:
        name = BUILDER
        while name in self.source.stage_names:
            name = "slimview-" + name
        return name

    # -- builder ---------------------------------------------------------------------------------

    def builder(self) -> list[Instruction]:
        if not self.python:
            return []
        out = [Instruction("FROM", f"{self.facts.runtime_base} AS {self._builder_name()}", [
            "Builder stage: compilers and headers stay here; only the virtualenv moves on."
        ])]
        out += self._args()
        out += self._env(builder=True)
        if self.build_packages:
            saved = self.facts.savings.get("build-tools", 0)
            comments = self._package_comments() + [f"Build-only packages stay in this stage{fixes(('build-tools', saved))}."]
            out.append(Instruction("RUN", self._install(self.build_packages), comments))
            self.fixes.append(Fix("build-tools", "build-only packages only in the builder: " + ", ".join(self.build_packages), saved))
        workdir = self.original.workdir_at[self.original.pips[0][0]]
        if workdir != "/":
            out.append(Instruction("WORKDIR", workdir))
        manifests = self._manifest_copy(workdir)
        if manifests:
            out.append(Instruction("COPY", manifests, [
                "Dependency manifests first: editing the source no longer re-runs pip."
            ]))
            self.fixes.append(Fix("cache-order", "dependency manifests copied and installed before the source"))
        if any(command.local for _n, command in self.original.pips):
            tree = self._source_tree_copy()
            if tree:
                out.append(Instruction("COPY", tree, ["pip installs the project itself, so it needs the source tree."]))
        cache = self.facts.savings.get("pip-cache", 0)
        for n, command in self.original.pips:
            if cmd.is_pip_tooling_upgrade(command):
                continue
            args = " ".join(shlex.quote(a) for a in command.pip_args)
            comments = self._take_comments(n)
            comments.append(f"--no-cache-dir: pip's download cache never reaches a layer{fixes(('package-cache', cache))}.")
            if cache:
                self.fixes.append(Fix("package-cache", "pip runs with --no-cache-dir", cache))
            cache = 0
            # The user's RUN flags stay with their pip step (a secret or a bind mount it reads).
            out.append(Instruction(
                "RUN", f"python3 -m pip --python {self.venv}/bin/python install --no-cache-dir {args}", comments,
                flags=self.source.instructions[n].flags,
            ))
        # The virtualenv is made by the first pip step's RUN (one RUN, so hadolint's DL3059 holds).
        first_pip = next((i for i, ins in enumerate(out) if ins.keyword == "RUN" and " -m pip " in ins.args), len(out))
        out.insert(first_pip, Instruction(
            "RUN", f"python3 -m venv --without-pip {self.venv}",
            [f"A virtualenv without pip: the runtime stage copies {self.venv} and nothing else from here."],
            flags=out[first_pip].flags if first_pip < len(out) else (),
        ))
        return _merge_runs(out)

    def _manifest_copy(self, workdir: str) -> str:
        """``COPY`` arguments for the requirement files pip reads, or ""."""
        wanted: list[str] = []
        for _n, command in self.original.pips:
            wanted += [path for path in command.requirements if path not in wanted]
        if not wanted:
            return ""
        sources = []
        for path in wanted:
            absolute = posixpath.normpath(posixpath.join(workdir, path))
            context_path = self._context_path(absolute) or path
            sources.append(context_path)
            self.copied.append((context_path, False))
        targets = {posixpath.dirname(posixpath.normpath(posixpath.join(workdir, p))) for p in wanted}
        dest = (targets.pop() if len(targets) == 1 else workdir).rstrip("/") + "/"
        return " ".join([*sources, dest])

    def _context_path(self, absolute: str) -> str | None:
        """Where in the build context a file that was copied to ``absolute`` came from."""
        for step in reversed(list(self.original.copies.values())):
            if not step.reads_context or not step.dest.endswith("/") or not absolute.startswith(step.dest):
                continue
            rel = absolute[len(step.dest):]
            if step.sources in (["."], ["./"]):
                return rel
            named = [s for s in step.sources if not s.endswith("/") and posixpath.basename(s) == rel]
            if named:
                return named[-1]  # a file copied into the directory under its own name
            if len(step.sources) == 1:
                return posixpath.normpath(posixpath.join(step.sources[0], rel))
        return None

    def _source_tree_copy(self) -> str:
        for step in self.original.copies.values():
            if step.reads_context and step.sources in (["."], ["./"]):
                self.copied.append((".", True))
                return f". {step.dest}"
        return ""

    # -- runtime ---------------------------------------------------------------------------------

    def runtime(self) -> list[Instruction]:
        comments = [*self.source.from_comments, f"Runtime stage: {self.facts.base_reason}", *self._alternatives()]
        out = [Instruction("FROM", self.facts.runtime_base, comments)]
        out += self._args()
        setup_done = venv_done = user_done = False
        for n, ins in enumerate(self.source.instructions):
            k = ins.keyword
            if not setup_done and k in ("RUN", "COPY", "ADD", "WORKDIR", "USER"):
                out += self._setup()
                setup_done = True
            starts_app = (n in self.original.copies and self.original.copies[n].reads_context) or any(p[0] == n for p in self.original.pips)
            if self.python and not venv_done and starts_app:
                out += self._venv()
                venv_done = True
            if k == "ARG":
                continue
            if k == "RUN":
                out += self._run(n, ins)
            elif k in ("COPY", "ADD"):
                out += self._copy(n, ins)
            elif k == "WORKDIR":
                out.append(Instruction("WORKDIR", self.original.workdir_at[n], ins.comments))
            elif k in ("CMD", "ENTRYPOINT"):
                if n != self.last[k]:
                    continue  # overridden by a later one
                if not user_done and self.root_original:
                    out.append(self._user())
                    user_done = True
                out.append(self._exec_form(ins))
            else:
                user_done = user_done or k == "USER"
                out.append(ins)
        if not setup_done:
            out += self._setup()
        if self.python and not venv_done:
            out += self._venv()
        if not user_done and self.root_original:
            out.append(self._user())
        return _merge_runs(out)

    def _alternatives(self) -> list[str]:
        """Distroless, offered with its trade-offs rather than imposed."""
        if not self.python or self.alpine:
            return []
        if self.facts.python == DISTROLESS_PYTHON:
            python = f"Debian's {DISTROLESS_PYTHON} at /usr/bin/python3: build the virtualenv on debian:bookworm to match it."
        else:
            python = f"Debian's {DISTROLESS_PYTHON}, not the {self.facts.python} this image runs."
        return [
            "Alternative: gcr.io/distroless/python3-debian12 is smaller still, but it has no shell and no",
            "apt (RUN lines, curl health checks and `docker exec sh` stop working), and its Python is",
            python,
        ]

    def _args(self) -> list[Instruction]:
        return [Instruction("ARG", i.args) for i in self.source.instructions if i.keyword == "ARG"]

    def _env(self, builder: bool) -> list[Instruction]:
        # The builder keeps PATH as its base sets it: python3 there must be the base's, with pip.
        return [
            Instruction("ENV", i.args)
            for i in self.source.instructions
            if i.keyword == "ENV" and not (builder and "PATH" in _env_names(i.args))
        ]

    def _package_comments(self) -> list[str]:
        """The user's comments above the RUN lines that installed packages (said once)."""
        out = []
        for n, commands in self.original.commands.items():
            if any(c.kind in (cmd.APT_INSTALL, cmd.APK_ADD) for c in commands):
                out += self._take_comments(n)
        return out

    def _setup(self) -> list[Instruction]:
        """One RUN: the runtime's OS packages and the user that runs the program."""
        commands: list[str] = []
        comments = self._package_comments()
        hidden, cached = self.facts.savings.get("hidden-bytes", 0), self.facts.savings.get("package-cache", 0)
        if self.runtime_packages:
            how = "--no-cache" if self.alpine else "--no-install-recommends; the package lists go in the same layer"
            comments.append(f"Runtime packages only, with {how}{fixes(('hidden-bytes', hidden), ('package-cache', cached))}.")
            commands.append(self._install(self.runtime_packages))
        if hidden:
            self.fixes.append(Fix("hidden-bytes", "package lists never stored: removed in the RUN that downloads them", hidden))
        if cached:
            self.fixes.append(Fix("package-cache", "no package lists left in the image", cached))
        added = [f"{', '.join(libs)} ({dev})" for dev, libs in self.libraries.items() if libs]
        if added:
            comments.append(f"Run-time libraries of the build's -dev packages: {'; '.join(added)}.")
        if self.python_tooling and self.facts.base_has_python:
            comments.append(f"{', '.join(self.python_tooling)}: {self.facts.runtime_base} provides these.")
        elif self.python_tooling:
            comments.append(f"{', '.join(self.python_tooling)}: the virtualenv needs only python3 at run time.")
        if self.root_original:
            commands.append(self._add_user())
            note = " (fixes config: runs as root)" if self.facts.runs_as_root_finding else ""
            comments.append(f"A non-root user (uid {APP_UID}) runs the program{note}; a numeric USER suits runAsNonRoot.")
            self.fixes.append(Fix("config", f"runs as uid {APP_UID} instead of root"))
        if not commands:
            return []
        return [Instruction("RUN", " \\\n && ".join(commands), comments)]

    def _install(self, packages: list[str]) -> str:
        if self.alpine:
            return "apk add --no-cache " + " ".join(packages)
        return (
            "apt-get update \\\n && apt-get install -y --no-install-recommends " + " ".join(packages)
            + " \\\n && rm -rf /var/lib/apt/lists/*"
        )

    def _add_user(self) -> str:
        if self.alpine:
            text = f"addgroup -S -g {APP_UID} app \\\n && adduser -S -D -u {APP_UID} -G app -h /home/app app"
        else:
            text = (
                f"groupadd --system --gid {APP_UID} app \\\n && useradd --system --no-log-init --uid {APP_UID} --gid app"
                " --create-home --home-dir /home/app app"
            )
        if self.original.volumes:
            # A volume starts as a copy of its directory: the user must own it to write there.
            text += f" \\\n && install -d -o {APP_UID} -g {APP_UID} " + " ".join(sorted(set(self.original.volumes)))
        return text

    def _venv(self) -> list[Instruction]:
        env = f'PATH="{self.venv}/bin:$PATH"'
        pythonpath = self._pythonpath()
        if pythonpath:
            env += f" PYTHONPATH={pythonpath}"
        self.fixes.append(Fix("python", f"pip packages in a virtualenv ({self.venv}) built in the builder stage"))
        return [
            Instruction("COPY", f"--from={self._builder_name()} {self.venv} {self.venv}", [
                "The virtualenv the builder made; its bin/ first on PATH, so python, pip-installed",
                "scripts and the program's imports resolve to it exactly as the original's did.",
            ]),
            Instruction("ENV", env),
        ]

    def _pythonpath(self) -> str:
        """PYTHONPATH, needed only when the program's interpreter is named by an absolute
        path outside the virtualenv (PATH does not apply then)."""
        command = self.exec_command()
        interpreter = command[0] if command else ""
        venv = self.venv or VENV
        if interpreter.startswith("/") and re.search(r"/python[\d.]*$", interpreter) and not interpreter.startswith(venv + "/"):
            return f"{venv}/lib/python{self.facts.python}/site-packages"
        return ""

    def _user(self) -> Instruction:
        return Instruction("USER", f"{APP_UID}:{APP_UID}")

    def _run(self, n: int, ins: Instruction) -> list[Instruction]:
        if ins.exec_form:
            self.kept_runs.append(n)
            return [ins]
        kept = []
        for command in self.original.commands[n]:
            if command.kind == cmd.OTHER or (command.kind == cmd.ADD_USER and not self.root_original):
                kept.append(command.text)
            elif command.kind in (cmd.PIP_INSTALL, cmd.VENV) and not self.python:
                kept.append(command.text)  # no virtualenv of ours to replace them
            elif command.kind == cmd.CHOWN and not self._chown_covered(command, self.source.instructions[n].layer):
                kept.append(command.text)
        if not kept:
            return []
        self.kept_runs.append(n)
        return [Instruction("RUN", " \\\n && ".join(kept), self._take_comments(n), flags=ins.flags)]

    def _chown_covers(self, command: cmd.Command, step: CopyStep) -> bool:
        dest = step.dest.rstrip("/") or "/"
        return any(_within(posixpath.normpath(p), dest) or _within(dest, posixpath.normpath(p)) for p in command.paths)

    def _chown_covered(self, command: cmd.Command, layer: int | None) -> bool:
        """Whether every path a ``chown -R`` changes is a COPY destination, now copied with
        --chown (the chown layer stored every file again)."""
        dests = [step.dest.rstrip("/") or "/" for step in self.original.copies.values() if step.reads_context]
        covered = all(any(_within(posixpath.normpath(p), d) for d in dests) for p in command.paths)
        if covered:
            saved = self.facts.layer_bytes.get(layer, 0) if layer is not None else 0
            self.fixes.append(Fix("hidden-bytes", f"`{command.text}` replaced by COPY --chown={command.owner}", saved))
        return covered

    def _copy(self, n: int, ins: Instruction) -> list[Instruction]:
        step = self.original.copies[n]
        if not step.reads_context:
            return [ins]
        if step.keyword == "ADD" and any(s.endswith((".tar", ".tar.gz", ".tgz", ".tar.xz", ".tar.bz2")) for s in step.sources):
            return [ins]  # ADD unpacks these archives
        flags = step.flags
        if self.owner:
            flags = [f"--chown={self.owner}", *(f for f in step.flags if not f.startswith("--chown="))]
        comments = self._take_comments(n)
        for chown in self.original.chowns:
            if chown.owner == self.owner and self._chown_covers(chown, step):
                comments.append(f"--chown instead of a later `{chown.text}` layer that stored every file again.")
        if step.unknown:
            guess = f"`{' '.join(step.sources)}` is" if step.sources != ["."] else "the names below (from the layer) are"
            comments.append(f"The history kept only a hash of the sources ({step.unknown[:17]}…), so {guess} a guess.")
        entries = self.facts.entries(step, self.source.instructions[n].layer)
        if self.python and not step.unknown and all(MANIFESTS.match(posixpath.basename(s)) for s in step.sources):
            return []  # dependency manifests: the builder has them, the program does not read them
        if entries is None:
            return [self._copy_as_written(step, flags, comments)]
        app = [e for e in entries if not self._skipped(e)]
        junk = [e for e in entries if e not in app and not self._is_manifest(e)]
        self.app_bytes += sum(e.bytes for e in app)
        if junk:
            saved = sum(e.bytes for e in junk)
            names = ", ".join(e.name for e in junk[:6]) + (" …" if len(junk) > 6 else "")
            secret = [e.name for e in junk if e.name in self.facts.secrets]
            note = f"; {', '.join(secret)} held credentials (fixes secret)" if secret else ""
            comments.append(f"Application files only: {names} left out{fixes(('context-junk', saved))}{note}.")
            self.fixes.append(Fix("context-junk", "left out of the copy: " + ", ".join(e.name for e in junk), saved))
        if not app:
            return []
        prefix = self._source_prefix(step)
        if len(app) > MAX_EXPLICIT_COPIES:
            source = prefix or "."
            self.copied.append((source, True))
            comments.append("Many top-level entries: the whole context, trimmed by the .dockerignore.")
            return [Instruction("COPY", " ".join([*flags, source, step.dest]), comments)]
        out = []
        files = [posixpath.join(prefix, e.name) for e in app if not e.is_dir]
        if files:
            self.copied += [(f, False) for f in files]
            out.append(Instruction("COPY", " ".join([*flags, *files, step.dest]), comments))
            comments = []
        for e in (e for e in app if e.is_dir):
            source = posixpath.join(prefix, e.name)
            self.copied.append((source, True))
            out.append(Instruction("COPY", " ".join([*flags, source + "/", step.dest_for(e.name) + "/"]), comments))
            comments = []
        return out

    def _copy_as_written(self, step: CopyStep, flags: list[str], comments: list[str]) -> Instruction:
        sources = step.sources
        for s in sources:
            self.copied.append((s, s in (".", "./") or s.endswith("/")))
        keyword = "COPY" if step.keyword == "ADD" and not any("://" in s for s in sources) else step.keyword
        return Instruction(keyword, " ".join([*flags, *sources, step.dest]), comments)

    def _source_prefix(self, step: CopyStep) -> str:
        if step.sources in (["."], ["./"]) or len(step.sources) != 1:
            return ""
        return step.sources[0].rstrip("/")

    def _skipped(self, entry: CopiedEntry) -> bool:
        return self._is_manifest(entry) or self.facts.junk(entry.name)

    def _is_manifest(self, entry: CopiedEntry) -> bool:
        return self.python and not entry.is_dir and bool(MANIFESTS.match(entry.name))

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

    def exec_command(self) -> list[str]:
        """ENTRYPOINT + CMD of the rewritten image, in exec form."""
        entrypoint: list[str] = []
        command: list[str] = []
        for ins in self.source.instructions:
            if ins.keyword in ("CMD", "ENTRYPOINT"):
                items = exec_array(self._exec_form(ins).args) or []
                if ins.keyword == "ENTRYPOINT":
                    entrypoint, command = items, []
                else:
                    command = items
        return entrypoint + command


def _env_names(args: str) -> list[str]:
    return [w.split("=", 1)[0] for w in args.split() if "=" in w] or args.split()[:1]


def _within(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def _merge_runs(instructions: list[Instruction]) -> list[Instruction]:
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


def requested_packages(source: RewriteSource) -> list[str]:
    """OS packages the stage's RUN lines install (apt or apk), in order."""
    c = _collect(source)
    return c.apt + [p for p in c.apk if p not in c.apt]


def installs_python_packages(source: RewriteSource) -> bool:
    """Whether the stage runs pip (then the rewrite is a builder/runtime pair around a virtualenv)."""
    return any(
        c.kind == cmd.PIP_INSTALL
        for ins in source.instructions
        if ins.keyword == "RUN" and not ins.exec_form
        for c in cmd.analyse_run(ins.args)
    )


def write(source: RewriteSource, facts: Facts) -> Written:
    """The rewritten Dockerfile for ``source`` (without a header)."""
    writer = _Writer(source, facts)
    builder = writer.builder()
    runtime = writer.runtime()
    text = render_instructions([Instruction(i.keyword, i.args, i.comments) for i in source.preamble])
    for part in (source.earlier_stages, render_instructions(builder) if builder else "", render_instructions(runtime)):
        if part:
            text += ("\n" if text else "") + part
    return Written(
        text=text,
        fixes=writer.fixes,
        copied=list(dict.fromkeys(writer.copied)),
        app_bytes=writer.app_bytes,
        runtime_packages=writer.runtime_packages,
        build_packages=writer.build_packages,
        kept_runs=writer.kept_runs,
        exec_command=writer.exec_command(),
        venv=writer.venv,
    )
