"""A whole toolchain image shipped to run one program built in it: a Go service built in
``golang`` and run from it.

A Go program needs nothing from the image that built it: a static one runs on ``scratch``,
one built with cgo needs the C library it links and what that needs. Everything else in
the final filesystem — the toolchain (Debian's in ``/usr/lib/go-1.19``, the official
image's in ``/usr/local/go``), compilers, git, the distribution itself — is avoidable. The
application's own files, copied from the build context, are left to the context-junk and
sources findings, which tell what the program reads from what it does not.
"""

from __future__ import annotations

import posixpath
import re

from slimview.display import printable
from slimview.dockerfile.history import copies_context
from slimview.elf import Program, ProgramLinkage
from slimview.findings.details import LabelBytes, ToolchainDetails
from slimview.findings.model import Finding, FindingKind, FindingPath, sort_largest_first
from slimview.findings.programs import ImageProgram
from slimview.findings.view import ImageView
from slimview.index.model import split_ref
from slimview.packages.closure import closure_names
from slimview.packages.model import PackageDatabase
from slimview.source.tarstream import EntryType

# Where a Go toolchain's `go` command lives: GOROOT/bin/go.
_GO_COMMAND = re.compile(r"^(usr/local/go|usr/lib/go(?:-[0-9.]+)?|usr/local/go[0-9.]+|opt/go)/bin/go$")
# Where the loader looks for the shared libraries a program names (glibc's default paths).
LIBRARY_DIRS = (
    "lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu", "lib/aarch64-linux-gnu", "usr/lib/aarch64-linux-gnu",
    "lib64", "usr/lib64", "lib", "usr/lib", "usr/local/lib",
)


def go_roots(view: ImageView) -> list[str]:
    """Each Go toolchain's GOROOT in the final filesystem."""
    return sorted({m.group(1) for path in view.index.final if path.endswith("/bin/go") and (m := _GO_COMMAND.match(path))})


def toolchain_dirs(view: ImageView, goroot: str) -> list[str]:
    """GOROOT and the directories its symlinks lead to (Debian keeps src, api and test in
    /usr/share/go-1.19 and links them from /usr/lib/go-1.19)."""
    index = view.index
    prefix = goroot + "/"
    targets = []
    for path, ref in index.final.items():
        if path.startswith(prefix) and "/" not in path[len(prefix):]:
            layer_no, i = split_ref(ref)
            files = index.layers[layer_no].files
            if files.types[i] == EntryType.SYMLINK:
                link = files.links.get(i, "")
                target = posixpath.normpath(link if link.startswith("/") else posixpath.join(goroot, link)).lstrip("/")
                if not target.startswith(prefix) and not target.startswith(".."):
                    targets.append(target)
    dirs = [goroot]
    if targets:
        common = posixpath.commonpath(targets)
        dirs += [common] if common.count("/") >= 2 else sorted(set(targets))
    return dirs


def libraries(view: ImageView, program: Program) -> set[str]:
    """The image files of ``program``'s loader and shared libraries, found where the loader looks."""
    index = view.index
    found: set[str] = set()
    if program.interpreter and (loader := index.resolve(program.interpreter)) is not None:
        found.add(loader)
    for name in program.needed:
        resolved = next((r for d in LIBRARY_DIRS if (r := index.resolve(f"{d}/{name}")) is not None), None)
        if resolved is not None:
            found.add(resolved)
    return found


def runtime_packages(db: PackageDatabase | None, files: set[str]) -> set[str]:
    """The packages ``files`` belong to, and what those depend on."""
    if db is None or not db.attributed:
        return set()
    return closure_names({db.owner[path] for path in files if path in db.owner}, db.packages)


