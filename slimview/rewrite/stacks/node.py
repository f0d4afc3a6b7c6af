"""Node: dependencies installed, the project built and devDependencies pruned in a builder
stage; the runtime is the slim Node image with only what runs.

The builder is the original's base (compilers and python3 for native modules), installs
from the lockfile (``npm ci``, ``yarn install --frozen-lockfile``, ``pnpm install
--frozen-lockfile``) with the package manager's cache in a BuildKit cache mount, copies
the context as the original did, runs the original's scripts (``npm run build``) and
prunes devDependencies. The runtime (``node:18-bookworm-slim`` for ``node:18-bookworm``)
copies the production ``node_modules``, package.json and the build's output (what the
original's script layers added; source maps left out unless the program reads them), sets
``NODE_ENV=production``, runs as the base's ``node`` user and starts ``node`` itself instead
of ``npm start`` (read from package.json: a package manager as PID 1 does not pass SIGTERM
on). A project without a build step copies its own files from the context instead.

What the stack reads from the image is in ``NodeProject`` (``read_project``): package.json,
the lockfile and which installed packages only devDependencies need (slimview/packages/npm.py,
as the findings read them).
"""

from __future__ import annotations

import posixpath
import re
import shlex
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from slimview.display import human_bytes
from slimview.dockerfile import shell as cmd
from slimview.dockerfile.instruction import Instruction
from slimview.dockerfile.values import exec_array, json_array
from slimview.findings.caches import cache_pattern
from slimview.findings.model import FindingKind
from slimview.index.model import Change as Changed
from slimview.index.model import ImageIndex, entry_ref
from slimview.packages import npm
from slimview.packages.paths import NODE_MANIFEST, NODE_MODULES
from slimview.rewrite import dockerignore as di
from slimview.rewrite.copies import replay_in_builder
from slimview.rewrite.estimate import BUILD_OUTPUT, NODE_PACKAGES
from slimview.rewrite.layers import stored_under
from slimview.rewrite.model import Change, Fix, fixes
from slimview.rewrite.ospackages import PackagePlan, package_comments, split_build_only
from slimview.rewrite.target import RewriteSource
from slimview.rewrite.writer import Stored, env_names, merge_runs
from slimview.source.tarstream import EntryType

if TYPE_CHECKING:
    from slimview.rewrite.writer import StageWriter

NPM, YARN, PNPM = "npm", "yarn", "pnpm"
# The package manager each lockfile belongs to, in the order an install prefers them.
LOCKFILES = {npm.SHRINKWRAP: NPM, npm.PACKAGE_LOCK: NPM, npm.YARN_LOCK: YARN, "pnpm-lock.yaml": PNPM}
MANIFEST = NODE_MANIFEST
MODULES = NODE_MODULES
# Where each package manager keeps its download cache, for root (the builder's user).
CACHE_DIRS = {NPM: "/root/.npm", YARN: "/usr/local/share/.cache/yarn", PNPM: "/root/.local/share/pnpm/store"}
# The package managers' caches the original's own layers may have stored, as the findings see them.
CACHES = cache_pattern("npm", "yarn", "pnpm")
# Top-level names a build script may leave that are no output of the project.
_NOT_OUTPUT = frozenset({MODULES, ".npm", ".cache", ".yarn", ".pnpm-store", MANIFEST, *LOCKFILES})
# Package managers and the tools that set them up: their other steps belong to the builder too.
_TOOLS = frozenset({"npm", "yarn", "pnpm", "npx", "corepack"})
_SIMPLE_NODE = re.compile(r"^node(?:\s+[\w@%+=:,./-]+)+$")
NODE_IMAGE = re.compile(r"^(?:docker\.io/(?:library/)?)?node:(?P<tag>[\w.-]+)$")
ENTRYPOINT = ["docker-entrypoint.sh"]  # every official node image's
NODE_USER = ("1000:1000", "node")  # and its user


def installs_node_packages(source: RewriteSource) -> bool:
    """Whether the stage installs a Node project's dependencies (npm/yarn/pnpm, not -g)."""
    return any(c.kind == cmd.NODE_INSTALL and not c.global_install for c in _commands(source))


