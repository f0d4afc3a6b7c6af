"""Findings on real images built by the engine, each figure checked against a recount made
with Python's tarfile directly over the saved archive."""

import base64
import hashlib

import pytest

from slimview.findings import Analysis, analyze
from slimview.index import IndexOptions, build_index
from slimview.report.jsondoc import render_json
from slimview.report.markdown import render_markdown
from slimview.report.text import render_text

from engine import build_image, save_image
from saved_archive import SavedArchive

pytestmark = pytest.mark.engine

def build_and_analyze(engine, tag, tmp_path, context, dockerfile, buildkit=True):
    build_image(engine, context, dockerfile, tag, buildkit=buildkit)
    archive = save_image(engine, tag, tmp_path / "image.tar")
    index = build_index(str(archive), IndexOptions(use_cache=False))
    return SavedArchive(archive), Analysis(index, analyze(index))


def by_kind(report: Analysis, kind: str):
    return [f for f in report.findings if f.kind == kind]


DEBIAN = """\
FROM debian:bookworm
RUN apt-get update
RUN apt-get install -y --no-install-recommends build-essential && apt-get purge -y build-essential
RUN apt-get install -y --download-only --no-install-recommends zip
RUN mkdir -p /root/.cache/pip/http-v2/a && head -c 1500000 /dev/urandom > /root/.cache/pip/http-v2/a/body
"""


def test_debian_with_apt_lists_archives_compilers_and_a_pip_cache(engine, image_tag, tmp_path):
    saved, report = build_and_analyze(engine, image_tag, tmp_path, {}, DEBIAN)
    update, install, download, pip = (saved.layer_of(s) for s in ("apt-get update", "build-essential", "download-only", "cache/pip"))

    caches = {(f.layer, f.details.to_json()["cache"]): f for f in by_kind(report, "package-cache")}
    assert set(caches) == {(update, "apt_lists"), (download, "apt_archives"), (pip, "pip")}
    lists = {p: s for p, s in saved.files_under(update, "var/lib/apt/lists/").items() if s}
    assert {p.path: p.size for p in caches[(update, "apt_lists")].paths} == lists
    assert caches[(update, "apt_lists")].bytes == sum(lists.values()) > 1_000_000
    debs = {p: s for p, s in saved.files_under(download, "var/cache/apt/archives/").items() if p.endswith(".deb")}
    assert debs and {p.path: p.size for p in caches[(download, "apt_archives")].paths} == debs
    assert caches[(pip, "pip")].bytes == 1_500_000
    assert [p.path for p in caches[(pip, "pip")].paths] == ["root/.cache/pip/http-v2/a/body"]

    (tools,) = by_kind(report, "build-tools")
    assert tools.layer == install
    packages = {p["name"]: p for p in tools.details.to_json()["packages"]}
    assert {"gcc-12", "g++-12", "cpp-12", "make", "libc6-dev", "linux-libc-dev", "dpkg-dev", "binutils"} <= set(packages)
    assert not {"libstdc++6", "libgcc-s1", "gcc-12-base", "libc6", "build-essential"} & set(packages)
    for name, p in packages.items():
        assert p["bytes"] == saved.package_bytes(install, name), name
        assert p["installed_in"] == install
    assert tools.bytes == sum(p["bytes"] for p in packages.values())
    assert packages["gcc-12"]["category"] == "compiler" and packages["libc6-dev"]["category"] == "headers and static libraries"
    (removal,) = tools.details.to_json()["removed_packages"]
    assert removal["removed"] == "build-essential" and {"gcc-12", "make", "dpkg-dev"} <= set(removal["still_installed"])
    assert "removed build-essential but not what it pulled in" in tools.evidence

    text = render_text(report, width=120)
    assert "Apt package lists left in the image by `RUN apt-get update`" in text
    assert "gcc-12" in text and "left behind" in text


def fake_key(seed: str) -> bytes:
    body = base64.encodebytes(hashlib.shake_256(seed.encode()).digest(900))
    return b"-----BEGIN RSA PRIVATE" + b" KEY-----\n" + body + b"-----END RSA PRIVATE" + b" KEY-----\n"


