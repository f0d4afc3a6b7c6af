"""Build tools in the runtime image, from the image's dpkg or apk database or by path."""

import pytest

from slimview.findings.buildtools import path_role
from slimview.packages.apk import parse_apk_installed
from slimview.packages.classify import build_role, may_be_loaded_at_runtime
from slimview.packages.database import read_database
from slimview.packages.dpkg import parse_dpkg_status, parse_extended_states

from findings_util import Pkg, base, findings_of, index_of, install, noise, of_kind, paths_and_sizes, run, stanza, status_file

LIBC = Pkg("libc6", {"usr/lib/x86_64-linux-gnu/libc.so.6": 1_900_000}, priority="required")
LIBSTDCXX = Pkg("libstdc++6", {"usr/lib/x86_64-linux-gnu/libstdc++.so.6.0.30": 2_190_000}, depends="libc6 (>= 2.34)")
GCC_BASE = Pkg("gcc-12-base", {"usr/share/doc/gcc-12-base/README": 2_000})
GCC = Pkg(
    "gcc-12",
    {"usr/bin/x86_64-linux-gnu-gcc-12": 1_000_000, "usr/libexec/gcc/x86_64-linux-gnu/12/cc1": 1_400_000},
    depends="cpp-12 (= 12.2.0-14), libisl23 (>= 0.15), gcc-12-base (= 12.2.0-14)",
)
CPP = Pkg("cpp-12", {"usr/libexec/gcc/x86_64-linux-gnu/12/lto1": 300_000}, depends="gcc-12-base, libisl23")
ISL = Pkg("libisl23", {"usr/lib/x86_64-linux-gnu/libisl.so.23.2.0": 2_150_000})
LIBC_DEV = Pkg("libc6-dev", {"usr/include/stdio.h": 31_000, "usr/lib/x86_64-linux-gnu/libc.a": 600_000}, depends="libc6")
MAKE = Pkg("make", {"usr/bin/make": 250_000}, depends="libc6")
PYTHON = Pkg("python3.11-minimal", {"usr/bin/python3.11": 6_800_000}, depends="libc6")
LIBPYTHON = Pkg("libpython3.11", {"usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0": 7_700_000})
LIBPYTHON_DEV = Pkg("libpython3.11-dev", {"usr/include/python3.11/Python.h": 4_000}, depends="libpython3.11 (= 3.11.2-6)")
BUILD_ESSENTIAL = Pkg("build-essential", {}, depends="gcc-12, make, libc6-dev")


def debian_base():
    layer = base(("etc/os-release", b"ID=debian\n"))
    install(layer, LIBC, LIBSTDCXX, GCC_BASE)
    layer.file("var/lib/dpkg/status", status_file(LIBC, LIBSTDCXX, GCC_BASE))
    return layer


@pytest.mark.parametrize(
    "name, role",
    [
        ("gcc-12", "compiler"), ("g++-12", "compiler"), ("cpp-12", "compiler"), ("cpp", "compiler"),
        ("cpp-12-x86-64-linux-gnu", "compiler"), ("gcc", "compiler"), ("clang-16", "compiler"), ("libasan8", "compiler"),
        ("binutils", "binutils"), ("binutils-x86-64-linux-gnu", "binutils"), ("libctf0", "binutils"),
        ("libc6-dev", "headers and static libraries"), ("linux-libc-dev", "headers and static libraries"),
        ("libpython3.11-dev", "headers and static libraries"), ("python3.11-dev", "headers and static libraries"),
        ("python3-dev", "headers and static libraries"), ("libstdc++-12-dev", "headers and static libraries"),
        ("build-essential", "build system"), ("make", "build system"), ("cmake", "build system"),
        ("pkg-config", "build system"), ("autoconf", "build system"), ("libtool", "build system"),
        ("git", "version control"), ("openjdk-17-jdk-headless", "jdk"),
    ],
)
def test_build_only_packages(name, role):
    assert build_role(name) == role


@pytest.mark.parametrize(
    "name",
    ["libstdc++6", "libgcc-s1", "gcc-12-base", "libpython3.11", "libpython3.11-stdlib", "libpython3.11-minimal",
     "python3.11", "python3-pip", "libc6", "libc-bin", "libgomp1", "busybox-static", "openjdk-17-jre-headless", "curl"],
)
def test_runtime_packages_are_not_build_tools(name):
    assert build_role(name) is None


def test_apk_static_packages_are_static_libraries_but_debian_static_programs_are_not():
    assert build_role("zlib-static", "apk") == "headers and static libraries"
    assert build_role("busybox-static", "dpkg") is None


