"""Node services: devDependencies in the runtime node_modules, and a package manager
(``npm start``) as the container's first process.

Which installed packages only devDependencies need comes from the image's own project
files (slimview/packages/npm.py): npm's lockfiles mark them, yarn's graph is walked.
Bytes are each such package's files in the final node_modules (nested packages are
counted as their own).
"""

from __future__ import annotations

import posixpath
import shlex
from collections import Counter

from slimview.display import printable
from slimview.dockerfile.shell import NODE_SCRIPT, classify
from slimview.findings.details import DevDependenciesDetails, DevPackage, PackageManagerPid1Details
from slimview.findings.model import Finding, FindingKind, FindingPath, Severity, sort_largest_first
from slimview.findings.view import ImageView
from slimview.packages.npm import InstalledPackage, NodeManager, NodeProject, package_location
from slimview.packages.paths import NODE_MODULES

# -- devDependencies -----------------------------------------------------------------------------

_DEV_FIX = {
    NodeManager.NPM: (
        "Install production dependencies only where the service runs: build in a stage with every dependency, "
        "then `npm prune --omit=dev` (or `npm ci --omit=dev` in the runtime stage) and copy node_modules, the "
        "compiled output and package.json into a slim runtime stage. `ENV NODE_ENV=production` makes npm omit "
        "devDependencies too."
    ),
    NodeManager.YARN: (
        "Install production dependencies only where the service runs: `yarn install --production --frozen-lockfile` "
        "(yarn 1) or `yarn workspaces focus --production` (yarn 2+) in the runtime stage, after building in a stage "
        "that has the devDependencies."
    ),
}
_SOURCE = {NodeManager.NPM: "npm lockfile", NodeManager.YARN: "yarn lockfile"}


def _dev_finding(view: ImageView, project: NodeProject) -> Finding | None:
    prefix = project.path(NODE_MODULES + "/")
    cut = len(project.root) + 1 if project.root else 0
    decided: dict[str, InstalledPackage | None] = {}
    known = project.packages or None  # npm lockfiles name every location
    found: dict[str, list[FindingPath]] = {}
    by_layer: Counter[int] = Counter()
    for layer in view.layers:
        names, sizes = layer.files.paths, layer.files.sizes
        for i in view.visible_files(layer.index):
            path = names[i]
            if not path.startswith(prefix):
                continue
            location = package_location(path[cut:], known)
            if location is None:
                continue
            if location not in decided:
                decided[location] = project.dev_package(location)
            if decided[location] is None:
                continue
            found.setdefault(location, []).append(FindingPath(path, sizes[i], layer.index))
            by_layer[layer.index] += sizes[i]
    total = sum(by_layer.values())
    if not total:
        return None
    packages = []
    for location, files in found.items():
        pkg = decided[location]
        assert pkg is not None
        packages.append(DevPackage(pkg.name, pkg.version, location, sum(p.size for p in files), len(files)))
    packages.sort(key=lambda p: (-p.bytes, p.location))
    top = {f"{NODE_MODULES}/{name}" for name in project.dev_dependencies}
    direct = [p.name for p in packages if p.location in top]  # largest first
    layer_no = max(by_layer, key=lambda n: (by_layer[n], n))
    paths = [p for files in found.values() for p in files]
    sort_largest_first(paths)
    named = printable(", ".join((direct or [p.name for p in packages])[:5])) + (" …" if len(direct or packages) > 5 else "")
    where = "/" + printable(project.path(NODE_MODULES))
    told = (
        f"{project.lockfile.rpartition('/')[2]} marks them" if project.manager == NodeManager.NPM and project.lockfile
        else "only devDependencies reach them in yarn.lock" if project.lockfile
        else "package.json lists them as devDependencies (without a lockfile only the top-level ones can be told)"
    )
    return view.finding(
        kind=FindingKind.BUILD_TOOLS,
        title=f"devDependencies in the runtime image: {named} ({len(packages)} packages) in {where}, installed by {view.quoted(layer_no)}",
        saved=total,
        layer_no=layer_no,
        paths=paths,
        evidence=(
            f"{len(packages)} package(s) in {where} are needed only by devDependencies of {printable(project.name)} ({printable(told)}): "
            + ", ".join(f"{printable(p.name)} ({p.bytes} bytes)" for p in packages[:8]) + (" …" if len(packages) > 8 else "")
            + ". The service does not load them at run time."
        ),
        fix=_DEV_FIX.get(project.manager, _DEV_FIX[NodeManager.NPM]),
        details=DevDependenciesDetails(
            _SOURCE.get(project.manager, "npm lockfile") if project.lockfile else "package.json",
            "/" + project.root, "/" + project.lockfile if project.lockfile else None, direct, packages,
        ),
    )


