"""rpm databases, read from files rpm 4.18 itself wrote (tests/data/rpmdb/make.sh): the
sqlite database of rpm 4.16+ and the Berkeley DB Packages file of older releases, checked
against what rpm answered about them, then in images with a Fedora layout."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from slimview.packages.database import read_database
from slimview.packages.rpm import HeaderError, parse_rpmdb
from slimview.sample.builder import Layer

from findings_util import base, findings_of, index_of, noise, of_kind, paths_and_sizes, run

DATA = Path(__file__).resolve().parent / "data" / "rpmdb"
SQLITE = "usr/lib/sysimage/rpm/rpmdb.sqlite"


def rpm_says() -> tuple[dict[str, tuple[str, int]], dict[str, list[str]], dict[str, list[str]]]:
    """rpm's own answers: {name: (version, size)}, {name: requires}, {name: installed files (no %ghost)}."""
    packages, requires, files = {}, {}, {}
    for line in (DATA / "packages.txt").read_text().splitlines():
        fact, name, *rest = line.split(" ")
        if fact == "package":
            packages[name] = (rest[0], int(rest[1]))
            requires[name], files[name] = [], []
        elif fact == "requires":
            requires[name].append(rest[0])
        elif fact == "file" and "g" not in (rest[1] if len(rest) > 1 else ""):
            files[name].append(rest[0].lstrip("/"))
    return packages, requires, files


@pytest.mark.parametrize("fixture, path", [("build.sqlite", SQLITE), ("build.bdb", "var/lib/rpm/Packages")])
def test_the_reader_agrees_with_rpm(fixture, path):
    packages, owned = parse_rpmdb(path, (DATA / fixture).read_bytes())
    versions, requires, files = rpm_says()
    assert {n: (p.version, p.installed_bytes) for n, p in packages.items()} == versions
    assert {n: [g[0] for g in p.depends] for n, p in packages.items()} == requires
    assert owned == files
    assert "/bin/sh" in packages["bash"].provides


def test_broken_databases_are_errors_the_reader_reports():
    body = (DATA / "build.sqlite").read_bytes()
    with pytest.raises(sqlite3.DatabaseError):
        parse_rpmdb(SQLITE, b"SQLite format 3\x00" + bytes(200))
    with pytest.raises(HeaderError):
        parse_rpmdb("var/lib/rpm/Packages", bytes(4096))
    with pytest.raises(sqlite3.DatabaseError):
        parse_rpmdb(SQLITE, body[: len(body) // 3])


def _files(layer: Layer, names: list[str], files: dict[str, list[str]], size: int) -> dict[str, int]:
    sizes = {}
    for name in names:
        for k, path in enumerate(files[name]):
            sizes[path] = size + 1_000 * k + len(path)
            layer.file(path, noise(path, sizes[path]))
    return sizes


def fedora_layers(database: str = SQLITE, build_db: str = "build.sqlite") -> tuple[list[Layer], dict[str, int]]:
    """A Fedora-like base (glibc, bash) and a `dnf install gcc` layer, each with the database
    rpm wrote after it; /var/lib/rpm is a symlink to /usr/lib/sysimage/rpm as on Fedora 36+."""
    _versions, _requires, files = rpm_says()
    root = base(("etc/os-release", b'NAME="Fedora Linux"\nID=fedora\n'))
    if database == SQLITE:
        root.symlink("var/lib/rpm", "../../usr/lib/sysimage/rpm")
    _files(root, ["glibc", "bash"], files, 10_000)
    root.file(database, (DATA / ("base.sqlite" if database == SQLITE else build_db)).read_bytes())
    dnf = run("dnf install -y gcc && dnf clean all")
    sizes = _files(dnf, ["mpfr", "cpp", "glibc-devel", "gcc"], files, 100_000)
    dnf.file(database, (DATA / build_db).read_bytes())
    return [root, dnf], sizes


def test_an_image_with_rpmdb_sqlite(tmp_path):
    layers, _sizes = fedora_layers()
    db = read_database(index_of(tmp_path, layers))
    assert db is not None and db.manager == "rpm"
    assert {n: p.installed_in for n, p in db.packages.items()} == {"glibc": 0, "bash": 0, "mpfr": 1, "cpp": 1, "glibc-devel": 1, "gcc": 1}
    _versions, _requires, files = rpm_says()
    assert {n: sorted(p.files) for n, p in db.packages.items()} == {n: sorted(f) for n, f in files.items()}


def test_build_tools_from_the_rpm_database(tmp_path):
    layers, sizes = fedora_layers()
    (finding,) = of_kind(findings_of(tmp_path, layers), "build-tools")
    _versions, _requires, files = rpm_says()
    tools = {path: sizes[path] for name in ("gcc", "cpp", "glibc-devel") for path in files[name]}
    assert paths_and_sizes(finding) == tools
    assert finding.bytes == sum(tools.values())
    details = finding.details.to_json()
    assert details["source"] == "rpm"
    assert {p["name"]: (p["category"], p["bytes"], p["installed_in"]) for p in details["packages"]} == {
        "gcc": ("compiler", sum(sizes[p] for p in files["gcc"]), 1),
        "cpp": ("compiler", sum(sizes[p] for p in files["cpp"]), 1),
        "glibc-devel": ("headers and static libraries", sum(sizes[p] for p in files["glibc-devel"]), 1),
    }
    assert details["requested"] == ["gcc"]
    assert "dnf remove -y gcc" in finding.fix


def test_an_older_image_with_a_berkeley_db(tmp_path):
    layers, sizes = fedora_layers("var/lib/rpm/Packages", "build.bdb")
    (finding,) = of_kind(findings_of(tmp_path, layers), "build-tools")
    assert finding.details.to_json()["source"] == "rpm"
    _versions, _requires, files = rpm_says()
    assert finding.bytes == sum(sizes[p] for name in ("gcc", "cpp", "glibc-devel") for p in files[name])


def test_an_unreadable_rpm_database_means_no_database_and_no_error(tmp_path):
    root = base(("usr/lib/sysimage/rpm/rpmdb.sqlite", b"SQLite format 3\x00" + noise("garbage", 50_000)),
                ("usr/bin/gcc", noise("gcc", 2_000_000)))
    index = index_of(tmp_path, [root])
    assert read_database(index) is None
    findings = findings_of(tmp_path, [root])
    assert of_kind(findings, "build-tools") == []  # usr/bin/gcc is not a path rule; nothing to say without a database
