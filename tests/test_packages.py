"""The image's package database (slimview/packages): readers, the model's history, closures,
and the rewrite reading apk and distroless (status.d) databases through the same code
path as dpkg's status file."""

from __future__ import annotations

import ast
import subprocess
import sys

from slimview.packages.apk import parse_apk_installed
from slimview.packages.classify import BuildRole, is_shared_library, may_be_loaded_at_runtime
from slimview.packages.closure import build_roles, closure_bytes, closure_names, shared_libraries
from slimview.packages.database import read_database
from slimview.packages.dpkg import parse_dpkg_status
from slimview.packages.model import Manager
from slimview.packages.osrelease import distribution_family, os_release
from slimview.rewrite import rewrite_image
from slimview.rewrite.base import find_base
from slimview.rewrite.model import SizeRow
from slimview.sample.builder import Layer

from findings_util import base, index_of, noise, run, step
from rewrite_util import hadolint_issues


def test_the_package_model_depends_on_the_index_only():
    # Findings and the rewrite use it; it never uses them (and the index's capture policy
    # imports its paths, so those import nothing of slimview's).
    script = (
        "import sys, pkgutil, importlib, slimview.packages as p\n"
        "for m in pkgutil.iter_modules(p.__path__): importlib.import_module('slimview.packages.' + m.name)\n"
        "print(sorted({n.split('.')[1] for n in sys.modules if n.startswith('slimview.')}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    loaded = set(ast.literal_eval(proc.stdout))  # the index pulls in source, errors and fsutil
    assert "index" in loaded and not loaded & {"findings", "rewrite", "report", "gate", "ui", "cli"}, loaded
    proc = subprocess.run(
        [sys.executable, "-c", "import sys, slimview.packages.paths; print(sorted(n for n in sys.modules if n.startswith('slimview')))"],
        capture_output=True, text=True, timeout=60, check=True,
    )
    assert proc.stdout.strip() == "['slimview', 'slimview.packages', 'slimview.packages.paths']"


def _stanza(name: str, kib: int, depends: str = "", version: str = "1.0-1") -> str:
    text = f"Package: {name}\nStatus: install ok installed\nArchitecture: amd64\nVersion: {version}\nInstalled-Size: {kib}\n"
    return text + (f"Depends: {depends}\n" if depends else "")


def _apk(name: str, size: int, depends: str = "", provides: str = "", version: str = "1.0-r0") -> str:
    text = f"C:Q1{name}=\nP:{name}\nV:{version}\nA:x86_64\nI:{size}\n"
    return text + (f"D:{depends}\n" if depends else "") + (f"p:{provides}\n" if provides else "")


def test_dependency_groups_follow_the_first_installed_alternative():
    status = "\n".join([
        _stanza("app", 10, "mail-transport-agent | exim4, libfoo1 | libfoo-compat1"),
        _stanza("exim4", 100),
        _stanza("libfoo-compat1", 7, "libc6"),
        _stanza("libc6", 1000),
    ]).encode()
    installed = parse_dpkg_status(status)
    # Neither first alternative is installed: the second ones are what satisfies the groups.
    assert closure_names(["app=1.0-1"], installed) == {"app", "exim4", "libfoo-compat1", "libc6"}
    assert closure_bytes(["app"], installed, {"libc6"}) == (10 + 100 + 7) * 1024


def test_shared_libraries_by_name_or_by_the_so_names_apk_provides():
    assert [is_shared_library(n) for n in ("libpq5", "libffi", "zlib1g", "libpq-dev", "liberror-perl", "libjs-jquery", "zlib")] == [
        True, True, True, False, False, False, False
    ]
    assert is_shared_library("zlib", ["so:libz.so.1"])
    # A finding keeps shared libraries by name alone, without compiler internals.
    assert (may_be_loaded_at_runtime("libffi"), may_be_loaded_at_runtime("libmpfr6")) == (True, False)


def test_apk_database_gives_installed_sizes_and_dev_libraries():
    body = "\n".join([
        _apk("libffi-dev", 150_000, "libffi=3.4.6-r0 linux-headers pkgconf"),
        _apk("libffi", 65_536, "so:libc.musl-x86_64.so.1", "so:libffi.so.8=8.1.4"),
        _apk("zlib-dev", 20_000, "zlib=1.3.1-r0 pkgconfig"),
        _apk("zlib", 110_000, "so:libc.musl-x86_64.so.1", "so:libz.so.1=1.3.1"),
        _apk("linux-headers", 6_000_000),
        _apk("pkgconf", 140_000),
    ]).encode()
    packages, _files = parse_apk_installed(body)
    assert packages["libffi"].installed_bytes == 65_536
    assert shared_libraries(["libffi-dev", "zlib-dev"], packages, set()) == {"libffi-dev": ["libffi"], "zlib-dev": ["zlib"]}


def test_build_roles_name_the_tools_and_what_only_they_need(tmp_path):
    root = base(("etc/os-release", b'ID=debian\nVERSION_ID="12"\n'))
    root.file("var/lib/dpkg/status", "\n".join([
        _stanza("libc6", 12_000),
        _stanza("gcc-12", 50_000, "cpp-12, libisl23, libgomp1"),
        _stanza("cpp-12", 30_000, "libisl23"),
        _stanza("libisl23", 2_000),
        _stanza("libgomp1", 300),
    ]).encode())
    # apt installed the libraries as dependencies; without its marks every package is a root.
    root.file("var/lib/apt/extended_states", b"Package: libisl23\nAuto-Installed: 1\n\nPackage: libgomp1\nAuto-Installed: 1\n")
    index = index_of(tmp_path, [root])
    db = read_database(index)
    assert db is not None and db.manager == Manager.DPKG
    assert build_roles(db.packages, db.manager) == {
        "gcc-12": BuildRole.COMPILER, "cpp-12": BuildRole.COMPILER, "libisl23": BuildRole.DEPENDENCY,
    }
    assert (os_release(index)["ID"], distribution_family(os_release(index))) == ("debian", "debian")


def test_versions_and_listings_per_layer(tmp_path):
    root = base()
    root.file("var/lib/dpkg/status", _stanza("libc6", 12_000, version="2.36-9").encode())
    upgrade = run("apt-get install -y curl")
    upgrade.file("var/lib/dpkg/status", "\n".join([_stanza("libc6", 12_000, version="2.36-9+deb12u9"), _stanza("curl", 500)]).encode())
    db = read_database(index_of(tmp_path, [root, upgrade]))
    assert db is not None
    assert (db.version_at("libc6", 0), db.version_at("libc6", 1), db.version_at("curl", 0)) == ("2.36-9", "2.36-9+deb12u9", "")
    assert (sorted(db.listed_at(-1)), sorted(db.listed_at(0)), sorted(db.listed_at(1))) == ([], ["libc6"], ["curl", "libc6"])
    assert (db.packages["libc6"].installed_in, db.packages["curl"].installed_in) == (0, 1)


# -- the rewrite on databases other than dpkg's status file ------------------------------------


def _python_base(os_release_body: bytes, version: str) -> Layer:
    root = base(("etc/os-release", os_release_body))
    root.file(f"usr/local/bin/python{version}", noise("python", 20_000), mode=0o755)
    root.file(f"usr/local/lib/python{version}/os.py", noise("os.py", 40_000))
    return root


def _app_layers(version: str) -> list[Layer]:
    copy = step("COPY . .").dir("app")
    copy.file("app/main.py", b"print('hello')\n")
    copy.file("app/requirements.txt", b"cffi==1.17.1\n")
    pip = run("pip install --no-cache-dir -r requirements.txt")
    pip.file(f"usr/local/lib/python{version}/site-packages/cffi/__init__.py", noise("cffi", 300_000))
    return [step("WORKDIR /app").dir("app"), copy, pip]


def test_the_rewrite_reads_an_apk_database(tmp_path):
    root = _python_base(b'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.20.3\n', "3.12")
    base_db = _apk("musl", 640_000, "", "so:libc.musl-x86_64.so.1=1") + "\n" + _apk("busybox", 900_000, "so:libc.musl-x86_64.so.1")
    root.file("lib/apk/db/installed", base_db.encode())
    root.file("etc/apk/world", b"busybox\n")
    install = run("apk add --no-cache gcc musl-dev libffi-dev")
    install.file("usr/lib/libffi.so.8.1.4", noise("libffi", 40_000))
    install.file("lib/apk/db/installed", "\n".join([
        base_db,
        _apk("gcc", 90_000_000, "binutils so:libc.musl-x86_64.so.1"),
        _apk("binutils", 7_000_000, "so:libc.musl-x86_64.so.1"),
        _apk("musl-dev", 1_100_000, "musl=1.2.5-r0"),
        _apk("libffi-dev", 150_000, "libffi=3.4.6-r0 linux-headers pkgconf"),
        _apk("libffi", 65_536, "so:libc.musl-x86_64.so.1", "so:libffi.so.8=8.1.4"),
        _apk("linux-headers", 6_000_000),
        _apk("pkgconf", 140_000),
    ]).encode())
    install.file("etc/apk/world", b"busybox\ngcc\nmusl-dev\nlibffi-dev\n")
    index = index_of(tmp_path, [root, install, *_app_layers("3.12")], cmd=["python", "main.py"])

    rewrite = rewrite_image(index, find_base(index.source, None), ())

    assert "RUN apk add --no-cache gcc musl-dev libffi-dev\n" in rewrite.dockerfile
    # libffi-dev's library, from the apk database: what cffi was compiled against.
    assert "# Run-time libraries of the build's -dev packages: libffi (libffi-dev).\n" in rewrite.dockerfile
    assert "RUN apk add --no-cache libffi \\\n" in rewrite.dockerfile
    # The runtime's OS packages weigh libffi's installed size; musl came with the base.
    assert rewrite.sizes[1] == SizeRow("OS packages", index.layers[1].stats.size, 65_536)
    assert not any("database" in note for note in rewrite.notes)
    assert hadolint_issues(rewrite.dockerfile) == []


def test_the_rewrite_reads_a_distroless_status_d_database(tmp_path):
    # Distroless keeps one stanza per package in status.d/ and no status file.
    root = _python_base(b'PRETTY_NAME="Distroless"\nID=debian\nVERSION_ID="12"\n', "3.11")
    root.file("var/lib/dpkg/status.d/libc6", _stanza("libc6", 12_000).encode())
    root.file("var/lib/dpkg/status.d/libssl3", _stanza("libssl3", 6_000, "libc6").encode())
    install = run("apt-get install -y gcc libpq-dev curl")
    install.file("usr/bin/curl", noise("curl", 250_000))
    for name, kib, depends in [
        ("gcc", 50, "gcc-12"), ("gcc-12", 60_000, "libc6"), ("libpq-dev", 700, "libpq5 (= 15.8-0+deb12u1), libssl-dev"),
        ("libssl-dev", 4_000, "libssl3"), ("libpq5", 900, "libc6, libssl3"), ("curl", 500, "libcurl4 (= 7.88.1-10)"),
        ("libcurl4", 1_000, "libc6, libssl3"),
    ]:
        install.file(f"var/lib/dpkg/status.d/{name}", _stanza(name, kib, depends).encode())
    index = index_of(tmp_path, [root, install, *_app_layers("3.11")], cmd=["python", "main.py"])

    rewrite = rewrite_image(index, find_base(index.source, None), ())

    assert " && apt-get install -y --no-install-recommends gcc libpq-dev \\\n" in rewrite.dockerfile
    assert "# Run-time libraries of the build's -dev packages: libpq5 (libpq-dev).\n" in rewrite.dockerfile
    assert " && apt-get install -y --no-install-recommends curl libpq5 \\\n" in rewrite.dockerfile
    # curl, libcurl4 and libpq5 by their Installed-Size; libc6 and libssl3 came with the base.
    assert rewrite.sizes[1] == SizeRow("OS packages", index.layers[1].stats.size, (500 + 1_000 + 900) * 1024)
    assert not any("database" in note for note in rewrite.notes)
    assert hadolint_issues(rewrite.dockerfile) == []
