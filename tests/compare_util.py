"""Two generated builds of one app for the comparison tests: a shared base layer with a tiny
dpkg, then installs, an `apt-get update` cleaned up later, and the app's files."""

from __future__ import annotations

from pathlib import Path

from slimview import session
from slimview.findings import Analysis
from slimview.index import IndexOptions, build_index
from slimview.sample.builder import ImageSpec, Layer, write_docker_archive

from findings_util import Pkg, base, install, noise, run, status_file, step
from saved_archive import SavedArchive

LIBC = Pkg("libc6", {"usr/lib/x86_64-linux-gnu/libc.so.6": 50_000}, priority="required")


def base_layer() -> Layer:
    layer = base(("etc/os-release", b"ID=debian\n"), ("usr/bin/sh", noise("sh", 10_000)))
    install(layer, LIBC)
    return layer.file("var/lib/dpkg/status", status_file(LIBC))


def before_layers() -> list[Layer]:
    packages = [Pkg("curl", {"usr/bin/curl": 20_000}, version="7.0-1"), Pkg("wget", {"usr/bin/wget": 8_000}),
                Pkg("zlib1g", {"usr/lib/libz.so.1": 3_000}, version="1:1.3-1")]
    apt = run("apt-get install -y curl wget")
    install(apt, *packages)
    apt.file("var/lib/dpkg/status", status_file(LIBC, *packages))
    app = step("COPY app /app").file("app/main.py", noise("main1", 1_000)).file("app/data.bin", noise("data", 5_000))
    return [base_layer(), apt, app]


def after_layers() -> list[Layer]:
    packages = [Pkg("curl", {"usr/bin/curl": 25_000}, version="7.1-1"), Pkg("zlib1g", {"usr/lib/libz.so.1": 2_500}, version="1:1.2-1"),
                Pkg("gcc-12", {"usr/lib/gcc/x86_64-linux-gnu/12/cc1": 300_000, "usr/bin/gcc-12": 100_000}, version="12.2.0-14")]
    apt = run("apt-get install -y curl gcc-12")
    install(apt, *packages)
    apt.file("var/lib/dpkg/status", status_file(LIBC, *packages))
    update = run("apt-get update").file("var/lib/apt/lists/deb_Packages", noise("lists", 150_000))
    app = step("COPY app /app").file("app/main.py", noise("main2", 1_200)).file("app/new.txt", noise("new", 700))
    cleanup = run("rm -rf /var/lib/apt/lists/*").whiteout("var/lib/apt/lists/deb_Packages")
    return [base_layer(), apt, update, app, cleanup]


def archive(path: Path, layers: list[Layer], tag: str = "app:1", **spec) -> Path:
    write_docker_archive(ImageSpec(layers=layers, **spec), str(path), [tag])
    return path


def analysis_of(path: Path) -> Analysis:
    return session.analyse(build_index(str(path), IndexOptions(use_cache=False)))


def stored(path: Path) -> int:
    """Bytes of every regular file in every layer of the archive (tarfile's count)."""
    return SavedArchive(path).stored_and_visible()[0]


def stored_layer(path: Path, k: int) -> int:
    return sum(m.size for m in SavedArchive(path).layers[k].values() if m.isfile())
