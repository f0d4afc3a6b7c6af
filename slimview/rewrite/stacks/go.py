"""Go: the program built in a builder stage on the original's Go image, and shipped alone.

The builder downloads the modules first (``go.mod``/``go.sum`` copied before the source,
so editing the source keeps that layer), with Go's build and module caches in BuildKit
cache mounts, and builds with ``-trimpath -ldflags "-s -w"`` (no local paths, no symbol
table, no DWARF: panics still print file and line from Go's own tables).

Static or not is read from the program the original built (slimview/rewrite/programs.py, over
the record slimview/elf.py read):
a Go program whose only C is the standard library's (the cgo DNS resolver and os/user, which
both fall back to pure Go) and which loads no library but libc is rebuilt with
``CGO_ENABLED=0``; it then runs on ``scratch``, with the builder's CA bundle copied when it
makes TLS client connections and the time zone database built in (``-tags timetzdata``)
when it loads zones, or on ``gcr.io/distroless/static-debian12`` when it needs /tmp or a
user database (distroless has them, scratch has nothing). A program that calls C itself, or loads other libraries,
stays dynamic on ``debian:bookworm-slim`` with the packages of the libraries it loads. A
program slimview cannot read is kept as it was built (dynamic when cgo was on).
"""

from __future__ import annotations

import posixpath
import shlex
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from slimview.display import human_bytes
from slimview.dockerfile import shell as cmd
from slimview.dockerfile.instruction import Instruction
from slimview.dockerfile.values import exec_array, json_array
from slimview.elf import Need, read_program
from slimview.findings.caches import cache_pattern
from slimview.findings.model import FindingKind
from slimview.findings.toolchain import LIBRARY_DIRS
from slimview.index.model import Change as Changed
from slimview.index.model import ImageIndex, entry_ref
from slimview.packages.classify import is_build_only
from slimview.packages.model import Manager, PackageDatabase
from slimview.rewrite import dockerignore as di
from slimview.rewrite.copies import replay_in_builder
from slimview.rewrite.estimate import BUILD_OUTPUT
from slimview.rewrite.layers import file_body, stored_under
from slimview.rewrite.model import Change, Fix, fixes
from slimview.rewrite.ospackages import PackagePlan, package_comments, split_build_only
from slimview.rewrite.programs import BuiltProgram
from slimview.rewrite.target import RewriteSource
from slimview.rewrite.writer import Stored, merge_runs
from slimview.source.tarstream import EntryType

if TYPE_CHECKING:
    from slimview.rewrite.writer import StageWriter

SCRATCH = "scratch"
DISTROLESS_STATIC = "gcr.io/distroless/static-debian12:nonroot"
DISTROLESS_USER = ("65532:65532", "nonroot")
SLIM = "debian:bookworm-slim"
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"  # Debian's (the golang images have ca-certificates)
# What a static program may need that scratch can be given: the CA bundle copied from the
# builder, the zone database compiled into the program.
SCRATCH_NEEDS = frozenset({Need.CA_CERTIFICATES, Need.ZONEINFO})
# What distroless static provides that a static program may need; Debian packages that are
# only that data need no package manager there.
DATA_PACKAGES = frozenset({"ca-certificates", "tzdata", "netbase"})
# Go's build and module caches, as the findings see them.
CACHES = cache_pattern("go")
# Commands the writer leaves to the runtime without a shell: package installs and clean-ups.
_NO_SHELL = frozenset({cmd.APT_UPDATE, cmd.APT_INSTALL, cmd.APT_REMOVE, cmd.APT_CLEANUP, cmd.APK_ADD, cmd.APK_DEL, cmd.CACHE_CLEANUP})


def builds_go(source: RewriteSource) -> bool:
    """Whether the stage builds a Go program (``go build``, ``go install``)."""
    return any(
        c.kind == cmd.GO_BUILD for ins in source.instructions if ins.keyword == "RUN" and not ins.exec_form for c in cmd.analyse_run(ins.args)
    )