TOKEN = "ghp_" + "Vq3Lm8Zr2Tx6Kb9Wd4Nf7Hj1Pc5Sg0Ya2Uex"
CONTEXT = {
    "main.py": "print('serving')\n",
    ".git/HEAD": "ref: refs/heads/main\n",
    ".git/objects/pack/pack-1.pack": hashlib.shake_256(b"pack").digest(200_000),
    "tests/test_main.py": "def test_main():\n    assert True\n",
    "notebooks/explore.ipynb": '{"cells": []}\n' * 300,
    ".env": f"GITHUB_TOKEN={TOKEN}\nDEBUG=1\n",
    "id_rsa": fake_key("deploy"),
    "Dockerfile": "FROM busybox:latest\n",
}
BUSYBOX = """\
FROM busybox:latest
WORKDIR /app
COPY . .
RUN rm /app/id_rsa
RUN chown -R 1000:1000 /app
RUN mkdir -p /home/app/.cache/pip /tmp/build && dd if=/dev/urandom of=/home/app/.cache/pip/wheel.bin bs=1000 count=700 && dd if=/dev/zero of=/tmp/build/obj.o bs=1000 count=1200
"""


def size(name: str) -> int:
    value = CONTEXT[name]
    return len(value.encode() if isinstance(value, str) else value)


@pytest.mark.parametrize("buildkit", [False, True], ids=["legacy", "buildkit"])
def test_busybox_with_context_junk_secrets_a_chown_copy_and_leftovers(engine, image_tag, tmp_path, buildkit):
    saved, report = build_and_analyze(engine, image_tag, tmp_path, CONTEXT, BUSYBOX, buildkit=buildkit)
    copy, rm, chown, leftovers = (saved.layer_of(s) for s in ("COPY", "rm /app/id_rsa", "chown", "dd if"))

    (junk,) = by_kind(report, "context-junk")
    assert junk.layer == copy and junk.details.to_json()["context_root"] == "/app"
    assert {c["pattern"]: c["bytes"] for c in junk.details.to_json()["candidates"]} == {
        ".git": size(".git/HEAD") + size(".git/objects/pack/pack-1.pack"),
        "notebooks": size("notebooks/explore.ipynb"),
        "tests": size("tests/test_main.py"),
        "Dockerfile": size("Dockerfile"),
        ".env": size(".env"),
    }

    secrets = {(f.layer, f.paths[0].path): f for f in by_kind(report, "secret")}
    assert set(secrets) == {(copy, "app/.env"), (copy, "app/id_rsa"), (chown, "app/.env")}
    assert secrets[(copy, "app/id_rsa")].title == f"Private key in /app/id_rsa (deleted by layer {rm}, still shipped in layer {copy})"
    assert secrets[(copy, "app/.env")].title == f"Env file with credentials in /app/.env (overwritten by layer {chown}, still shipped in layer {copy})"
    assert secrets[(chown, "app/.env")].details.to_json()["matches"][0]["kind"] == "github-token"

    (restored,) = [f for f in by_kind(report, "hidden-bytes") if f.details.to_json()["reason"] == "metadata-only"]
    recopied = {p: s for p, s in saved.files_under(chown, "app/").items()}
    assert restored.layer == chown and restored.details.to_json()["stored_in"] == copy
    assert {p.path: p.size for p in restored.paths} == recopied
    assert restored.bytes == sum(size(n) for n in CONTEXT if n != "id_rsa")
    assert "COPY --chown" in restored.fix

    caches = {f.details.to_json()["cache"]: f for f in by_kind(report, "package-cache")}
    assert {k: (f.layer, f.bytes) for k, f in caches.items()} == {"pip": (leftovers, 700_000), "tmp": (leftovers, 1_200_000)}

    outputs = render_text(report) + render_json(report) + render_markdown(report)
    assert TOKEN not in outputs and TOKEN[4:16] not in outputs


CLEAN = """\
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends libgomp1 && rm -rf /var/lib/apt/lists/*
COPY app.py /app/app.py
USER 10001
EXPOSE 8000
HEALTHCHECK CMD python3 -c "print('ok')"
CMD ["python3", "/app/app.py"]
"""


def test_a_clean_image_has_no_findings(engine, image_tag, tmp_path):
    saved, report = build_and_analyze(engine, image_tag, tmp_path, {"app.py": "import json\nprint(json.dumps({}))\n"}, CLEAN)
    assert report.findings == []
    assert report.avoidable_bytes == 0
    # It does ship what a runtime needs, none of which may be mistaken for waste.
    final = set(report.index.final)
    assert "usr/lib/python3.11/os.py" in final
    assert any(p.startswith("usr/lib/x86_64-linux-gnu/libstdc++.so.6") for p in final)
