"""Synthetic Node and Go images shaped like the samples (node-service, go-service), for the
findings tests: every figure is known from the construction."""

from __future__ import annotations

import json
import tarfile

from slimview.sample.builder import Layer

from elfbuild import Program
from findings_util import Pkg, base, install, noise, run, status_file, step

LIBGCC = Pkg("libgcc-s1", {"usr/lib/x86_64-linux-gnu/libgcc_s.so.1": 120_000}, depends="libc6")
LIBC = Pkg(
    "libc6",
    {"usr/lib/x86_64-linux-gnu/libc.so.6": 1_900_000, "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2": 210_000},
    depends="libgcc-s1", priority="required",
)
BASH = Pkg("bash", {"usr/bin/bash": 1_250_000}, depends="libc6", priority="required")
GO = Pkg(
    "golang-1.19-go",
    {"usr/lib/go-1.19/bin/go": 2_000_000, "usr/lib/go-1.19/pkg/tool/linux_amd64/compile": 3_000_000},
    depends="golang-1.19-src",
)
GO_SRC = Pkg("golang-1.19-src", {"usr/share/go-1.19/src/fmt/print.go": 50_000, "usr/share/go-1.19/src/crypto/tls/example_test.go": 0})
GCC = Pkg("gcc-12", {"usr/bin/x86_64-linux-gnu-gcc-12": 1_000_000}, depends="libc6")
# A test key as Go's standard library ships one (crypto/tls/example_test.go).
TEST_KEY = (
    "package tls_test\n\nconst testKey = `-----BEGIN RSA PRIVATE KEY-----\n"
    + "\n".join(noise(f"key line {k}", 48).hex()[:64] for k in range(8))
    + "\n-----END RSA PRIVATE KEY-----`\n"
)
SERVER = Program(
    interpreter="/lib64/ld-linux-x86-64.so.2", needed=["libc.so.6"], go_version="go1.19.8",
    go_settings={"CGO_ENABLED": "1", "GOOS": "linux"},
    debug={".debug_info": 650_000, ".debug_line": 380_000, ".debug_frame": 78_000}, symbols=24 * 6_000,
)
APP = {"app/main.go": 3_000, "app/store.go": 1_400, "app/go.mod": 40, "app/main_test.go": 1_500, "app/testdata/items.json": 500,
       "app/coverage.out": 800, "app/Makefile": 300, "app/README.md": 200}
CACHES = {"root/.cache/go-build/ab/abcdef0123-d": 200_000, "root/.cache/go-build/cd/cdef-a": 30_000,
          "go/pkg/mod/cache/download/example.com/lib/@v/v1.0.0.zip": 100_000}