def _commands(source: RewriteSource):
    for ins in source.instructions:
        if ins.keyword == "RUN" and not ins.exec_form:
            yield from cmd.analyse_run(ins.args)


@dataclass
class NodeProject:
    """A Node project as the image holds it (under ``root``, the WORKDIR of its install)."""

    root: str  # absolute: "/app"
    manifest: dict = field(default_factory=dict)  # package.json
    lockfile: str = ""  # its name: "package-lock.json", "" when there is none
    manager: str = NPM
    installed: npm.NodeProject | None = None  # what node_modules holds, and which packages only devDependencies need
    files: frozenset[str] = frozenset()  # top-level names in the project directory

    @property
    def scripts(self) -> dict[str, str]:
        scripts = self.manifest.get("scripts")
        return {str(k): str(v) for k, v in scripts.items()} if isinstance(scripts, dict) else {}

    @property
    def dependencies(self) -> set[str]:
        deps = self.manifest.get("dependencies")
        return set(deps) if isinstance(deps, dict) else set()

    @property
    def dev_dependencies(self) -> list[str]:
        deps = self.manifest.get("devDependencies")
        return sorted(deps) if isinstance(deps, dict) else []

    @property
    def workspaces(self) -> bool:
        return bool(self.manifest.get("workspaces")) or "pnpm-workspace.yaml" in self.files

    @property
    def yarn_berry(self) -> bool:
        """Yarn 2 or later (Plug'n'Play era commands), by .yarnrc.yml or packageManager."""
        declared = str(self.manifest.get("packageManager") or "")
        return ".yarnrc.yml" in self.files or bool(re.match(r"^yarn@[2-9]", declared))

    def start_script(self) -> str:
        """What ``npm start`` runs: the start script, else npm's default ``node server.js``."""
        return self.scripts.get("start") or ("node server.js" if "server.js" in self.files else "")

    def is_dev(self, relative: str) -> bool:
        """Whether the file at ``relative`` (under node_modules) belongs to a package only
        devDependencies need (packages/npm.py reads the lockfile that says so)."""
        if self.installed is None:
            return False
        location = npm.package_location(relative, self.installed.packages or None)
        return location is not None and self.installed.dev_package(location) is not None


def read_project(index: ImageIndex | None, root: str, tool: str) -> NodeProject:
    """The project at ``root`` from the image's package.json and lockfile (packages/npm.py reads
    them); ``tool`` is the package manager the original ran, when no lockfile says."""
    project = NodeProject(root, manager=tool if tool in (NPM, YARN, PNPM) else NPM)
    if index is None:
        return project
    prefix = root.strip("/") + "/" if root.strip("/") else ""
    project.files = frozenset(p[len(prefix):].split("/", 1)[0] for p in index.final if p.startswith(prefix) and len(p) > len(prefix))
    project.installed = next((p for p in npm.node_projects(index) if p.root == root.strip("/")), None)
    if project.installed is not None:
        project.manifest = project.installed.manifest
    project.lockfile = next((name for name in LOCKFILES if name in project.files), "")
    if project.lockfile:
        project.manager = LOCKFILES[project.lockfile]
    return project


@dataclass(frozen=True)
class Measured:
    """What the original's layers hold of the project, for the fixes and the estimate."""

    modules: int = 0  # bytes in the final node_modules
    dev: int = 0  # of those, devDependencies' (when the lockfile says)
    outputs: tuple[str, ...] = ()  # top-level names the build scripts added
    output_bytes: int = 0
    source_maps: int = 0  # bytes of *.map among the outputs
    cache: Stored = Stored()