def test_shared_libraries_are_assumed_loadable_except_compiler_and_perl_internals():
    assert [may_be_loaded_at_runtime(n) for n in ("libpython3.11", "libgomp1", "libx265-199", "libisl23", "libperl5.36", "libjs-jquery", "liberror-perl", "perl")] == [
        True, True, True, False, False, False, False, False
    ]


def test_dpkg_status_parsing_skips_removed_packages_and_reads_dependencies():
    body = (stanza(GCC) + "\n" + stanza(Pkg("oldpkg"), status="deinstall ok config-files") + "\n"
            + stanza(Pkg("half"), status="install reinstreq half-installed")).encode()
    packages = parse_dpkg_status(body)
    assert sorted(packages) == ["gcc-12", "half"]
    assert packages["gcc-12"].depends == [["cpp-12"], ["libisl23"], ["gcc-12-base"]]
    assert parse_extended_states(b"Package: libisl23\nArchitecture: amd64\nAuto-Installed: 1\n\nPackage: make\nAuto-Installed: 0\n") == {"libisl23"}


def test_package_files_are_attributed_with_bytes_per_package_and_the_installing_layer(tmp_path):
    layer = run("apt-get install -y build-essential python3-dev")
    pkgs = (GCC, CPP, ISL, LIBC_DEV, MAKE, PYTHON, LIBPYTHON, LIBPYTHON_DEV, BUILD_ESSENTIAL)
    install(layer, *pkgs)
    layer.file("var/lib/dpkg/status", status_file(LIBC, LIBSTDCXX, GCC_BASE, *pkgs))
    # apt marks what it pulled in as a dependency; build-essential and python3.11-minimal were asked for.
    auto = ["gcc-12", "cpp-12", "libisl23", "libc6-dev", "make", "libpython3.11", "libpython3.11-dev"]
    layer.file("var/lib/apt/extended_states", "\n".join(f"Package: {n}\nArchitecture: amd64\nAuto-Installed: 1\n" for n in auto).encode())
    (finding,) = of_kind(findings_of(tmp_path, [debian_base(), layer]), "build-tools")

    by_name = {p["name"]: (p["category"], p["bytes"], p["files"], p["installed_in"]) for p in finding.details.to_json()["packages"]}
    assert by_name == {
        "gcc-12": ("compiler", 2_400_000, 2, 1),
        "libisl23": ("needed only by build tools", 2_150_000, 1, 1),
        "libc6-dev": ("headers and static libraries", 631_000, 2, 1),
        "cpp-12": ("compiler", 300_000, 1, 1),
        "make": ("build system", 250_000, 1, 1),
        "libpython3.11-dev": ("headers and static libraries", 4_000, 1, 1),
        "build-essential": ("build system", 0, 0, 1),
    }
    # Runtime libraries stay out: libstdc++6, gcc-12-base (libgcc needs it), libpython3.11, the interpreter.
    assert (finding.layer, finding.bytes) == (1, 5_735_000)
    assert sum(p.size for p in finding.paths) == finding.bytes
    assert "usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0" not in paths_and_sizes(finding)
    assert finding.details.to_json()["requested"] == ["build-essential", "python3-dev"]
    assert "apt-get purge -y --auto-remove build-essential python3-dev" in finding.fix
    assert finding.severity == "medium"
    assert finding.details.to_json()["source"] == "dpkg"


def test_usr_merged_paths_from_the_package_lists_are_resolved(tmp_path):
    root = debian_base().symlink("bin", "usr/bin")
    layer = run("apt-get install -y make")
    install(layer, MAKE, listed_as=lambda path: "/bin/make")  # dpkg lists /bin/make; the file is at usr/bin/make
    layer.file("var/lib/dpkg/status", status_file(LIBC, LIBSTDCXX, GCC_BASE, MAKE))
    (finding,) = of_kind(findings_of(tmp_path, [root, layer]), "build-tools")
    assert paths_and_sizes(finding) == {"usr/bin/make": 250_000}