# -- npm start as PID 1 ------------------------------------------------------------------------------

RUNNERS = frozenset({"npm", "yarn", "pnpm", "npx"})
# Entrypoints known to exec their arguments (the official node image's), and init processes
# that forward signals (with one, the package manager is not PID 1).
_EXEC_ENTRYPOINTS = frozenset({"docker-entrypoint.sh"})
_INITS = frozenset({"tini", "tini-static", "dumb-init", "catatonit", "init", "s6-svscan"})
_SHELLS = frozenset({"sh", "bash", "ash", "dash"})


def _command_words(view: ImageView) -> tuple[list[str], list[str]] | None:
    """(the container's command line, the words of the process that runs as PID 1), or None
    when an init or an unknown entrypoint comes first."""
    config = view.index.source.image_config
    entrypoint = [str(w) for w in config.get("Entrypoint") or []]
    cmd = [str(w) for w in config.get("Cmd") or []]
    line = entrypoint + cmd
    words = list(line)
    if words and posixpath.basename(words[0]) in _EXEC_ENTRYPOINTS:
        words = words[1:]
    if not words or posixpath.basename(words[0]) in _INITS:
        return None
    if posixpath.basename(words[0]) in _SHELLS and len(words) >= 3 and words[1] == "-c":
        try:
            words = shlex.split(words[2])
        except ValueError:
            return None
        if words[:1] == ["exec"]:
            words = words[1:]
    return line, words


def _script(words: list[str]) -> str:
    """The package.json script the command ``words`` runs ("" when it runs a binary or nothing)."""
    command = classify(shlex.join(words))
    return command.script if command.kind == NODE_SCRIPT and command.tool != "npx" else ""


def _project_at(projects: list[NodeProject], workdir: str) -> NodeProject | None:
    root = workdir.strip("/")
    return next((p for p in projects if p.root == root), None)


def _pid1_finding(view: ImageView, projects: list[NodeProject]) -> Finding | None:
    got = _command_words(view)
    if got is None:
        return None
    line, words = got
    runner = posixpath.basename(words[0]) if words else ""
    if runner not in RUNNERS:
        return None
    script = _script(words)
    project = _project_at(projects, view.index.source.image_config.get("WorkingDir") or "/")
    runs = project.scripts.get(script, "") if project is not None and script else ""
    direct = ""
    if runs:
        try:
            direct_words = shlex.split(runs)
        except ValueError:
            direct_words = []
        if direct_words and direct_words[0] == "node" and not any(w in ("&&", "||", ";", "|") for w in direct_words):
            direct = "CMD [" + ", ".join(f'"{w}"' for w in direct_words) + "]"
    shown = printable(" ".join(words[:3]))
    return Finding(
        kind=FindingKind.CONFIG,
        title=f"`{shown}` runs as PID 1: SIGTERM never reaches the service",
        severity=Severity.MEDIUM,
        bytes=0,
        layer=None,
        instruction="",
        evidence=(
            f"The container's command is {line!r}, so {runner} is its first process"
            + (f" and starts the {script!r} script ({runs!r})" if runs else "")
            + f". {runner} does not pass SIGTERM on to the program it started: on `docker stop` the service never "
            "runs its shutdown (open requests are cut), the engine waits 10 s and kills it."
        ),
        fix=(
            (f"Run the program directly, in exec form: `{direct}`" if direct else "Run the program directly, in exec form "
             '(`CMD ["node", "dist/server.js"]`)')
            + ", or put an init in front of it that forwards signals (`docker run --init`, or tini as ENTRYPOINT)."
        ),
        details=PackageManagerPid1Details(line, runner, script, runs),
    )


def detect(view: ImageView, projects: list[NodeProject]) -> list[Finding]:
    findings = [f for p in projects if (f := _dev_finding(view, p)) is not None]
    pid1 = _pid1_finding(view, projects)
    return findings + ([pid1] if pid1 is not None else [])