def measure(index: ImageIndex | None, history: RewriteSource | None, project: NodeProject) -> Measured:
    if index is None or history is None:
        return Measured()
    prefix = project.root.strip("/") + "/" if project.root.strip("/") else ""
    modules = dev = 0
    for path, entry, _layer in index.final_files():
        if entry.type == EntryType.FILE and path.startswith(prefix + MODULES + "/"):
            modules += entry.size
            if project.is_dev(path[len(prefix):]):
                dev += entry.size
    script_layers = [
        ins.layer for ins in history.instructions
        if ins.layer is not None and ins.layer >= history.base_layers and ins.keyword == "RUN" and not ins.exec_form
        and any(c.kind == cmd.NODE_SCRIPT for c in cmd.analyse_run(ins.args))
    ]
    outputs: dict[str, None] = {}
    output_bytes = maps = 0
    for layer_no in script_layers:
        files, changes = index.layers[layer_no].files, index.layers[layer_no].changes
        for i, path in enumerate(files.paths):
            if not path.startswith(prefix) or changes[i] not in (Changed.ADDED, Changed.MODIFIED):
                continue
            top = path[len(prefix):].split("/", 1)[0]
            if top in _NOT_OUTPUT or index.final.get(path) != entry_ref(layer_no, i):
                continue
            outputs[top] = None
            if files.types[i] == EntryType.FILE:
                output_bytes += files.sizes[i]
                maps += files.sizes[i] if path.endswith(".map") else 0
    cache = Stored(*stored_under(index, CACHES, history.base_layers))
    return Measured(modules, dev, tuple(sorted(outputs)), output_bytes, maps, cache)