@dataclass
class Go:
    programs: list[BuiltProgram | None]  # per program path the build made (None: its file could not be read)
    paths: list[str]  # absolute paths of the programs the build made
    build_dir: str  # the WORKDIR of the last go build
    module_files: list[str] = field(default_factory=list)  # go.mod, go.sum (go.work) in build_dir
    vendored: bool = False
    gopath: str = "/go"
    cache: Stored = Stored()
    build_texts: frozenset[str] = frozenset()  # every command of the RUN steps that run go
    runtime_packages: list[str] = field(default_factory=list)  # the original's non-build OS packages
    libraries: dict[str, str] = field(default_factory=dict)  # a loaded library → the package holding it
    shell_steps: bool = False  # the runtime keeps steps that need a shell
    named_user: str = ""  # a non-root USER given by name
    name: str = "go"
    serves: bool = True

    @classmethod
    def of(
        cls, source: RewriteSource, index: ImageIndex | None, history: RewriteSource | None,
        build: set[str] | frozenset[str] = frozenset(), db: PackageDatabase | None = None,
    ) -> Go:
        workdir, build_dir = "/", "/"
        build_texts: set[str] = set()
        shell_steps = False
        user = ""
        requested: list[str] = []
        for ins in source.instructions:
            if ins.keyword == "WORKDIR":
                workdir = posixpath.normpath(posixpath.join(workdir, ins.args.strip().strip('"')))
            elif ins.keyword == "USER":
                user = ins.args.strip()
            elif ins.keyword == "RUN" and ins.exec_form:
                shell_steps = True
            elif ins.keyword == "RUN":
                commands = cmd.analyse_run(ins.args)
                requested += [p for c in commands if c.kind in (cmd.APT_INSTALL, cmd.APK_ADD) for p in c.packages]
                if any(c.kind in (cmd.GO_BUILD, cmd.GO_TOOL) for c in commands):
                    build_texts |= {c.text for c in commands if c.kind not in _NO_SHELL}
                    if any(c.kind == cmd.GO_BUILD for c in commands):
                        build_dir = workdir
                else:
                    shell_steps = shell_steps or any(c.kind not in _NO_SHELL for c in commands)
        manager = Manager.APK if db is not None and db.manager == Manager.APK else Manager.DPKG
        runtime_packages = [p for p in dict.fromkeys(requested) if not is_build_only(p, set(build), manager)]
        named_user = user if user and not user.split(":", 1)[0].isdigit() and user not in ("root", "0") else ""
        go = cls([], [], build_dir, build_texts=frozenset(build_texts), runtime_packages=runtime_packages,
                 shell_steps=shell_steps, named_user=named_user)
        if index is None or history is None:
            return go
        prefix = build_dir.strip("/") + "/" if build_dir.strip("/") else ""
        go.module_files = [n for n in ("go.mod", "go.sum", "go.work", "go.work.sum") if prefix + n in index.final]
        go.vendored = any(p.startswith(prefix + "vendor/") for p in index.final if p.startswith(prefix + "vendor"))
        go.gopath = next((e.split("=", 1)[1] for e in source.base_env if e.startswith("GOPATH=")), "/go") or "/go"
        go.cache = Stored(*stored_under(index, CACHES, history.base_layers))
        go.paths = _built_programs(index, history)
        go.programs = [_program(index, path) for path in go.paths]
        go.libraries = _library_packages(index, db, go.programs)
        return go

    # -- what the stack decides --------------------------------------------------------------------

    @property
    def readable(self) -> bool:
        return bool(self.programs) and all(p is not None for p in self.programs)

    @property
    def static(self) -> bool:
        """Whether the rewrite builds static programs: each one already is, or is a Go program
        that needs no cgo of its own and no library but libc."""
        return self.readable and all(p is not None and (p.elf.static or p.can_be_static()) for p in self.programs)

    def needs(self) -> list[Need]:
        """What the programs need besides themselves (for a static runtime)."""
        found = {n for p in self.programs if p is not None for n in p.elf.needs}
        if "ca-certificates" in self.runtime_packages:
            found.add(Need.CA_CERTIFICATES)
        if "tzdata" in self.runtime_packages:
            found.add(Need.ZONEINFO)
        if self.named_user:
            found.add(Need.USERS)
        return [n for n in Need if n in found]

    def _needs_debian(self) -> str:
        """Why the runtime must be a distribution with a shell and packages ("" if not)."""
        if not self.static:
            return "the program loads libc" + (f" and {', '.join(self._other_libraries())}" if self._other_libraries() else "")
        others = [p for p in self.runtime_packages if p not in DATA_PACKAGES]
        if others:
            return f"the image installs {', '.join(others)} for it"
        if self.shell_steps:
            return "the runtime keeps steps that need a shell"
        if self.named_user and self.named_user.split(":", 1)[0] not in ("nonroot", "nobody"):
            return f"it runs as USER {self.named_user}, a name only a passwd file has"
        return ""

    def _other_libraries(self) -> list[str]:
        return sorted({lib for p in self.programs if p is not None for lib in p.other_libraries()})

    def runtime_base(self, version: str | None, family: str, original: str) -> tuple[str, str] | None:
        why = self._needs_debian()
        if why:
            image = "alpine:3" if family == "alpine" else SLIM
            return image, f"{image}: {why}."
        needs = self.needs()
        if not set(needs) <= SCRATCH_NEEDS:
            return DISTROLESS_STATIC, (
                f"{DISTROLESS_STATIC}: the program is static and needs {', '.join(needs)}, which distroless has (scratch has nothing)."
            )
        if needs:
            given = [{Need.CA_CERTIFICATES: "the builder's CA bundle", Need.ZONEINFO: "the zone database built in"}[n] for n in needs]
            return SCRATCH, f"scratch: the program is static; it needs {' and '.join(needs)} ({', '.join(given)}) and nothing else."
        return SCRATCH, (
            "scratch: the program is static and needs nothing else: no CA certificates (it makes no TLS client "
            "connections), no time zone database, no /tmp and no user database."
        )

    def packages(self, w: StageWriter) -> PackagePlan:
        plan = PackagePlan(w.manager)
        split_build_only(w.requested, plan, w.facts.build_packages, w.facts.shared_libraries)
        if w.facts.runtime_base in (SCRATCH, DISTROLESS_STATIC):
            data = [p for p in plan.runtime if p in DATA_PACKAGES]
            plan.runtime = [p for p in plan.runtime if p not in DATA_PACKAGES]
            if data and w.facts.runtime_base == SCRATCH:
                plan.comments.append(f"{', '.join(data)}: not installed; the CA bundle comes from the builder, the zone database is built in.")
            elif data:
                plan.comments.append(f"{', '.join(data)}: {w.facts.runtime_base} has what they hold.")
        elif not self.static:
            plan.runtime += [pkg for pkg in dict.fromkeys(self.libraries.values()) if pkg not in plan.runtime]
        return plan

    def replaces(self, command: cmd.Command) -> bool:
        return command.kind in (cmd.GO_BUILD, cmd.GO_TOOL) or (command.kind not in _NO_SHELL and command.text in self.build_texts)

    # -- builder -------------------------------------------------------------------------------------

    def builder(self, w: StageWriter) -> list[Instruction]:
        original_base = w.facts.original_base or "golang"
        out = [Instruction("FROM", f"{original_base} AS {w.builder_name()}", [
            f"Builder stage: {original_base} has the Go toolchain; only the program moves on.",
        ])]
        out += w.args()
        out += w.builder_env()
        if w.packages.build:
            comments = package_comments(w) + ["Build-only packages stay in this stage."]
            out.append(Instruction("RUN", w.install(w.packages.build), comments))
        if self.build_dir != "/":
            out.append(Instruction("WORKDIR", self.build_dir))
        modcache = posixpath.join(self.gopath, "pkg/mod")
        module_mount = f"--mount=type=cache,target={modcache}"
        if self.module_files and "go.mod" in self.module_files and not self.vendored:
            w.ledger.copied += [(m, False) for m in self.module_files]
            out.append(Instruction("COPY", " ".join([*self.module_files, "./"]), [
                "The module files first: the download layer is reused until a dependency changes.",
            ]))
            out.append(Instruction("RUN", "go mod download", [], flags=(module_mount,)))
            w.ledger.fixes.append(Fix(Change.CACHE_ORDER, "go.mod copied and the modules downloaded before the source"))
        out += replay_in_builder(w, self._inputs(w))
        steps = [(n, c) for n, commands in w.original.commands.items() for c in commands if self.replaces(c)]
        build_comments: list[str] = []
        for n in dict.fromkeys(n for n, _c in steps):
            build_comments += w.ledger.comments(n)
        build_comments += self._build_comments(w)
        commands = [self._build_command(c) if c.kind == cmd.GO_BUILD else c.text for _n, c in steps]
        mounts = ("--mount=type=cache,target=/root/.cache/go-build", module_mount)
        out.append(Instruction("RUN", " \\\n && ".join(commands), build_comments, flags=mounts))
        return merge_runs(out)

    def _build_comments(self, w: StageWriter) -> list[str]:
        out = []
        programs = [p for p in self.programs if p is not None]
        if self.static and any(not p.elf.static for p in programs):
            cgo = sorted({pkg for p in programs for pkg in p.elf.cgo_packages})
            calls = (
                f"its only C calls are the standard library's ({', '.join(cgo)}), which falls back to pure Go "
                "(the DNS resolver reads /etc/resolv.conf itself)" if cgo else "it calls no C of its own"
            )
            out.append(
                "CGO_ENABLED=0: the program was linked against libc only because gcc was in the image (cgo is on "
                f"by default then); {calls}, and it loads no other library. Static, it needs no libc."
            )
        elif self.static:
            out.append("CGO_ENABLED=0: the program is static already; so it stays.")
        elif programs:
            own = sorted({pkg for p in programs for pkg in p.own_cgo()})
            libs = self._other_libraries()
            out.append(
                "cgo stays on: " + "; ".join(
                    part for part in (f"{', '.join(own)} call C" if own else "", f"it loads {', '.join(libs)}" if libs else "") if part
                ) + "."
            )
        else:
            out.append("cgo as the original built it: slimview could not read the program it built.")
        stripped = sum(p.strippable for p in programs)
        out.append(
            f'-trimpath -ldflags "-s -w": no local paths, no symbol table, no DWARF{fixes((FindingKind.BUILD_TOOLS, stripped))}; '
            "panics still name file and line (Go keeps its own line tables)."
        )
        out.append(f"Go's build and module caches stay in cache mounts{fixes(*self.cache.kinds())}.")
        if stripped:
            w.ledger.fixes.append(Fix(FindingKind.BUILD_TOOLS, 'unstripped program: built with -ldflags "-s -w"', stripped))
        if self.cache.hidden:
            w.ledger.fixes.append(Fix(FindingKind.HIDDEN_BYTES, "Go's caches never stored: cache mounts", self.cache.hidden))
        if self.cache.visible:
            w.ledger.fixes.append(Fix(FindingKind.PACKAGE_CACHE, "no Go build or module cache in the image: cache mounts", self.cache.visible))
        return out

    def _build_command(self, command: cmd.Command) -> str:
        """``command`` (go build or go install) with ``-trimpath``, ``-s -w`` added to its
        -ldflags, and CGO_ENABLED=0 when the program can be static."""
        words = shlex.split(command.text)
        env = []
        while words and "=" in words[0] and not words[0].startswith("-"):
            assignment = words.pop(0)
            if not assignment.startswith("CGO_ENABLED=") or not self.static:
                env.append(assignment)
        if self.static:
            env.insert(0, "CGO_ENABLED=0")
        verb = next(i for i, word in enumerate(words) if word in ("build", "install"))
        head, flags = words[: verb + 1], words[verb + 1 :]
        if "-trimpath" not in flags and "--trimpath" not in flags:
            flags.insert(0, "-trimpath")
        for i, word in enumerate(flags):
            if word in ("-ldflags", "--ldflags") and i + 1 < len(flags):
                flags[i + 1] = _with_strip(flags[i + 1])
                break
            if word.startswith(("-ldflags=", "--ldflags=")):
                name, value = word.split("=", 1)
                flags[i] = f"{name}={_with_strip(value)}"
                break
        else:
            flags[1:1] = ["-ldflags", "-s -w"]
        if self._embeds_zoneinfo():
            _add_tag(flags, "timetzdata")
        return shlex.join([*env, *head, *flags])

    def _embeds_zoneinfo(self) -> bool:
        """Whether the build compiles the zone database in: a static program on scratch
        that loads zones (scratch has no /usr/share/zoneinfo)."""
        return self.static and Need.ZONEINFO in self.needs() and set(self.needs()) <= SCRATCH_NEEDS

    def _inputs(self, w: StageWriter) -> list[int]:
        """The context copies before the last go step: what the build reads."""
        last = max((m for m, commands in w.original.commands.items() if any(self.replaces(c) for c in commands)), default=-1)
        return [n for n, step in w.original.copies.items() if n < last and step.reads_context]

    # -- runtime -------------------------------------------------------------------------------------

    def starts_app(self, w: StageWriter, n: int) -> bool:
        return n in self._inputs(w) or any(self.replaces(c) for c in w.original.commands.get(n, []))

    def builder_input(self, w: StageWriter, n: int) -> bool:
        return n in self._inputs(w)

    def artifacts(self, w: StageWriter) -> list[Instruction]:
        builder = w.builder_name()
        out = []
        saved = w.facts.savings.toolchain or w.facts.savings.build_tools
        sizes = ", ".join(f"/{p.path} {human_bytes(p.elf.size)}" for p in self.programs if p is not None)
        comment = [
            f"The program alone{f' ({sizes} before stripping)' if sizes else ''}: the Go toolchain, gcc and git stay in "
            f"the builder{fixes((FindingKind.BUILD_TOOLS, saved))}."
        ]
        for path in self.paths:
            out.append(Instruction("COPY", f"--from={builder} /{path} /{path}", comment))
            comment = []
        if w.facts.runtime_base == SCRATCH and Need.CA_CERTIFICATES in self.needs():
            out.append(Instruction("COPY", f"--from={builder} {CA_BUNDLE} {CA_BUNDLE}", [
                "The CA bundle, for the program's TLS client connections (Go reads this file on Linux).",
            ]))
        w.ledger.fixes.append(Fix(FindingKind.BUILD_TOOLS, f"the Go toolchain stays in the builder: {w.facts.runtime_base} runs the program alone", saved))
        w.ledger.fixes.append(Fix(Change.GO, f"the program built in a builder stage{', static' if self.static else ''}, on {w.facts.runtime_base}"))
        w.ledger.estimated[BUILD_OUTPUT] = sum(p.elf.size - p.strippable for p in self.programs if p is not None)
        return out

    def command(self, w: StageWriter, ins: Instruction) -> Instruction:
        """On scratch, which sets no PATH, the program by its path."""
        items = exec_array(ins.args) or []
        if w.facts.runtime_base != SCRATCH or not items or "/" in items[0]:
            return ins
        match = [p for p in self.paths if posixpath.basename(p) == items[0]]
        if len(match) != 1:
            return ins
        comments = [*ins.comments, f"By its path: scratch sets no PATH (was {json_array(items)})."]
        return Instruction(ins.keyword, json_array(["/" + match[0], *items[1:]]), comments)

    def copied_from_builder(self, w: StageWriter) -> str | None:
        return None

    def is_manifest(self, name: str, is_dir: bool) -> bool:
        return not is_dir and name in ("go.mod", "go.sum", "go.work", "go.work.sum")

    def alternatives(self, w: StageWriter) -> list[str]:
        return []

    def ignore_patterns(self) -> list[tuple[str, tuple[str, ...]]]:
        return [("Go: coverage profiles and test binaries.", di.GO), (di.NOT_RUNTIME_COMMENT, di.NOT_RUNTIME)]

    def smoke(self, command: list[str]) -> list[str] | None:
        return None  # a service: verify runs it and asks its health endpoint

    def base_user(self, w: StageWriter) -> tuple[str, str] | None:
        return DISTROLESS_USER if w.facts.runtime_base == DISTROLESS_STATIC else None

    def base_entrypoint(self, runtime_base: str) -> list[str]:
        return []