def test_purging_a_metapackage_in_a_later_layer_leaves_its_dependencies_flagged(tmp_path):
    installed = run("apt-get install -y build-essential")
    install(installed, GCC, CPP, ISL, LIBC_DEV, MAKE, BUILD_ESSENTIAL)
    installed.file("var/lib/dpkg/status", status_file(LIBC, LIBSTDCXX, GCC_BASE, GCC, CPP, ISL, LIBC_DEV, MAKE, BUILD_ESSENTIAL))
    purged = run("apt-get purge -y build-essential")
    purged.whiteout("var/lib/dpkg/info/build-essential.list")
    purged.file("var/lib/dpkg/status", status_file(LIBC, LIBSTDCXX, GCC_BASE, GCC, CPP, ISL, LIBC_DEV, MAKE))
    (finding,) = of_kind(findings_of(tmp_path, [debian_base(), installed, purged]), "build-tools")

    assert finding.layer == 1
    assert sorted(p["name"] for p in finding.details.to_json()["packages"]) == ["cpp-12", "gcc-12", "libc6-dev", "make"]
    assert finding.details.to_json()["removed_packages"] == [
        {"removed": "build-essential", "layer": 2, "still_installed": ["cpp-12", "gcc-12", "libc6-dev", "make"]}
    ]
    assert "Layer 2 removed build-essential but not what it pulled in (cpp-12, gcc-12, libc6-dev, make)" in finding.evidence


def test_a_purge_in_the_same_run_is_read_from_the_instruction(tmp_path):
    gcc = Pkg("gcc", {"usr/share/doc/gcc/README": 1_000}, depends="cpp (= 4:12.2.0-3), gcc-12 (>= 12.2.0-1~)")
    layer = run("apt-get install -y build-essential git && apt-get purge -y build-essential git-man")
    install(layer, gcc, GCC, MAKE, Pkg("git", {"usr/bin/git": 900_000}))
    layer.file("var/lib/dpkg/status", status_file(LIBC, LIBSTDCXX, GCC_BASE, gcc, GCC, MAKE, Pkg("git")))
    (finding,) = of_kind(findings_of(tmp_path, [debian_base(), layer]), "build-tools")
    # What build-essential depends on stays (gcc, and gcc-12 through it); git was never its dependency.
    assert finding.details.to_json()["removed_packages"] == [{"removed": "build-essential", "layer": 1, "still_installed": ["gcc", "gcc-12", "make"]}]


def test_purge_with_auto_remove_is_not_called_out(tmp_path):
    layer = run("apt-get install -y build-essential && apt-get purge -y --auto-remove build-essential")
    install(layer, MAKE)
    layer.file("var/lib/dpkg/status", status_file(LIBC, LIBSTDCXX, GCC_BASE, MAKE))
    (finding,) = of_kind(findings_of(tmp_path, [debian_base(), layer]), "build-tools")
    assert finding.details.to_json()["removed_packages"] == []


def test_a_clean_debian_image_has_no_build_tools(tmp_path):
    layer = run("apt-get install -y python3.11-minimal libpython3.11")
    install(layer, PYTHON, LIBPYTHON)
    layer.file("var/lib/dpkg/status", status_file(LIBC, LIBSTDCXX, GCC_BASE, PYTHON, LIBPYTHON))
    assert of_kind(findings_of(tmp_path, [debian_base(), layer]), "build-tools") == []


APK_DB = b"""C:Q1abc=
P:musl
V:1.2.4-r2
D:
F:lib
R:ld-musl-x86_64.so.1

C:Q1def=
P:gcc
V:13.2.1-r0
D:binutils so:libc.musl-x86_64.so.1 !gcc-doc
p:cmd:gcc=13.2.1-r0
F:usr/bin
R:gcc
F:usr/libexec/gcc/x86_64-alpine-linux-musl/13.2.1
R:cc1

C:Q1ghi=
P:binutils
V:2.41-r0
F:usr/bin
R:ld.bfd

C:Q1jkl=
P:musl-dev
V:1.2.4-r2
F:usr/include
R:stdio.h
"""


def test_apk_database_is_parsed_with_files_per_package():
    packages, files = parse_apk_installed(APK_DB)
    assert sorted(packages) == ["binutils", "gcc", "musl", "musl-dev"]
    assert packages["gcc"].depends == [["binutils"], ["so:libc.musl-x86_64.so.1"]]
    assert packages["gcc"].provides == ["cmd:gcc"]
    assert files["gcc"] == ["usr/bin/gcc", "usr/libexec/gcc/x86_64-alpine-linux-musl/13.2.1/cc1"]


