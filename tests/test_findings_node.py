"""Node images: devDependencies in the runtime node_modules (told by npm's lockfiles, yarn's
graph, or package.json alone), TypeScript build inputs beside the compiled output, npm's
cache, and npm start as PID 1. Every figure comes from the image's construction."""

from __future__ import annotations

import json

import pytest

from slimview.packages.npm import InstalledPackage, node_projects, package_location, parse_npm_lockfile, yarn_dev_only
from slimview.sample.builder import Layer

from findings_util import base, findings_of, index_of, noise, of_kind, paths_and_sizes, run, step

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


def dev_finding(findings):
    (finding,) = [f for f in of_kind(findings, "build-tools") if f.details.to_json()["source"] in ("npm lockfile", "yarn lockfile", "package.json")]
    return finding


def test_dev_only_packages_from_npms_hidden_lockfile_with_their_bytes(tmp_path):
    finding = dev_finding(findings_of(tmp_path, node_layers(), **NODE_IMAGE))
    assert finding.bytes == sum(DEV_BYTES.values())
    expected_paths = {f"app/{loc}/{name}": size for loc, (_v, dev, files) in PACKAGES.items() if dev for name, size in files.items()}
    assert paths_and_sizes(finding) == expected_paths
    details = finding.details.to_json()
    assert (details["source"], details["project"], details["lockfile"]) == ("npm lockfile", "/app", "/app/node_modules/.package-lock.json")
    assert details["dev_dependencies"] == ["typescript", "@types/node", "jest"]  # largest first
    assert details["packages"] == [
        {"name": "typescript", "version": "5.7.2", "location": "node_modules/typescript", "bytes": 1_501_500, "files": 3},
        {"name": "@types/node", "version": "18.19.68", "location": "node_modules/@types/node", "bytes": 200_600, "files": 3},
        {"name": "semver", "version": "6.3.1", "location": "node_modules/jest/node_modules/semver", "bytes": 45_700, "files": 2},
        {"name": "jest", "version": "29.7.0", "location": "node_modules/jest", "bytes": 40_900, "files": 2},
    ]
    assert (finding.layer, finding.kind) == (2, "build-tools")
    assert finding.title.startswith("devDependencies in the runtime image: typescript, @types/node, jest (4 packages) in /app/node_modules")
    assert "npm prune --omit=dev" in finding.fix


def test_package_lock_json_v1_nested_tree_when_there_is_no_hidden_lockfile(tmp_path):
    tree = {
        "express": {"version": "4.21.2", "dependencies": {}},
        "debug": {"version": "2.6.9"},
        "typescript": {"version": "5.7.2", "dev": True},
        "jest": {"version": "29.7.0", "dev": True, "dependencies": {"semver": {"version": "6.3.1", "dev": True}}},
        "@types/node": {"version": "18.19.68", "dev": True},
    }
    v1 = json.dumps({"name": "orders-api", "lockfileVersion": 1, "dependencies": tree}).encode()
    finding = dev_finding(findings_of(tmp_path, node_layers("app/package-lock.json", v1), **NODE_IMAGE))
    assert finding.bytes == sum(DEV_BYTES.values())
    assert finding.details.to_json()["lockfile"] == "/app/package-lock.json"


def test_a_pruned_node_modules_has_no_dev_finding(tmp_path):
    production = {loc: entry for loc, entry in PACKAGES.items() if not entry[1]}
    findings = findings_of(tmp_path, node_layers(packages=production), **NODE_IMAGE)
    assert not [f for f in of_kind(findings, "build-tools") if f.details.to_json()["source"].endswith(("lockfile", "package.json"))]