def _add_tag(flags: list[str], tag: str) -> None:
    """``tag`` added to the build's -tags (comma-separated), or a -tags flag of its own."""
    for i, word in enumerate(flags):
        if word in ("-tags", "--tags") and i + 1 < len(flags):
            flags[i + 1] = ",".join([*flags[i + 1].replace(" ", ",").split(","), tag]).strip(",")
            return
        if word.startswith(("-tags=", "--tags=")):
            flags[i] = f"{word},{tag}" if not word.endswith("=") else word + tag
            return
    flags[1:1] = ["-tags", tag]


def _with_strip(ldflags: str) -> str:
    words = ldflags.split()
    return " ".join([*words, *(flag for flag in ("-s", "-w") if flag not in words)])


def _built_programs(index: ImageIndex, history: RewriteSource) -> list[str]:
    """Executable files the go build steps' layers added and the final image shows."""
    layers = [
        ins.layer for ins in history.instructions
        if ins.layer is not None and ins.layer >= history.base_layers and ins.keyword == "RUN" and not ins.exec_form
        and any(c.kind == cmd.GO_BUILD for c in cmd.analyse_run(ins.args))
    ]
    out = []
    for layer_no in layers:
        layer = index.layers[layer_no]
        files = layer.files
        for i, path in enumerate(files.paths):
            if (
                files.types[i] == EntryType.FILE and files.modes[i] & 0o111 and layer.changes[i] in (Changed.ADDED, Changed.MODIFIED)
                and not CACHES.search(path) and index.final.get(path) == entry_ref(layer_no, i)
            ):
                out.append(path)
    return out


def _program(index: ImageIndex, path: str) -> BuiltProgram | None:
    """The program at ``path``: the record the index kept, else read from its body (a
    program the index did not take for one: small, or in a system directory)."""
    elf = index.program(path)
    if elf is None and (body := file_body(index, path)) is not None:
        elf = read_program(body)
    return BuiltProgram(path, elf) if elf is not None else None


def _library_packages(index: ImageIndex, db: PackageDatabase | None, programs: list[BuiltProgram | None]) -> dict[str, str]:
    """The package holding each library beyond libc that the programs load."""
    if db is None:
        return {}
    out = {}
    for lib in sorted({lib for p in programs if p is not None for lib in p.other_libraries()}):
        for directory in LIBRARY_DIRS:
            owner = db.owner.get(f"{directory}/{lib}")
            if owner is not None:
                out[lib] = owner.split(":", 1)[0]
                break
    return out

