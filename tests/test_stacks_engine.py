"""The Node and Go findings on the real samples (node-service, go-service) and their
hand-written references, each figure checked against an independent recount of the saved
image (tests/saved_archive.py: tarfile and json only; ELF sections with struct), and two
rules shown on engine-built images: a BuildKit cache mount keeps a cache out of the layer
(nothing to flag), and a chown in a later step stores the files twice (COPY --chown not).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from slimview.findings import Analysis, analyze
from slimview.index import IndexOptions, build_index

from elfbuild import strippable_bytes
from engine import build_image, save_image
from saved_archive import USR_MERGE, SavedArchive

pytestmark = pytest.mark.engine

NEW_SOURCES = ("npm lockfile", "yarn lockfile", "package.json", "toolchain", "debug information")


def _saved(engine, tag: str, tmp_path_factory) -> tuple[SavedArchive, Analysis]:
    path = save_image(engine, tag, tmp_path_factory.mktemp("stacks") / (tag.replace(":", "-") + ".tar"))
    index = build_index(str(path), IndexOptions(use_cache=False))
    return SavedArchive(path), Analysis(index, analyze(index))


@pytest.fixture(scope="module")
def node(engine, node_service, tmp_path_factory):
    return _saved(engine, node_service, tmp_path_factory)


@pytest.fixture(scope="module")
def go(engine, go_service, tmp_path_factory):
    return _saved(engine, go_service, tmp_path_factory)


def _source(finding) -> str:
    return finding.details.to_json().get("source", "") if finding.details else ""


def _one(analysis: Analysis, source: str):
    (finding,) = [f for f in analysis.findings if _source(f) == source]
    return finding


def visible_files(saved: SavedArchive) -> dict[str, tuple[int, int]]:
    """{path: (size, layer)} of the regular files of the final filesystem."""
    layer_of = {id(m): k for k, layer in enumerate(saved.layers) for m in layer.values()}
    return {p: (m.size, layer_of[id(m)]) for p, m in saved.visible().items() if m.isfile()}


# -- node-service ------------------------------------------------------------------------------


def test_node_dev_dependencies_are_what_npms_own_record_marks_dev(node):
    saved, analysis = node
    files = visible_files(saved)
    lock_layer = files["app/node_modules/.package-lock.json"][1]
    packages = json.loads(saved.read(lock_layer, "app/node_modules/.package-lock.json"))["packages"]
    locations = sorted((loc for loc in packages if loc), key=len, reverse=True)
    expected: dict[str, int] = {}
    for path, (size, _layer) in files.items():
        if not path.startswith("app/node_modules/"):
            continue
        owner = next((loc for loc in locations if path.startswith(f"app/{loc}/")), None)  # the deepest package holding it
        if owner is not None and packages[owner].get("dev") is True:
            expected[path] = size
    finding = _one(analysis, "npm lockfile")
    assert {p.path: p.size for p in finding.paths} == expected
    assert finding.bytes == sum(expected.values()) > 50_000_000
    manifest = json.loads(saved.read(files["app/package.json"][1], "app/package.json"))
    details = finding.details.to_json()
    assert set(details["dev_dependencies"]) == set(manifest["devDependencies"])
    assert not {p["name"] for p in details["packages"]} & set(manifest["dependencies"])
    assert finding.layer == saved.layer_of("-c npm install")


def test_node_npm_cache_typescript_inputs_and_npm_start(node):
    saved, analysis = node
    files = visible_files(saved)
    install = saved.layer_of("-c npm install")
    cache = {p: n for p, (n, layer) in files.items() if layer == install and p.startswith(("root/.npm/_cacache/", "root/.npm/_logs/"))}
    (npm,) = [f for f in analysis.findings if f.kind == "package-cache" and f.layer == install]
    assert {p.path: p.size for p in npm.paths} == cache
    assert npm.bytes == sum(cache.values())

    sources = [f for f in analysis.findings if f.kind == "context-junk" and f.details.to_json().get("language") == "typescript"]
    (inputs,) = sources
    by_category = {c["category"]: c["bytes"] for c in inputs.details.to_json()["candidates"]}
    assert by_category["sources"] == sum(n for p, (n, _l) in files.items() if p.startswith("app/src/") and p.endswith(".ts"))
    assert by_category["tests"] == sum(n for p, (n, _l) in files.items() if p.startswith("app/tests/"))
    assert by_category["coverage reports"] == sum(n for p, (n, _l) in files.items() if p.startswith("app/coverage/"))
    assert by_category["source maps"] == sum(n for p, (n, _l) in files.items() if p.startswith("app/dist/") and p.endswith(".map"))
    assert inputs.details.to_json()["compiled"] == "/app/dist"

    (pid1,) = [f for f in analysis.findings if f.kind == "config" and f.details.to_json()["check"] == "pid1"]
    assert pid1.details.to_json() == {
        "check": "pid1", "command": ["docker-entrypoint.sh", "npm", "start"], "runner": "npm", "script": "start",
        "runs": "node dist/server.js",
    }
    junk = [f for f in analysis.findings if f.kind == "context-junk" and "dockerignore" in f.details.to_json()]
    assert "coverage" in junk[0].details.to_json()["dockerignore"]


# -- go-service -----------------------------------------------------------------------------------


def _dpkg_closure(saved: SavedArchive, names: set[str]) -> set[str]:
    """``names`` and what they depend on, from the final dpkg status file (first alternatives)."""
    body = next(b for b in reversed(saved.dpkg_status) if b is not None).decode()
    depends = {}
    for stanza in body.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in stanza.split("\n") if ": " in line and not line.startswith(" "))
        if "Package" in fields:
            deps = fields.get("Pre-Depends", "") + "," + fields.get("Depends", "")
            depends[fields["Package"]] = {d.split("|")[0].split("(")[0].split(":")[0].strip() for d in deps.split(",") if d.strip()}
    todo, seen = list(names), set()
    while todo:
        name = todo.pop()
        if name not in seen and name in depends:
            seen.add(name)
            todo += depends[name]
    return seen


def _package_files(saved: SavedArchive, names: set[str]) -> set[str]:
    out = set()
    for lists in saved.lists:
        for list_path, body in lists.items():
            if list_path.rsplit("/", 1)[1].removesuffix(".list").split(":")[0] in names:
                for line in body.decode().split("\n"):
                    path = line.lstrip("/")
                    top, _, rest = path.partition("/")
                    out.add(path)
                    if top in USR_MERGE:
                        out.add(f"{USR_MERGE[top]}/{rest}")
    return out


def test_go_toolchain_image_is_everything_but_the_program_and_libc(go):
    saved, analysis = go
    files = visible_files(saved)
    runtime_packages = _dpkg_closure(saved, {"libc6"})
    runtime = _package_files(saved, runtime_packages)
    context = saved.layer_of("COPY . .")
    expected = {p: n for p, (n, layer) in files.items() if n and layer != context and p != "usr/local/bin/server" and p not in runtime}
    finding = _one(analysis, "toolchain")
    assert {p.path: p.size for p in finding.paths} == expected
    assert finding.bytes == sum(expected.values()) > 800_000_000
    details = finding.details.to_json()
    assert set(details["runtime_packages"]) == runtime_packages
    assert details["linkage"] == "dynamic" and "libc.so.6" in details["needs"]
    assert details["toolchain"][0] == {"label": "/usr/lib/go-1.19", "bytes": sum(n for p, (n, _l) in files.items() if p.startswith("usr/lib/go-1.19/"))}


def test_go_program_debug_information_and_build_cache(go):
    saved, analysis = go
    files = visible_files(saved)
    layer = files["usr/local/bin/server"][1]
    body = saved.read(layer, "usr/local/bin/server")
    debug = _one(analysis, "debug information")
    assert debug.bytes == strippable_bytes(body) > 1_000_000
    assert debug.details.to_json()["language"] == "go"
    cache = {p: n for p, (n, _l) in files.items() if p.startswith(("root/.cache/go-build/", "go/pkg/mod/"))}
    (go_cache,) = [f for f in analysis.findings if f.kind == "package-cache" and f.details.to_json()["cache"] == "go"]
    assert go_cache.bytes == sum(cache.values())
    (inputs,) = [f for f in analysis.findings if f.kind == "context-junk" and f.details.to_json().get("language") == "go"]
    assert {c["category"]: c["bytes"] for c in inputs.details.to_json()["candidates"]}["sources"] == sum(
        n for p, (n, _l) in files.items() if p.startswith("app/") and (p.endswith(".go") and not p.endswith("_test.go") or p == "app/go.mod"))
    assert not [f for f in analysis.findings if f.kind == "secret" and "/go-1.19/" in f.paths[0].path]


# -- the references ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", ["node_service_reference", "go_service_reference"])
def test_the_references_have_none_of_these_findings(engine, request, tmp_path_factory, fixture):
    _saved_archive, analysis = _saved(engine, request.getfixturevalue(fixture), tmp_path_factory)
    assert not [f for f in analysis.findings if _source(f) in NEW_SOURCES]
    assert not [f for f in analysis.findings if f.kind == "context-junk" or f.kind == "package-cache" or f.kind == "hidden-bytes"]
    assert not [f for f in analysis.findings if f.kind == "config" and f.details.to_json()["check"] == "pid1"]
    assert analysis.avoidable_bytes == 0


# -- any image ----------------------------------------------------------------------------------------

CACHED = """\
FROM busybox:latest
RUN {mount}sh -c 'mkdir -p /root/.npm/_cacache && head -c 300000 /dev/zero > /root/.npm/_cacache/blob \\
 && mkdir -p /root/.cache/go-build && head -c 200000 /dev/zero > /root/.cache/go-build/obj'