@dataclass
class Node:
    project: NodeProject
    measured: Measured = Measured()
    scripts_run: tuple[str, ...] = ()  # the package.json scripts the original's RUN steps run
    name: str = "node"
    serves: bool = True

    @classmethod
    def of(cls, source: RewriteSource, index: ImageIndex | None, history: RewriteSource | None) -> Node:
        root, tool = "/", NPM
        workdir = "/"
        for ins in source.instructions:
            if ins.keyword == "WORKDIR":
                workdir = posixpath.normpath(posixpath.join(workdir, ins.args.strip().strip('"')))
            elif ins.keyword == "RUN" and not ins.exec_form:
                found = next((c for c in cmd.analyse_run(ins.args) if c.kind == cmd.NODE_INSTALL and not c.global_install), None)
                if found is not None:
                    root, tool = workdir, found.tool
                    break
        project = read_project(index, root, tool)
        scripts = tuple(c.script for c in _commands(source) if c.kind == cmd.NODE_SCRIPT)
        return cls(project, measure(index, history, project), scripts)

    # -- what the stack decides --------------------------------------------------------------------

    @property
    def root(self) -> str:
        return self.project.root

    @property
    def builds(self) -> bool:
        """Whether the original's scripts made an output the runtime runs (``dist``)."""
        return bool(self.measured.outputs)

    def runtime_base(self, version: str | None, family: str, original: str) -> tuple[str, str] | None:
        m = NODE_IMAGE.match(original)
        if m is None:
            return None
        tag = m.group("tag")
        if "slim" in tag or "alpine" in tag:
            return original, f"{original}, the original base (already Node without a build toolchain)."
        slim = "slim" if tag == "latest" else f"{tag}-slim"
        image = f"node:{slim}"
        return image, f"{image}, the slim variant of {original}: the same Node, without compilers, git and python3."

    def packages(self, w: StageWriter) -> PackagePlan:
        plan = PackagePlan(w.manager)
        split_build_only(w.requested, plan, w.facts.build_packages, w.facts.shared_libraries)
        return plan

    def replaces(self, command: cmd.Command) -> bool:
        if command.kind in (cmd.NODE_INSTALL, cmd.NODE_SCRIPT):
            return True
        program = command.text.split(None, 1)[0].rsplit("/", 1)[-1] if command.text.strip() else ""
        return command.kind == cmd.OTHER and program in _TOOLS

    def _global_in_runtime(self, w: StageWriter) -> bool:
        """Whether the program the image runs is no node/npm, so a global install provides it."""
        command = w.exec_command()
        return bool(command) and posixpath.basename(command[0]) not in ("node", *_TOOLS) and command[0] not in ENTRYPOINT

    # -- builder -------------------------------------------------------------------------------------

    def builder(self, w: StageWriter) -> list[Instruction]:
        original_base = w.facts.original_base or w.facts.runtime_base
        out = [Instruction("FROM", f"{original_base} AS {w.builder_name()}", [
            f"Builder stage: {original_base} has what installing and building may need (compilers for native",
            "modules, git); only the production node_modules, the build's output and package.json move on.",
        ])]
        out += w.args()
        out += w.builder_env()
        if w.packages.build:
            saved = w.facts.savings.build_tools
            comments = package_comments(w) + [f"Build-only packages stay in this stage{fixes((FindingKind.BUILD_TOOLS, saved))}."]
            out.append(Instruction("RUN", w.install(w.packages.build), comments))
            w.ledger.fixes.append(Fix(FindingKind.BUILD_TOOLS, "build-only packages only in the builder: " + ", ".join(w.packages.build), saved))
        if self.root != "/":
            out.append(Instruction("WORKDIR", self.root))
        steps = [(n, c) for n, commands in w.original.commands.items() for c in commands if self.replaces(c)]
        install_at = next(i for i, (_n, c) in enumerate(steps) if c.kind == cmd.NODE_INSTALL and not c.global_install)
        before, install, after = steps[:install_at], steps[install_at], steps[install_at + 1 :]
        mount = (f"--mount=type=cache,target={CACHE_DIRS[self.project.manager]}",)
        if before:
            out.append(Instruction("RUN", " \\\n && ".join(c.text for _n, c in before), _comments(w, before), flags=mount))
        manifests = self._manifests()
        if manifests:
            w.ledger.copied += [(m, False) for m in manifests]
            what = "package.json and the lockfile" if self.project.lockfile else "package.json"
            out.append(Instruction("COPY", " ".join([*manifests, self.root.rstrip("/") + "/"]), [
                f"{what} first: editing the source no longer re-runs the install."
            ]))
            w.ledger.fixes.append(Fix(Change.CACHE_ORDER, f"{what} copied and installed before the source"))
        else:
            out += replay_in_builder(w, self._inputs(w))  # workspaces: every package.json is needed to install
        cache = self.measured.cache
        comments = _comments(w, [install]) + [
            f"{self._install_phrase()}; {self.project.manager}'s cache stays in a BuildKit cache mount, out of every layer"
            f"{fixes(*cache.kinds())}."
        ]
        out.append(Instruction("RUN", self._install_command(install[1]), comments, flags=mount))
        if cache.hidden:
            w.ledger.fixes.append(Fix(FindingKind.HIDDEN_BYTES, f"{self.project.manager}'s cache never stored: a cache mount", cache.hidden))
        if cache.visible:
            w.ledger.fixes.append(Fix(FindingKind.PACKAGE_CACHE, f"no {self.project.manager} cache in the image: a cache mount", cache.visible))
        if manifests:
            out += replay_in_builder(w, self._inputs(w))
        commands = [c.text for _n, c in after]
        comments = _comments(w, after)
        prune = self._prune_command()
        dev = self.project.dev_dependencies
        named = ", ".join(dev[:4]) + (" …" if len(dev) > 4 else "")
        comments.append(
            f"devDependencies{f' ({named})' if named else ''} leave node_modules{fixes((FindingKind.BUILD_TOOLS, self.measured.dev))}."
        )
        w.ledger.fixes.append(Fix(FindingKind.BUILD_TOOLS, "devDependencies pruned from node_modules" + (f": {named}" if named else ""), self.measured.dev))
        commands.append(prune)
        maps = self._dropped_maps(w)
        if maps:
            commands.append(f"find {' '.join(maps)} -name '*.map' -type f -delete")
            comments.append(
                f"Source maps ({human_bytes(self.measured.source_maps)}): only a debugger or node --enable-source-maps reads them, "
                "and the program runs without."
            )
        out.append(Instruction("RUN", " \\\n && ".join(commands), comments, flags=mount))
        return merge_runs(out)

    def _manifests(self) -> list[str]:
        """What the install reads, copied before the source; none for workspaces (each
        workspace's package.json is needed too)."""
        if self.project.workspaces:
            return []
        names = [MANIFEST] + ([self.project.lockfile] if self.project.lockfile else [])
        if self.project.manager == YARN and self.project.yarn_berry:
            names += [n for n in (".yarnrc.yml",) if n in self.project.files]
        return names

    def _install_phrase(self) -> str:
        manager, lock = self.project.manager, self.project.lockfile
        if not lock:
            return f"{manager} install (no lockfile in the image: pin the versions with one)"
        return f"{' '.join(self._install_command(None).split()[:2])} installs exactly what {lock} lists"

    def _install_command(self, original: cmd.Command | None) -> str:
        options = [w for w in shlex.split(original.text)[1:] if w.startswith("-") and w not in ("-g", "--global")] if original else []
        manager, lock = self.project.manager, bool(self.project.lockfile)
        if manager == YARN:
            base = ["yarn", "install", "--immutable" if self.project.yarn_berry else "--frozen-lockfile"] if lock else ["yarn", "install"]
        elif manager == PNPM:
            base = ["pnpm", "install", "--frozen-lockfile"] if lock else ["pnpm", "install"]
        else:
            base = ["npm", "ci"] if lock else ["npm", "install"]
        kept = [o for o in options if o not in base and o not in ("--frozen-lockfile", "--immutable")]
        return shlex.join(base + kept)

    def _prune_command(self) -> str:
        manager = self.project.manager
        if manager == YARN:
            if self.project.yarn_berry:
                return "yarn workspaces focus --all --production"
            return "yarn install --production --frozen-lockfile --ignore-scripts --prefer-offline"
        if manager == PNPM:
            return "pnpm prune --prod"
        return "npm prune --omit=dev"

    def _dropped_maps(self, w: StageWriter) -> list[str]:
        """The output directories whose source maps the runtime does without: none when the
        program turns them on (--enable-source-maps, source-map-support)."""
        if not self.measured.source_maps:
            return []
        env = " ".join(i.args for i in w.source.instructions if i.keyword == "ENV")
        if "--enable-source-maps" in self.project.start_script() + env or "source-map-support" in self.project.dependencies:
            return []
        return list(self.measured.outputs)

    # -- runtime -------------------------------------------------------------------------------------

    def starts_app(self, w: StageWriter, n: int) -> bool:
        copy = w.original.copies.get(n)
        if copy is not None and copy.reads_context:
            return True
        return any(self.replaces(c) for c in w.original.commands.get(n, []))

    def _inputs(self, w: StageWriter) -> list[int]:
        """The context copies into the project before its last install or script: what the
        builder reads."""
        last = max((m for m, commands in w.original.commands.items() if any(self.replaces(c) for c in commands)), default=-1)
        root = self.root.rstrip("/") + "/"
        return [
            n for n, step in w.original.copies.items()
            if n < last and step.reads_context and (step.dest.startswith(root) or step.dest.rstrip("/") == self.root.rstrip("/"))
        ]

    def builder_input(self, w: StageWriter, n: int) -> bool:
        """With a build step, what the builder read stays there: the runtime takes the build's
        output instead. Without one, the runtime copies the project's own files."""
        return self.builds and n in self._inputs(w)

    def artifacts(self, w: StageWriter) -> list[Instruction]:
        builder, root = w.builder_name(), self.root.rstrip("/")
        out = []
        if not any(i.keyword == "ENV" and "NODE_ENV" in env_names(i.args) for i in w.source.instructions):
            out.append(Instruction("ENV", "NODE_ENV=production", [
                "Production mode for Express and other libraries (and npm never installs devDependencies here)."
            ]))
        out.append(Instruction("COPY", f"--from={builder} {root}/{MODULES} {root}/{MODULES}", [
            f"node_modules without devDependencies ({human_bytes(self.measured.modules - self.measured.dev)} of "
            f"{human_bytes(self.measured.modules)} on the original), package.json (the program may read it)"
            + (", and the build's output; the sources stay in the builder." if self.builds else "."),
        ]))
        out.append(Instruction("COPY", f"--from={builder} {root}/{MANIFEST} {root}/"))
        for output in self.measured.outputs:
            out.append(Instruction("COPY", f"--from={builder} {root}/{output} {root}/{output}"))
        w.ledger.estimated[NODE_PACKAGES] = self.measured.modules - self.measured.dev
        w.ledger.estimated[BUILD_OUTPUT] = self.measured.output_bytes - (self.measured.source_maps if self._dropped_maps(w) else 0)
        summary = f"node_modules, package.json{' and ' + ', '.join(self.measured.outputs) if self.builds else ''} from a builder stage"
        w.ledger.fixes.append(Fix(Change.NODE, summary))
        if self.runs_directly(w):
            w.ledger.fixes.append(Fix(FindingKind.CONFIG, "node runs as PID 1 and gets SIGTERM, instead of " + " ".join(self._original_command(w))))
        globals_ = [c.text for commands in w.original.commands.values() for c in commands if c.kind == cmd.NODE_INSTALL and c.global_install]
        if globals_ and self._global_in_runtime(w):
            out.append(Instruction("RUN", " \\\n && ".join([*globals_, "npm cache clean --force"]), [
                "The program the image runs comes from this global install; npm's cache is cleaned in the same layer."
            ]))
        return out

    def _original_command(self, w: StageWriter) -> list[str]:
        ran = w.facts.original_command
        return (ran.entrypoint + ran.cmd) if ran is not None else []

    def _direct(self, items: list[str]) -> list[str] | None:
        """``node …`` for a package manager starting a script that is a plain node command."""
        words = list(items)
        if words[:1] == ENTRYPOINT:
            words = words[1:]
        if not words or posixpath.basename(words[0]) not in (NPM, YARN, PNPM):
            return None
        command = cmd.classify(shlex.join(words))
        if command.kind != cmd.NODE_SCRIPT or command.tool not in (NPM, YARN, PNPM):
            return None
        extra = words[words.index("--") + 1 :] if "--" in words else []
        script = self.project.start_script() if command.script == "start" else self.project.scripts.get(command.script, "")
        if not _SIMPLE_NODE.match(script.strip()):
            return None
        return shlex.split(script) + extra

    def runs_directly(self, w: StageWriter) -> bool:
        return any(self._direct(exec_items(ins)) for ins in w.source.instructions if ins.keyword in ("CMD", "ENTRYPOINT"))

    def command(self, w: StageWriter, ins: Instruction) -> Instruction:
        items = exec_items(ins)
        direct = self._direct(items)
        if direct is None or w.original.workdir_at[-1] != self.root:
            return ins
        script = " ".join(items[1:] if items[:1] == ENTRYPOINT else items)
        comments = [c for c in ins.comments if not c.startswith("Exec form")]
        comments.append(f"node itself as the program, not `{script}`: a package manager as PID 1 does not pass SIGTERM on.")
        return Instruction(ins.keyword, json_array(direct), comments)

    def copied_from_builder(self, w: StageWriter) -> str | None:
        return None

    def is_manifest(self, name: str, is_dir: bool) -> bool:
        return (name == MODULES and is_dir) or (not is_dir and (name == MANIFEST or name in LOCKFILES))

    def alternatives(self, w: StageWriter) -> list[str]:
        return []

    def ignore_patterns(self) -> list[tuple[str, tuple[str, ...]]]:
        groups: list[tuple[str, tuple[str, ...]]] = [("Node: installed packages, caches and tool output the builder makes again.", di.NODE)]
        if not any("test" in s or "lint" in s for s in self.scripts_run):  # those read the tests
            groups.append((di.NOT_RUNTIME_COMMENT, di.NOT_RUNTIME))
        return groups

    def smoke(self, command: list[str]) -> list[str] | None:
        return None  # a service: verify runs it and asks its health endpoint

    def base_user(self, w: StageWriter) -> tuple[str, str] | None:
        return NODE_USER if NODE_IMAGE.match(w.facts.runtime_base) else None

    def base_entrypoint(self, runtime_base: str) -> list[str]:
        return list(ENTRYPOINT) if NODE_IMAGE.match(runtime_base) else []


def exec_items(ins: Instruction) -> list[str]:
    return exec_array(ins.args) or []


def _comments(w: StageWriter, steps: list[tuple[int, cmd.Command]]) -> list[str]:
    out: list[str] = []
    for n in dict.fromkeys(n for n, _c in steps):
        out += w.ledger.comments(n)
    return out