def golang_layers(server: Program = SERVER) -> list[Layer]:
    """A golang:1.19-bookworm-like image, then COPY . /app and RUN go build, as go-service does."""
    root = base(("etc/os-release", b"ID=debian\n"))
    root.symlink("lib64", "usr/lib64").symlink("lib", "usr/lib")
    root.symlink("usr/lib64/ld-linux-x86-64.so.2", "../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
    install(root, LIBC, LIBGCC, BASH)
    root.file("var/lib/dpkg/status", status_file(LIBC, LIBGCC, BASH))
    tools = run("apt-get update && apt-get install -y --no-install-recommends golang-go gcc")
    install(tools, GO, GCC)
    tools.file("usr/share/go-1.19/src/fmt/print.go", noise("print.go", 50_000))
    tools.file("usr/share/go-1.19/src/crypto/tls/example_test.go", TEST_KEY)
    tools.file("var/lib/dpkg/info/golang-1.19-src.list", b"/.\n/usr/share/go-1.19/src/fmt/print.go\n/usr/share/go-1.19/src/crypto/tls/example_test.go\n")
    tools.symlink("usr/lib/go-1.19/src", "../../share/go-1.19/src").symlink("usr/bin/go", "../lib/go-1.19/bin/go")
    tools.file("var/lib/dpkg/status", status_file(LIBC, LIBGCC, BASH, GO, GO_SRC, GCC))
    copy = step("COPY . /app")
    for path, size in APP.items():
        copy.file(path, noise(path, size))
    build = run("go build -o /usr/local/bin/server .")
    build.file("usr/local/bin/server", server.build(), mode=0o755)
    for path, size in CACHES.items():
        build.file(path, noise(path, size))
    return [root, tools, copy, build]


def visible_sizes(layers: list[Layer]) -> dict[str, tuple[int, int]]:
    """{path: (size, layer)} of the regular files a plain overlay of ``layers`` leaves (no whiteouts here)."""
    final: dict[str, tuple[int, int]] = {}
    for k, layer in enumerate(layers):
        for info, _data in layer.members:
            if info.type == tarfile.REGTYPE:
                final[info.name] = (info.size, k)
            else:
                final.pop(info.name, None)
    return final

MANIFEST = {
    "name": "orders-api", "version": "1.4.0", "main": "dist/server.js",
    "scripts": {"build": "tsc -p tsconfig.build.json", "start": "node dist/server.js", "test": "jest"},
    "dependencies": {"express": "^4.21.2"},
    "devDependencies": {"typescript": "~5.7.2", "jest": "^29.7.0", "@types/node": "^18.19.68"},
}
# Installed packages: location → (version, dev, {file: size}). jest needs its own copy of
# semver (nested); express needs debug, which jest needs too (so it is not dev-only).
PACKAGES = {
    "node_modules/express": ("4.21.2", False, {"index.js": 2_000, "lib/router.js": 15_000, "package.json": 1_200}),
    "node_modules/debug": ("2.6.9", False, {"src/index.js": 3_000, "package.json": 800}),
    "node_modules/typescript": ("5.7.2", True, {"lib/typescript.js": 900_000, "lib/tsc.js": 600_000, "package.json": 1_500}),
    "node_modules/jest": ("29.7.0", True, {"build/index.js": 40_000, "package.json": 900}),
    "node_modules/jest/node_modules/semver": ("6.3.1", True, {"semver.js": 45_000, "package.json": 700}),
    "node_modules/@types/node": ("18.19.68", True, {"index.d.ts": 120_000, "fs.d.ts": 80_000, "package.json": 600}),
}
DEV_BYTES = {loc: sum(files.values()) for loc, (_v, dev, files) in PACKAGES.items() if dev}


def hidden_lockfile(packages=PACKAGES) -> bytes:
    entries = {"": {"name": "orders-api", "version": "1.4.0"}}
    for location, (version, dev, _files) in packages.items():
        entries[location] = {"version": version, **({"dev": True} if dev else {})}
    return json.dumps({"name": "orders-api", "version": "1.4.0", "lockfileVersion": 3, "requires": True, "packages": entries}).encode()


def node_layers(lockfile_at: str | None = "app/node_modules/.package-lock.json", lockfile: bytes | None = None,
                packages=PACKAGES, manifest=MANIFEST, cmd_layer: bool = True) -> list[Layer]:
    root = base(("etc/os-release", b"ID=debian\n"))
    root.file("usr/local/lib/node_modules/npm/package.json", json.dumps({"name": "npm", "devDependencies": {"tap": "1"}}))
    copy = step("COPY . .")
    copy.file("app/package.json", json.dumps(manifest, indent=2))
    for path, size in {"app/src/server.ts": 4_000, "app/src/routes/orders.ts": 6_000, "app/src/types.d.ts": 500,
                       "app/tests/orders.test.ts": 3_000, "app/coverage/lcov.info": 2_500,
                       "app/coverage/lcov-report/index.html": 7_000, "app/tsconfig.json": 380, "app/jest.config.js": 250,
                       "app/README.md": 270, "app/.git/HEAD": 23}.items():
        copy.file(path, noise(path, size))
    install = run("npm install")
    install.dir("app/node_modules")
    for location, (_version, _dev, files) in packages.items():
        for name, size in files.items():
            install.file(f"app/{location}/{name}", noise(f"{location}/{name}", size))
    install.symlink("app/node_modules/.bin/tsc", "../typescript/bin/tsc")
    if lockfile_at is not None:
        install.file(lockfile_at, lockfile if lockfile is not None else hidden_lockfile(packages))
    install.file("root/.npm/_cacache/content-v2/sha512/ab/cd/ef", noise("tarball", 300_000))
    install.file("root/.npm/_cacache/index-v5/12/34/5678", noise("index", 2_000))
    install.file("root/.npm/_logs/2026-12-06T20_11_50_000Z-debug-0.log", noise("log", 1_000))
    build = run("npm run build")
    for path, size in {"app/dist/server.js": 3_500, "app/dist/server.js.map": 2_800, "app/dist/routes/orders.js": 5_000,
                       "app/dist/routes/orders.js.map": 4_100}.items():
        build.file(path, noise(path, size))
    return [root, copy, install, build]


NODE_IMAGE = {"cmd": ["npm", "start"], "entrypoint": ["docker-entrypoint.sh"], "workdir": "/app", "exposed_ports": ["3000/tcp"],
              "empty_history": {1: ["WORKDIR /app"]}}