def test_apk_build_tools_with_bytes(tmp_path):
    root = base(("lib/ld-musl-x86_64.so.1", noise("musl", 600_000)), ("etc/alpine-release", b"3.19.0\n"))
    root.file("lib/apk/db/installed", APK_DB.split(b"\n\nC:Q1def=")[0] + b"\n")
    root.file("etc/apk/world", b"musl\n")
    layer = run("apk add gcc musl-dev")
    layer.file("usr/bin/gcc", noise("gcc", 900_000))
    layer.file("usr/libexec/gcc/x86_64-alpine-linux-musl/13.2.1/cc1", noise("cc1", 1_500_000))
    layer.file("usr/bin/ld.bfd", noise("ld", 400_000))
    layer.file("usr/include/stdio.h", noise("stdio", 30_000))
    layer.file("lib/apk/db/installed", APK_DB)
    layer.file("etc/apk/world", b"musl\ngcc\nmusl-dev\n")
    (finding,) = of_kind(findings_of(tmp_path, [root, layer]), "build-tools")

    assert finding.details.to_json()["source"] == "apk"
    assert {p["name"]: p["bytes"] for p in finding.details.to_json()["packages"]} == {"gcc": 2_400_000, "binutils": 400_000, "musl-dev": 30_000}
    assert (finding.layer, finding.bytes) == (1, 2_830_000)
    assert "apk del gcc musl-dev" in finding.fix


@pytest.mark.parametrize(
    "path, role",
    [
        ("usr/include/zlib.h", "headers and static libraries"),
        ("usr/local/include/python3.11/Python.h", "headers and static libraries"),
        ("usr/lib/gcc/x86_64-linux-gnu/12/libgcc.a", "compiler"),
        ("opt/toolchain/bin/cc1plus", "compiler"),
        ("usr/local/lib/libfoo.a", "headers and static libraries"),
        ("usr/local/go/bin/go", "toolchain"),
        ("usr/local/lib/python3.11/site-packages/numpy/core/lib/libnpymath.a", None),
        ("usr/lib/x86_64-linux-gnu/libstdc++.so.6.0.30", None),
        ("usr/lib/python3.11/os.py", None),
    ],
)
def test_path_rules(path, role):
    assert path_role(path) == role


def test_without_a_package_database_path_rules_find_build_material(tmp_path):
    layer = run("./configure && make install")
    layer.file("usr/local/include/foo.h", noise("foo.h", 200_000))
    layer.file("usr/local/lib/libfoo.a", noise("libfoo.a", 700_000))
    layer.file("usr/local/libexec/gcc/x86_64-linux-gnu/13/cc1", noise("cc1", 300_000))
    layer.file("usr/local/lib/libfoo.so.1", noise("libfoo.so", 500_000))
    too_small = run("make install-headers")
    too_small.file("opt/include/x.h", b"x")
    too_small.file("usr/include/bar.h", noise("bar.h", 999_999))
    findings = of_kind(findings_of(tmp_path, [base(), layer, too_small]), "build-tools")

    assert len(findings) == 1
    (finding,) = findings
    assert (finding.layer, finding.bytes) == (1, 1_200_000)
    assert finding.details.to_json() == {
        "source": "path rules",
        "categories": {"compiler": 300_000, "headers and static libraries": 900_000},
    }


def test_distroless_status_d_without_file_lists_falls_back_to_path_rules(tmp_path):
    root = base(("etc/os-release", b"ID=debian\n"))
    root.file("var/lib/dpkg/status.d/libc6", stanza(LIBC).encode())
    root.file("var/lib/dpkg/status.d/libc6.md5sums", b"0123 usr/lib/x86_64-linux-gnu/libc.so.6\n")
    root.file("usr/lib/x86_64-linux-gnu/libc.so.6", noise("libc", 1_900_000))
    layer = run("cp -r /build/include /usr/include")
    layer.file("var/lib/dpkg/status.d/libc6-dev", stanza(LIBC_DEV).encode())
    layer.file("usr/include/stdio.h", noise("stdio", 1_100_000))
    (finding,) = of_kind(findings_of(tmp_path, [root, layer]), "build-tools")
    assert (finding.layer, finding.bytes, finding.details.to_json()["source"]) == (1, 1_100_000, "path rules")


def test_distroless_status_d_is_read_as_a_package_database(tmp_path):
    root = base()
    root.file("var/lib/dpkg/status.d/libc6", stanza(LIBC).encode())
    root.file("var/lib/dpkg/status.d/libc6.md5sums", b"0123 usr/lib/x86_64-linux-gnu/libc.so.6\n")
    layer = run("true")
    layer.file("var/lib/dpkg/status.d/tzdata", stanza(Pkg("tzdata")).encode())
    db = read_database(index_of(tmp_path, [root, layer]))
    assert (db.manager, sorted(db.packages), db.attributed) == ("dpkg", ["libc6", "tzdata"], False)
    assert (db.packages["libc6"].installed_in, db.packages["tzdata"].installed_in) == (0, 1)