YARN_LOCK = """\
# THIS IS AN AUTOGENERATED FILE. DO NOT EDIT THIS FILE DIRECTLY.
# yarn lockfile v1


"@types/node@^18.19.68":
  version "18.19.68"
  resolved "https://registry.yarnpkg.com/@types/node/-/node-18.19.68.tgz"

debug@2.6.9, debug@^2.6.9:
  version "2.6.9"
  dependencies:
    ms "2.0.0"

express@^4.21.2:
  version "4.21.2"
  dependencies:
    debug "2.6.9"

jest@^29.7.0:
  version "29.7.0"
  dependencies:
    debug "^2.6.9"
    semver "^6.3.1"

semver@^6.3.1:
  version "6.3.1"

typescript@~5.7.2:
  version "5.7.2"
"""


def test_yarn_lockfile_graph_leaves_what_production_also_needs(tmp_path):
    assert yarn_dev_only(YARN_LOCK.encode(), MANIFEST) == {"typescript", "jest", "semver", "@types/node"}
    finding = dev_finding(findings_of(tmp_path, node_layers("app/yarn.lock", YARN_LOCK.encode()), **NODE_IMAGE))
    assert finding.bytes == sum(DEV_BYTES.values())
    assert (finding.details.to_json()["source"], finding.details.to_json()["lockfile"]) == ("yarn lockfile", "/app/yarn.lock")
    assert "yarn install --production" in finding.fix


def test_yarn_berry_lockfile(tmp_path):
    berry = (
        '__metadata:\n  version: 6\n\n"express@npm:^4.21.2":\n  version: 4.21.2\n  dependencies:\n    debug: "npm:2.6.9"\n\n'
        '"debug@npm:2.6.9":\n  version: 2.6.9\n\n"typescript@npm:~5.7.2":\n  version: 5.7.2\n\n'
        '"jest@npm:^29.7.0":\n  version: 29.7.0\n  dependencies:\n    debug: "npm:2.6.9"\n    semver: "npm:^6.3.1"\n\n'
        '"semver@npm:^6.3.1":\n  version: 6.3.1\n\n"@types/node@npm:^18.19.68":\n  version: 18.19.68\n'
    )
    assert yarn_dev_only(berry.encode(), MANIFEST) == {"typescript", "jest", "semver", "@types/node"}


def test_without_a_lockfile_only_the_top_level_dev_dependencies_are_named(tmp_path):
    finding = dev_finding(findings_of(tmp_path, node_layers(lockfile_at=None), **NODE_IMAGE))
    top = {loc: n for loc, n in DEV_BYTES.items() if loc.count("node_modules") == 1}
    assert finding.bytes == sum(top.values())
    assert (finding.details.to_json()["source"], finding.details.to_json()["lockfile"]) == ("package.json", None)


def test_package_locations():
    assert package_location("node_modules/@s/b/node_modules/c/lib/x.js") == "node_modules/@s/b/node_modules/c"
    assert package_location("node_modules/typescript/lib/tsc.js") == "node_modules/typescript"
    assert package_location("node_modules/.bin/tsc") is None
    assert package_location("node_modules/.package-lock.json") is None
    assert package_location("node_modules/@scope") is None
    assert parse_npm_lockfile(b"{not json") is None
    assert parse_npm_lockfile(b'{"lockfileVersion": 3, "packages": {"": {}, "node_modules/a": {"version": "1", "dev": true}}}') == [
        InstalledPackage("node_modules/a", "a", "1", True)
    ]


def test_typescript_sources_tests_coverage_and_source_maps_beside_dist(tmp_path):
    (finding,) = [f for f in of_kind(findings_of(tmp_path, node_layers(), **NODE_IMAGE), "context-junk")
                  if f.details.to_json().get("language") == "typescript"]
    assert finding.details.to_json() == {
        "language": "typescript", "project": "/app", "compiled": "/app/dist",
        "candidates": [
            {"category": "sources", "bytes": 10_500, "files": 3},
            {"category": "coverage reports", "bytes": 9_500, "files": 2},
            {"category": "source maps", "bytes": 6_900, "files": 2},
            {"category": "tests", "bytes": 3_000, "files": 1},
            {"category": "build and lint configuration", "bytes": 630, "files": 2},
        ],
    }
    assert finding.bytes == 10_500 + 9_500 + 6_900 + 3_000 + 630
    assert "app/README.md" not in paths_and_sizes(finding) and "app/dist/server.js" not in paths_and_sizes(finding)


