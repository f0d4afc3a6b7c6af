"""The Node and Go rewrites, and the refusal for a stack slimview does not know: synthetic
images shaped like the samples (tests/stack_images.py) in, Dockerfile text out. Every
figure is known from the construction; every Dockerfile passes hadolint."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from slimview.display import human_bytes
from slimview.findings import analyze
from slimview.findings.details import ToolchainDetails
from slimview.findings.model import FindingKind
from slimview.index import IndexOptions, build_index
from slimview.rewrite import rewrite_image
from slimview.rewrite.base import BaseImage
from slimview.rewrite.model import Change, NoRewrite, Rewrite
from slimview.sample.builder import ImageSpec, write_docker_archive

import stack_images as si
from elfbuild import Program
from findings_util import Pkg, base, index_of, install, noise, run, status_file, step
from rewrite_util import hadolint_issues

NODE_BASE = BaseImage("node:18-bookworm", 1, 1, "engine")
GO_BASE = BaseImage("golang:1.19-bookworm", 2, 2, "engine")
NODE_HISTORY = {1: ["WORKDIR /app"], 4: ["EXPOSE map[3000/tcp:{}]", 'CMD ["npm" "start"]']}
GO_SPEC = {"cmd": ["server"], "exposed_ports": ["8080/tcp"], "workdir": "/app",
           "empty_history": {2: ["WORKDIR /app"], 4: ["EXPOSE map[8080/tcp:{}]", 'CMD ["server"]']}}
MODULE_BYTES = sum(size for _v, _dev, files in si.PACKAGES.values() for size in files.values())
DEV_BYTES = sum(si.DEV_BYTES.values())
NPM_CACHE = 300_000 + 2_000 + 1_000  # the _cacache content, its index and the debug log
OUTPUT = {"server.js": 3_500, "server.js.map": 2_800, "routes/orders.js": 5_000, "routes/orders.js.map": 4_100}


def _fixes(rewrite: Rewrite) -> dict[str, int]:
    return {f.summary: f.bytes for f in rewrite.fixes}


def _node(tmp_path: Path, **layers) -> Rewrite:
    index = index_of(tmp_path, si.node_layers(**layers), **{**si.NODE_IMAGE, "empty_history": NODE_HISTORY})
    return rewrite_image(index, NODE_BASE, analyze(index))


def _go(tmp_path: Path, server: Program = si.SERVER, dockerfile: str | None = None) -> Rewrite:
    index = index_of(tmp_path, si.golang_layers(server), **GO_SPEC)
    if dockerfile is None:
        return rewrite_image(index, GO_BASE, analyze(index))
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text(dockerfile)
    return rewrite_image(index, GO_BASE, analyze(index), dockerfile=str(context / "Dockerfile"), context=str(context))


NODE_BUILDER = """\
FROM node:18-bookworm AS builder
WORKDIR /app
# package.json and the lockfile first: editing the source no longer re-runs the install.
COPY package.json package-lock.json /app/
# npm ci installs exactly what package-lock.json lists; npm's cache stays in a BuildKit cache mount, out of every layer (fixes package-cache: 303.0 kB).
RUN --mount=type=cache,target=/root/.npm npm ci
COPY . /app/
# devDependencies (@types/node, jest, typescript) leave node_modules (fixes build-tools: 1.8 MB).
# Source maps (6.9 kB): only a debugger or node --enable-source-maps reads them, and the program runs without.
RUN --mount=type=cache,target=/root/.npm npm run build \\
 && npm prune --omit=dev \\
 && find dist -name '*.map' -type f -delete