def _finding(view: ImageView, db: PackageDatabase | None, programs: list[ImageProgram], goroots: list[str]) -> Finding | None:
    largest = programs[0]  # names the finding; every one of them is kept
    program, program_path = largest.elf, largest.path
    kept = {p.path for p in programs}
    libs = set().union(*(libraries(view, p.elf) for p in programs)) - kept
    packages = runtime_packages(db, libs)
    needs = libs | {path for name in packages for path in db.packages[name].files} if db is not None else libs
    context_layers = {layer.index for layer in view.layers if copies_context(view.instruction(layer.index))}
    dirs = [d for goroot in goroots for d in toolchain_dirs(view, goroot)]
    by_dir = dict.fromkeys(dirs, 0)
    paths: list[FindingPath] = []
    by_layer: dict[int, int] = dict.fromkeys(range(len(view.layers)), 0)
    runtime_bytes = 0
    for layer in view.layers:
        if layer.index in context_layers:
            continue
        names, sizes = layer.files.paths, layer.files.sizes
        for i in view.visible_files(layer.index):
            path, size = names[i], sizes[i]
            if not size or path in kept:
                continue
            if path in needs:
                runtime_bytes += size
                continue
            paths.append(FindingPath(path, size, layer.index))
            by_layer[layer.index] += size
            for d in dirs:
                if path.startswith(d + "/"):
                    by_dir[d] += size
                    break
    total = sum(p.size for p in paths)
    if not by_dir or not total:
        return None
    sort_largest_first(paths)
    layer_no = max(by_layer, key=lambda n: (by_layer[n], n))  # where most of it came from: the toolchain's install
    version = printable(program.go_version) if program.go_version != "go" else "Go"
    static = program.linkage == ProgramLinkage.STATIC
    cgo = program.go_settings.get("CGO_ENABLED")
    runtime = "nothing else: it is static" if static else (
        f"{printable(', '.join(program.needed)) or 'its loader'} ({runtime_bytes} bytes with what they need)"
        + (f"; it was built with CGO_ENABLED={printable(cgo)}" if cgo else "")
    )
    others = f" ({len(programs) - 1} other Go program(s) kept too)" if len(programs) > 1 else ""
    fix = (
        "Build in a `golang` builder stage and copy only the program into the runtime stage: "
        + ("`FROM scratch` (add CA certificates if it makes TLS calls, tzdata if it loads time zones, and a numeric "
           "`USER`)." if static else
           "rebuild it static with `CGO_ENABLED=0` and use `FROM scratch` (or `gcr.io/distroless/static`), or keep "
           "cgo and use a slim runtime with the C library (`debian:bookworm-slim`, `gcr.io/distroless/base`).")
        + " Add `-trimpath -ldflags=\"-s -w\"` to drop paths and debug information."
    )
    return view.finding(
        kind=FindingKind.BUILD_TOOLS,
        title=f"The Go toolchain image ships to run one {program.linkage} program, /{printable(program_path)}",
        saved=total,
        layer_no=layer_no,
        paths=paths,
        evidence=(
            f"/{printable(program_path)} ({program.size} bytes, built by {version}) needs {runtime}{others}. The other {len(paths)} file(s) "
            "of the final filesystem are the toolchain and the image it came in: "
            + ", ".join(f"/{printable(d)} ({n} bytes)" for d, n in by_dir.items())
            + ", compilers, version control and the distribution. The application's files copied from the build "
            "context are not counted here."
        ),
        fix=fix,
        details=ToolchainDetails(
            "go", "/" + program_path, program.go_version, program.linkage,
            ([program.interpreter] if program.interpreter else []) + program.needed, sorted("/" + p for p in libs),
            sorted(packages), runtime_bytes, [LabelBytes("/" + d, n) for d, n in by_dir.items()],
        ),
    )


def detect(view: ImageView, db: PackageDatabase | None, programs: list[ImageProgram]) -> list[Finding]:
    go_programs = [p for p in programs if p.elf.is_go]
    if not go_programs:
        return []
    goroots = go_roots(view)
    if not goroots:
        return []
    go_programs.sort(key=lambda p: (-p.elf.size, p.path))
    found = _finding(view, db, go_programs, goroots)
    return [found] if found is not None else []
