"""Go images: the toolchain image shipped for one program, unstripped programs, Go's build and
module caches, Go sources beside the built program, and Go's own test key. The programs
are ELF files written byte by byte (tests/elfbuild.py), so every figure is known by
construction."""

from __future__ import annotations

from slimview.elf import read_program

from elfbuild import Program
from findings_util import base, findings_of, of_kind, paths_and_sizes, step
from stack_images import CACHES, GO, LIBC, LIBGCC, SERVER, TEST_KEY, golang_layers, visible_sizes


def test_the_toolchain_image_counts_everything_but_the_program_and_what_it_loads(tmp_path):
    layers = golang_layers()
    (finding,) = [f for f in of_kind(findings_of(tmp_path, layers), "build-tools") if f.details.to_json()["source"] == "toolchain"]
    runtime = set(LIBC.files) | set(LIBGCC.files)
    expected = {p: size for p, (size, layer) in visible_sizes(layers).items()
                if size and layer != 2 and p != "usr/local/bin/server" and p not in runtime}
    assert paths_and_sizes(finding) == expected
    assert finding.bytes == sum(expected.values())
    details = finding.details.to_json()
    assert details == {
        "source": "toolchain", "language": "go", "program": "/usr/local/bin/server", "built_with": "go1.19.8",
        "linkage": "dynamic", "needs": ["/lib64/ld-linux-x86-64.so.2", "libc.so.6"],
        "libraries": ["/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "/usr/lib/x86_64-linux-gnu/libc.so.6"],
        "runtime_packages": ["libc6", "libgcc-s1"], "runtime_bytes": sum(LIBC.files.values()) + sum(LIBGCC.files.values()),
        "toolchain": [
            {"label": "/usr/lib/go-1.19", "bytes": sum(GO.files.values())},
            {"label": "/usr/share/go-1.19/src", "bytes": 50_000 + len(TEST_KEY)},
        ],
    }
    assert finding.layer == 1  # the toolchain's install stores most of it
    assert finding.title == "The Go toolchain image ships to run one dynamic program, /usr/local/bin/server"
    assert "CGO_ENABLED=0" in finding.fix and "FROM scratch" in finding.fix


def test_a_static_program_needs_nothing_from_the_image(tmp_path):
    static = Program(go_version="go1.19.8", go_settings={"CGO_ENABLED": "0"})
    layers = golang_layers(static)
    (finding,) = [f for f in of_kind(findings_of(tmp_path, layers), "build-tools") if f.details.to_json()["source"] == "toolchain"]
    expected = {p: size for p, (size, layer) in visible_sizes(layers).items() if size and layer != 2 and p != "usr/local/bin/server"}
    assert finding.bytes == sum(expected.values())
    assert finding.details.to_json()["linkage"] == "static"
    assert (finding.details.to_json()["libraries"], finding.details.to_json()["runtime_bytes"]) == ([], 0)
    assert "FROM scratch" in finding.fix and "CGO_ENABLED=0" not in finding.fix


def test_no_toolchain_finding_without_a_go_program_or_without_a_toolchain(tmp_path):
    root, tools, copy, _build = golang_layers()
    # The golang base image itself (no program built in it).
    assert not [f for f in findings_of(tmp_path, [root, tools, copy]) if f.details and f.details.to_json().get("source") == "toolchain"]
    # A Go program on a plain base: nothing to blame on a toolchain.
    shipped = step("COPY /out/server /usr/local/bin/server").file("usr/local/bin/server", SERVER.build(), mode=0o755)
    assert not [f for f in findings_of(tmp_path, [root, shipped]) if f.details and f.details.to_json().get("source") == "toolchain"]


def test_unstripped_program_bytes_are_its_dwarf_and_symbol_sections(tmp_path):
    findings = findings_of(tmp_path, golang_layers())
    (finding,) = [f for f in findings if f.details and f.details.to_json().get("source") == "debug information"]
    assert finding.bytes == SERVER.strippable == 650_000 + 380_000 + 78_000 + 144_000 + 72_000
    assert finding.details.to_json() == {
        "source": "debug information", "program": "/usr/local/bin/server", "language": "go", "linkage": "dynamic",
        "dwarf_bytes": 1_108_000, "symbol_bytes": 216_000,
        "sections": [{"name": ".debug_info", "bytes": 650_000}, {"name": ".debug_line", "bytes": 380_000},
                     {"name": ".symtab", "bytes": 144_000}, {"name": ".debug_frame", "bytes": 78_000},
                     {"name": ".strtab", "bytes": 72_000}],
    }
    assert paths_and_sizes(finding) == {"usr/local/bin/server": len(SERVER.build())}
    assert (finding.layer, finding.kind) == (3, "build-tools")
    assert '-ldflags="-s -w"' in finding.fix


def test_stripped_and_small_programs_and_shared_libraries_are_left_alone(tmp_path):
    stripped = Program(go_version="go1.22.1", go_settings={"-ldflags": "-s -w"})
    tiny_debug = Program(needed=["libc.so.6"], interpreter="/lib64/ld-linux-x86-64.so.2", debug={".debug_info": 60_000})
    c_program = Program(interpreter="/lib64/ld-linux-x86-64.so.2", needed=["libc.so.6"], debug={".debug_info": 90_000})
    layer = step("COPY out/ /usr/local/bin/")
    layer.file("usr/local/bin/a", stripped.build(), mode=0o755).file("usr/local/bin/b", tiny_debug.build(), mode=0o755)
    layer.file("usr/local/bin/c", c_program.build(), mode=0o755)
    layer.file("opt/lib/libthing", Program(shared_library=True, debug={".debug_info": 200_000}).build())
    layer.file("usr/lib/x86_64-linux-gnu/tool", Program(debug={".debug_info": 200_000}).build(), mode=0o755)  # a system tree: not the owner's
    (finding,) = [f for f in findings_of(tmp_path, [base(), layer]) if f.details and f.details.to_json().get("source") == "debug information"]
    assert (finding.details.to_json()["program"], finding.bytes, finding.details.to_json()["language"]) == ("/usr/local/bin/c", 90_000, "")
    assert "strip --strip-all" in finding.fix


def test_go_build_and_module_caches_with_their_bytes(tmp_path):
    (finding,) = [f for f in of_kind(findings_of(tmp_path, golang_layers()), "package-cache") if f.details.to_json()["cache"] == "go"]
    assert paths_and_sizes(finding) == CACHES
    assert finding.bytes == sum(CACHES.values())
    assert finding.details.to_json()["roots"] == ["/go/pkg/mod", "/root/.cache/go-build"]
    assert finding.layer == 3


def test_go_sources_tests_and_coverage_beside_the_built_program(tmp_path):
    findings = of_kind(findings_of(tmp_path, golang_layers()), "context-junk")
    (finding,) = [f for f in findings if f.details.to_json().get("language") == "go"]
    assert finding.details.to_json() == {
        "language": "go", "project": "/app", "compiled": "/usr/local/bin/server",
        "candidates": [
            {"category": "sources", "bytes": 3_000 + 1_400 + 40, "files": 3},
            {"category": "tests", "bytes": 1_500 + 500, "files": 2},
            {"category": "coverage reports", "bytes": 800, "files": 1},
            {"category": "build and lint configuration", "bytes": 300, "files": 1},
        ],
    }
    assert finding.bytes == 3_000 + 1_400 + 40 + 1_500 + 500 + 800 + 300
    assert finding.layer == 2
    assert "app/README.md" not in paths_and_sizes(finding)


def test_gos_own_test_key_is_not_a_secret_but_the_same_key_in_the_application_is(tmp_path):
    layers = golang_layers()
    layers[2].file("app/certs/server.key", TEST_KEY.split("`")[1])
    secrets = of_kind(findings_of(tmp_path, layers), "secret")
    assert [f.paths[0].path for f in secrets] == ["app/certs/server.key"]


def test_the_go_version_and_build_settings_are_read_from_the_program():
    program = read_program(SERVER.build())
    assert program is not None
    assert (program.go_version, program.go_settings, program.linkage) == ("go1.19.8", {"CGO_ENABLED": "1", "GOOS": "linux"}, "dynamic")
    assert (program.interpreter, program.needed) == ("/lib64/ld-linux-x86-64.so.2", ["libc.so.6"])


def test_bodies_that_only_look_like_programs_are_skipped_without_an_error():
    body = SERVER.build()
    assert read_program(b"\x7fELF" + bytes(300_000)) is None
    assert read_program(body[:70_000]) is None  # cut short: sections past the end
    assert read_program(b"#!/bin/sh\n" + bytes(300_000)) is None