"""

NODE_RUNTIME = """\
FROM node:18-bookworm-slim
# The node user (uid 1000) of node:18-bookworm-slim runs the program (fixes config: runs as root); numeric, so runAsNonRoot can check it.
WORKDIR /app
# Production mode for Express and other libraries (and npm never installs devDependencies here).
ENV NODE_ENV=production
# node_modules without devDependencies (22.0 kB of 1.8 MB on the original), package.json (the program may read it), and the build's output; the sources stay in the builder.
COPY --from=builder /app/node_modules /app/node_modules
COPY --from=builder /app/package.json /app/
COPY --from=builder /app/dist /app/dist
EXPOSE 3000
USER 1000:1000
# No HEALTHCHECK (config finding): add one that probes the program's health endpoint.
# node itself as the program, not `npm start`: a package manager as PID 1 does not pass SIGTERM on.
CMD ["node", "dist/server.js"]
"""


def test_node_builder_installs_from_the_lockfile_builds_and_prunes(tmp_path):
    rewrite = _node(tmp_path, lockfile_at="app/package-lock.json")
    assert NODE_BUILDER in rewrite.dockerfile
    assert rewrite.dockerfile.endswith(NODE_RUNTIME)
    assert rewrite.runtime_base == "node:18-bookworm-slim"
    assert rewrite.smoke is None and rewrite.service
    fixes = _fixes(rewrite)
    assert fixes["devDependencies pruned from node_modules: @types/node, jest, typescript"] == DEV_BYTES
    assert fixes["no npm cache in the image: a cache mount"] == NPM_CACHE
    assert fixes["node runs as PID 1 and gets SIGTERM, instead of docker-entrypoint.sh npm start"] == 0
    assert {f.kind for f in rewrite.fixes} >= {Change.NODE, Change.CACHE_ORDER, FindingKind.CONFIG}
    # What the builder hands the runtime: production packages, the compiled output without its maps.
    after = {row.label: row.after for row in rewrite.sizes}
    assert after["Node packages"] == MODULE_BYTES - DEV_BYTES
    assert after["build output"] == OUTPUT["server.js"] + OUTPUT["routes/orders.js"]
    assert rewrite.copied_sources[:2] == ["package.json", "package-lock.json"]
    assert "node_modules\n**/node_modules\n" in rewrite.dockerignore
    assert hadolint_issues(rewrite.dockerfile) == []


def test_node_without_a_lockfile_installs_and_says_so(tmp_path):
    rewrite = _node(tmp_path)  # only npm's hidden lockfile, inside node_modules
    assert "# package.json first: editing the source no longer re-runs the install.\nCOPY package.json /app/\n" in rewrite.dockerfile
    assert (
        "# npm install (no lockfile in the image: pin the versions with one); npm's cache stays in a BuildKit cache mount"
        in rewrite.dockerfile
    )
    assert "RUN --mount=type=cache,target=/root/.npm npm install\n" in rewrite.dockerfile
    # The hidden lockfile still says which packages are devDependencies.
    assert _fixes(rewrite)["devDependencies pruned from node_modules: @types/node, jest, typescript"] == DEV_BYTES


@pytest.mark.parametrize(("lockfile", "install", "prune", "cache"), [
    ("yarn.lock", "yarn install --frozen-lockfile",
     "yarn install --production --frozen-lockfile --ignore-scripts --prefer-offline", "/usr/local/share/.cache/yarn"),
    ("pnpm-lock.yaml", "pnpm install --frozen-lockfile", "pnpm prune --prod", "/root/.local/share/pnpm/store"),
])
def test_node_uses_the_lockfiles_package_manager(tmp_path, lockfile, install, prune, cache):
    rewrite = _node(tmp_path, lockfile_at=f"app/{lockfile}", lockfile=b"# lockfile\n")
    assert f"COPY package.json {lockfile} /app/\n" in rewrite.dockerfile
    assert f"RUN --mount=type=cache,target={cache} {install}\n" in rewrite.dockerfile
    assert f"RUN --mount=type=cache,target={cache} npm run build \\\n && {prune} \\\n" in rewrite.dockerfile
    assert hadolint_issues(rewrite.dockerfile) == []


def test_node_keeps_a_start_script_that_is_no_plain_node_command(tmp_path):
    manifest = {**si.MANIFEST, "scripts": {**si.MANIFEST["scripts"], "start": "node dist/migrate.js && node dist/server.js"}}
    rewrite = _node(tmp_path, lockfile_at="app/package-lock.json", manifest=manifest)
    assert rewrite.dockerfile.endswith('CMD ["npm", "start"]\n')
    assert not any(summary.startswith("node runs as PID 1") for summary in _fixes(rewrite))


GO_REWRITE = """\
# Builder stage: golang:1.19-bookworm has the Go toolchain; only the program moves on.
FROM golang:1.19-bookworm AS builder
WORKDIR /app
# The module files first: the download layer is reused until a dependency changes.
COPY go.mod ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . /app
# CGO_ENABLED=0: the program was linked against libc only because gcc was in the image (cgo is on by default then); it calls no C of its own, and it loads no other library. Static, it needs no libc.
# -trimpath -ldflags "-s -w": no local paths, no symbol table, no DWARF (fixes build-tools: 1.3 MB); panics still name file and line (Go keeps its own line tables).
# Go's build and module caches stay in cache mounts (fixes package-cache: 330.0 kB).
RUN --mount=type=cache,target=/root/.cache/go-build --mount=type=cache,target=/go/pkg/mod CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o /usr/local/bin/server .