"""


@pytest.mark.parametrize("mounted", [False, True], ids=["no-mount", "cache-mount"])
def test_a_cache_a_buildkit_cache_mount_keeps_out_of_the_layer_is_not_flagged(engine, image_tag, tmp_path, mounted):
    mount = "--mount=type=cache,target=/root/.npm --mount=type=cache,target=/root/.cache/go-build " if mounted else ""
    build_image(engine, {"README": "x"}, CACHED.format(mount=mount), image_tag, buildkit=True)
    path = save_image(engine, image_tag, tmp_path / "cached.tar")
    index = build_index(str(path), IndexOptions(use_cache=False))
    caches = {f.details.to_json()["cache"]: f.bytes for f in analyze(index) if f.kind == "package-cache"}
    saved = SavedArchive(Path(path))
    stored = {p: m.size for p, m in saved.layers[-1].items() if m.isfile()}
    if mounted:
        assert caches == {} and stored == {}
    else:
        assert caches == {"npm": stored["root/.npm/_cacache/blob"], "go": stored["root/.cache/go-build/obj"]} == {"npm": 300_000, "go": 200_000}


CHOWN = """\
FROM busybox:latest
COPY {flag}model.bin /app/model.bin
{chown}
"""


@pytest.mark.parametrize("copy_chown", [False, True], ids=["run-chown", "copy-chown"])
def test_a_chown_in_a_later_layer_stores_the_files_again(engine, image_tag, tmp_path, copy_chown):
    dockerfile = CHOWN.format(flag="--chown=1000:1000 " if copy_chown else "", chown="" if copy_chown else "RUN chown -R 1000:1000 /app")
    build_image(engine, {"model.bin": bytes(range(256)) * 1_000}, dockerfile, image_tag, buildkit=True)
    path = save_image(engine, image_tag, tmp_path / "chown.tar")
    index = build_index(str(path), IndexOptions(use_cache=False))
    hidden = [f for f in analyze(index) if f.kind == "hidden-bytes"]
    if copy_chown:
        assert hidden == []
        return
    saved = SavedArchive(Path(path))
    (finding,) = hidden
    details = finding.details.to_json()
    assert details["reason"] == "metadata-only"
    assert finding.bytes == saved.layers[-2]["app/model.bin"].size == 256_000
    assert details["metadata_changes"][0]["owner_before"] == "0:0" and details["metadata_changes"][0]["owner_after"] == "1000:1000"
    assert "COPY --chown=1000:1000" in finding.fix
