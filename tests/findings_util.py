"""Helpers for findings tests: synthetic images in, findings out (no engine needed)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from slimview.findings import Analysis, analyze
from slimview.findings.model import Finding
from slimview.index import IndexOptions, build_index
from slimview.index.model import ImageIndex
from slimview.sample.builder import ImageSpec, Layer, write_docker_archive

BK = " # buildkit"
COMMENT = "buildkit.dockerfile.v0"


def noise(seed: str, size: int) -> bytes:
    """Deterministic incompressible bytes, distinct per seed."""
    return hashlib.shake_256(seed.encode()).digest(size)


def run(command: str) -> Layer:
    """A layer as BuildKit records ``RUN command``."""
    return Layer(f"RUN /bin/sh -c {command}{BK}", comment=COMMENT)


def step(instruction: str) -> Layer:
    """A layer as BuildKit records a non-RUN step (``COPY . .``, ``WORKDIR /app``)."""
    return Layer(instruction + BK if not instruction.startswith("WORKDIR") else instruction, comment=COMMENT)


def base(*files: tuple[str, bytes]) -> Layer:
    layer = Layer("/bin/sh -c #(nop) ADD file:0123456789abcdef in / ")
    for path, data in files:
        layer.file(path, data)
    return layer


def index_of(tmp_path: Path, layers: list[Layer], **spec) -> ImageIndex:
    path = tmp_path / "image.tar"
    write_docker_archive(ImageSpec(layers=layers, **spec), str(path), ["test:latest"])
    return build_index(str(path), IndexOptions(use_cache=False))


def findings_of(tmp_path: Path, layers: list[Layer], **spec) -> list[Finding]:
    return analyze(index_of(tmp_path, layers, **spec))


def report_of(tmp_path: Path, layers: list[Layer], **spec) -> Analysis:
    index = index_of(tmp_path, layers, **spec)
    return Analysis(index, analyze(index))


def of_kind(findings: list[Finding], kind: str) -> list[Finding]:
    return [f for f in findings if f.kind == kind]


def paths_and_sizes(finding: Finding) -> dict[str, int]:
    return {p.path: p.size for p in finding.paths}


# -- a tiny dpkg: packages with files, their .list files and the status database ---------------


@dataclass
class Pkg:
    name: str
    files: dict[str, int] = field(default_factory=dict)
    depends: str = ""
    priority: str = "optional"
    version: str = "1.0-1"


def stanza(p: Pkg, status: str = "install ok installed") -> str:
    text = f"Package: {p.name}\nStatus: {status}\nPriority: {p.priority}\nArchitecture: amd64\nVersion: {p.version}\n"
    if p.depends:
        text += f"Depends: {p.depends}\n"
    return text + "Description: test package\n with a continuation line\n"


def status_file(*pkgs: Pkg) -> bytes:
    return "\n".join(stanza(p) for p in pkgs).encode()


def install(layer, *pkgs: Pkg, listed_as=lambda path: "/" + path):
    """Write each package's files and its dpkg info .list (paths as dpkg lists them)."""
    for p in pkgs:
        for path, size in p.files.items():
            layer.file(path, noise(f"{p.name}:{path}", size))
        listing = ["/.", *(listed_as(path) for path in p.files)]
        layer.file(f"var/lib/dpkg/info/{p.name}.list", ("\n".join(listing) + "\n").encode())