# Runtime stage: scratch: the program is static and needs nothing else: no CA certificates (it makes no TLS client connections), no time zone database, no /tmp and no user database.
FROM scratch
# A non-root user (uid 10001) runs the program (fixes config: runs as root): numeric, so it needs no passwd entry (scratch has no useradd).
WORKDIR /app
# The program alone (/usr/local/bin/server 1.6 MB before stripping): the Go toolchain, gcc and git stay in the builder (fixes build-tools: {toolchain}).
COPY --from=builder /usr/local/bin/server /usr/local/bin/server
EXPOSE 8080
USER 10001:10001
# No HEALTHCHECK (config finding): add one that probes the program's health endpoint.
# By its path: scratch sets no PATH (was ["server"]).
CMD ["/usr/local/bin/server"]
"""


def test_go_static_program_alone_on_scratch(tmp_path):
    rewrite = _go(tmp_path)
    # What leaving the toolchain in the builder fixes is the toolchain finding (tests/test_findings_go.py
    # checks its bytes against the construction): the tool packages are part of it, not added to it.
    (tmp_path / "again").mkdir()
    index = index_of(tmp_path / "again", si.golang_layers(), **GO_SPEC)
    (toolchain,) = [f.bytes for f in analyze(index) if isinstance(f.details, ToolchainDetails)]
    assert rewrite.dockerfile.endswith(GO_REWRITE.format(toolchain=human_bytes(toolchain)))
    assert _fixes(rewrite)["the Go toolchain stays in the builder: scratch runs the program alone"] == toolchain
    assert rewrite.runtime_base == "scratch" and rewrite.service and rewrite.smoke is None
    fixes = _fixes(rewrite)
    assert fixes['unstripped program: built with -ldflags "-s -w"'] == si.SERVER.strippable
    assert fixes["no Go build or module cache in the image: cache mounts"] == sum(si.CACHES.values())
    assert fixes["the program built in a builder stage, static, on scratch"] == 0
    program = len(si.SERVER.build())
    assert {row.label: row.after for row in rewrite.sizes}["build output"] == program - si.SERVER.strippable
    assert "*.out\n*.test\n*.coverprofile\n" in rewrite.dockerignore
    assert hadolint_issues(rewrite.dockerfile) == []


SQLITE = Pkg("libsqlite3-0", {"usr/lib/x86_64-linux-gnu/libsqlite3.so.0.8.6": 1_400_000}, depends="libc6")
SQLITE_DEV = Pkg("libsqlite3-dev", {"usr/include/sqlite3.h": 600_000}, depends="libsqlite3-0")


def test_go_program_loading_a_library_stays_dynamic_on_slim_debian(tmp_path):
    server = Program(interpreter="/lib64/ld-linux-x86-64.so.2", needed=["libc.so.6", "libsqlite3.so.0"], go_version="go1.19.8",
                     go_settings={"CGO_ENABLED": "1"}, symbols=24 * 100)
    layers = si.golang_layers(server)
    sqlite = run("apt-get update && apt-get install -y --no-install-recommends libsqlite3-dev")
    install(sqlite, SQLITE, SQLITE_DEV)
    sqlite.symlink("usr/lib/x86_64-linux-gnu/libsqlite3.so.0", "libsqlite3.so.0.8.6")
    sqlite.file("var/lib/dpkg/status", status_file(si.LIBC, si.LIBGCC, si.BASH, si.GO, si.GO_SRC, si.GCC, SQLITE, SQLITE_DEV))
    layers.insert(2, sqlite)
    spec = {**GO_SPEC, "empty_history": {3: ["WORKDIR /app"], 5: ["EXPOSE map[8080/tcp:{}]", 'CMD ["server"]']}}
    index = index_of(tmp_path, layers, **spec)
    rewrite = rewrite_image(index, GO_BASE, analyze(index))
    assert rewrite.runtime_base == "debian:bookworm-slim"
    # The headers stay in the builder; the library the program loads is installed in the runtime.
    assert "apt-get install -y --no-install-recommends libsqlite3-dev \\\n" in rewrite.dockerfile.split("\nFROM debian:bookworm-slim\n")[0]
    runtime = rewrite.dockerfile.split("\nFROM debian:bookworm-slim\n", 1)[1]
    assert "apt-get install -y --no-install-recommends libsqlite3-0 \\\n" in runtime
    assert "# Runtime stage: debian:bookworm-slim: the program loads libc and libsqlite3.so.0.\nFROM debian:bookworm-slim\n" in rewrite.dockerfile
    assert "# cgo stays on: it loads libsqlite3.so.0.\n" in rewrite.dockerfile
    assert "go build -trimpath -ldflags '-s -w' -o /usr/local/bin/server .\n" in rewrite.dockerfile
    assert "CGO_ENABLED=0" not in rewrite.dockerfile
    assert "groupadd --system --gid 10001 app" in rewrite.dockerfile  # slim Debian has useradd
    assert rewrite.dockerfile.endswith('CMD ["server"]\n')
    assert hadolint_issues(rewrite.dockerfile) == []


USER_GO_DOCKERFILE = """\
FROM golang:1.19-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates tzdata
WORKDIR /app
COPY . .
RUN go build -tags netgo -ldflags "-X main.version=1.2.0" -o /usr/local/bin/server .
CMD ["server"]
"""


def test_go_static_program_that_needs_ca_certificates_and_zones_gets_them_on_scratch(tmp_path):
    rewrite = _go(tmp_path, dockerfile=USER_GO_DOCKERFILE)
    assert (
        "# Runtime stage: scratch: the program is static; it needs CA certificates and the time zone database "
        "(the builder's CA bundle, the zone database built in) and nothing else.\nFROM scratch\n"
    ) in rewrite.dockerfile
    # The user's own -tags and -ldflags are kept and extended.
    assert (
        "CGO_ENABLED=0 go build -trimpath -tags netgo,timetzdata -ldflags '-X main.version=1.2.0 -s -w' -o /usr/local/bin/server .\n"
    ) in rewrite.dockerfile
    assert "COPY --from=builder /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt\n" in rewrite.dockerfile
    assert "apt-get" not in rewrite.dockerfile.split("FROM scratch", 1)[1]
    assert hadolint_issues(rewrite.dockerfile) == []


def _maven_image(tmp_path: Path) -> Path:
    root = base(("etc/os-release", b"ID=debian\n"))
    copy = step("COPY . /src")
    copy.file("src/pom.xml", noise("pom", 2_000))
    build = run("mvn -B package")
    build.file("src/target/app.jar", noise("jar", 40_000))
    build.file("root/.m2/repository/org/x/x.jar", noise("m2", 90_000))
    path = tmp_path / "maven.tar"
    write_docker_archive(ImageSpec(layers=[root, copy, build], cmd=["java", "-jar", "/src/target/app.jar"],
                                   empty_history={3: ['CMD ["java" "-jar" "/src/target/app.jar"]']}), str(path), ["maven:latest"])
    return path


def test_an_unknown_stack_gets_no_rewrite_and_one_line(tmp_path):
    archive = _maven_image(tmp_path)
    index = build_index(str(archive), IndexOptions(use_cache=False))
    with pytest.raises(NoRewrite, match=r"^no rewrite for this stack yet: `mvn -B package` builds with Java \(Maven\)"):
        rewrite_image(index, BaseImage("", 1, 1, "unknown"), analyze(index))
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "slimview", "rewrite", str(archive), "--no-cache", "-o", str(out)], capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith("slimview: no rewrite: no rewrite for this stack yet: `mvn -B package` builds with Java (Maven)")
    assert proc.stderr.count("\n") == 1
    assert list(out.iterdir()) == []
    report = subprocess.run(
        [sys.executable, "-m", "slimview", "report", str(archive), "--no-cache", "--format", "json"], capture_output=True, text=True, check=False,
    )
    assert report.returncode == 0 and json.loads(report.stdout)["findings"]


def test_verify_health_takes_a_path(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "slimview", "verify", "img:latest", "--context", str(tmp_path), "--health", "health"],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().endswith("--health takes a path starting with /, not 'health'")


def test_node_without_a_build_step_copies_its_sources_from_the_context(tmp_path):
    manifest = {**si.MANIFEST, "scripts": {"start": "node src/server.js"}}
    layers = si.node_layers(lockfile_at="app/package-lock.json", manifest=manifest)[:3]  # no `npm run build` layer
    history = {1: ["WORKDIR /app"], 3: ["EXPOSE map[3000/tcp:{}]", 'CMD ["npm" "start"]']}
    index = index_of(tmp_path, layers, **{**si.NODE_IMAGE, "empty_history": history})
    rewrite = rewrite_image(index, NODE_BASE, analyze(index))
    assert "RUN --mount=type=cache,target=/root/.npm npm prune --omit=dev\n" in rewrite.dockerfile
    runtime = rewrite.dockerfile.split("\nFROM node:18-bookworm-slim\n", 1)[1]
    assert "COPY --from=builder /app/node_modules /app/node_modules\nCOPY --from=builder /app/package.json /app/\n" in runtime
    assert "COPY --chown=1000:1000 src/ /app/src/\n" in runtime
    assert "dist" not in runtime
    assert runtime.endswith('CMD ["node", "src/server.js"]\n')
    assert hadolint_issues(rewrite.dockerfile) == []


def test_go_static_program_run_by_a_named_user_gets_distroless_static(tmp_path):
    dockerfile = 'FROM golang:1.19-bookworm\nWORKDIR /app\nCOPY . .\nRUN go build -o /usr/local/bin/server .\nUSER nonroot\nCMD ["server"]\n'
    rewrite = _go(tmp_path, dockerfile=dockerfile)
    assert (
        "# Runtime stage: gcr.io/distroless/static-debian12:nonroot: the program is static and needs a user database "
        "(/etc/passwd), which distroless has (scratch has nothing).\nFROM gcr.io/distroless/static-debian12:nonroot\n"
    ) in rewrite.dockerfile
    assert "CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o /usr/local/bin/server .\n" in rewrite.dockerfile
    assert rewrite.dockerfile.endswith('# nonroot by its uid: numeric, so runAsNonRoot can check it.\nUSER 65532:65532\n# No HEALTHCHECK (config finding): add one that probes the program\'s health endpoint.\nCMD ["server"]\n')
    assert hadolint_issues(rewrite.dockerfile) == []