def test_a_project_that_runs_typescript_directly_ships_no_surplus_sources(tmp_path):
    manifest = {**MANIFEST, "main": "src/server.ts", "scripts": {"start": "ts-node src/server.ts"}}
    findings = findings_of(tmp_path, node_layers(manifest=manifest), **NODE_IMAGE)
    assert not [f for f in of_kind(findings, "context-junk") if f.details.to_json().get("language")]


def test_coverage_is_context_junk(tmp_path):
    (junk,) = [f for f in of_kind(findings_of(tmp_path, node_layers(), **NODE_IMAGE), "context-junk") if "dockerignore" in f.details.to_json()]
    candidates = {c["pattern"]: c for c in junk.details.to_json()["candidates"]}
    assert candidates["coverage"] == {"pattern": "coverage", "category": "coverage reports", "bytes": 9_500, "files": 2}


def test_npm_cache_with_its_bytes(tmp_path):
    caches = [f for f in of_kind(findings_of(tmp_path, node_layers(), **NODE_IMAGE), "package-cache") if f.details.to_json()["cache"] == "npm"]
    assert [(f.layer, f.bytes) for f in caches] == [(2, 303_000)]


@pytest.mark.parametrize(
    "entrypoint, cmd, runner, script",
    [
        (["docker-entrypoint.sh"], ["npm", "start"], "npm", "start"),
        (None, ["npm", "run", "start"], "npm", "start"),
        (None, ["/bin/sh", "-c", "exec npm start"], "npm", "start"),
        (None, ["yarn", "start"], "yarn", "start"),
        (None, ["pnpm", "run", "serve"], "pnpm", "serve"),
        (["npx"], ["ts-node", "src/server.ts"], "npx", ""),
    ],
)
def test_a_package_manager_as_pid_1(tmp_path, entrypoint, cmd, runner, script):
    image = {**NODE_IMAGE, "entrypoint": entrypoint, "cmd": cmd}
    (finding,) = [f for f in of_kind(findings_of(tmp_path, node_layers(), **image), "config") if f.details.to_json()["check"] == "pid1"]
    details = finding.details.to_json()
    assert (details["runner"], details["script"], details["command"]) == (runner, script, (entrypoint or []) + cmd)
    assert (finding.severity, finding.bytes) == ("medium", 0)
    if script == "start":
        assert details["runs"] == "node dist/server.js"
        assert '`CMD ["node", "dist/server.js"]`' in finding.fix


@pytest.mark.parametrize(
    "entrypoint, cmd",
    [(["docker-entrypoint.sh"], ["node", "dist/server.js"]), (["tini", "--"], ["npm", "start"]), (["/usr/bin/dumb-init", "--"], ["npm", "start"]),
     (["/app/entrypoint.sh"], ["npm", "start"]), (None, None)],
)
def test_no_pid_1_finding_for_node_itself_an_init_or_an_unknown_entrypoint(tmp_path, entrypoint, cmd):
    image = {**NODE_IMAGE, "entrypoint": entrypoint, "cmd": cmd}
    assert not [f for f in of_kind(findings_of(tmp_path, node_layers(), **image), "config") if f.details.to_json()["check"] == "pid1"]


def test_dependency_package_json_files_and_system_trees_are_not_projects(tmp_path):
    index = index_of(tmp_path, node_layers(), **NODE_IMAGE)
    assert [p.root for p in node_projects(index)] == ["app"]
    kept = {index.layers[n].files.paths[i] for n in range(len(index.layers)) for i in index.layers[n].files.captured}
    assert {"app/package.json", "app/node_modules/.package-lock.json"} <= kept
    assert not [p for p in kept if "node_modules/" in p and not p.endswith("node_modules/.package-lock.json")]
