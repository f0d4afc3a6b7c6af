"""The Dockerfile model, string in, string out: history lines in every builder's dialect as
people see them and as findings read them, a RUN's script cut into commands, the user's
Dockerfile cut into stages. One line reads the same in the layer table, in a finding's
title and in the reconstruction."""

from __future__ import annotations

import pytest

from slimview.dockerfile.history import copies_context, parse_history_line, quoted, recorded_instruction, short_instruction
from slimview.dockerfile.instruction import Instruction, render_instructions, split_run_flags
from slimview.dockerfile.shell import APK_DEL, APT_INSTALL, PIP_INSTALL, classify, has_flag, package_arguments, simple_commands
from slimview.dockerfile.stages import parse_dockerfile
from slimview.sample.builder import Layer

from findings_util import findings_of, noise, of_kind

# What the brief of issue 11 quotes; no builder writes it (BuildKit drops a RUN's flags,
# see tests/test_reconstruct_engine.py), but a line that has the flags keeps them.
BUILDKIT_MOUNT = "RUN --mount=type=cache,target=/root/.cache/pip /bin/sh -c pip install -r requirements.txt # buildkit"
# buildah and podman record the Dockerfile's own text after the shell, flags included
# (as buildah 1.28 wrote it for a real build, less the build args).
BUILDAH_MOUNT = "/bin/sh -c --mount=type=cache,target=/root/.cache/pip pip install -r requirements.txt"
MOUNTED = "RUN --mount=type=cache,target=/root/.cache/pip pip install -r requirements.txt"


@pytest.mark.parametrize(
    "created_by, shown",
    [
        ("RUN /bin/sh -c apt-get update # buildkit", "RUN apt-get update"),
        ('RUN |2 VERSION=1.0 OTHER= /bin/sh -c echo "$VERSION" > /version # buildkit', 'RUN echo "$VERSION" > /version'),
        ("RUN |1 VERSION=1.0 echo plain exec # buildkit", "RUN echo plain exec"),
        (BUILDKIT_MOUNT, MOUNTED),
        (BUILDAH_MOUNT, MOUNTED),
        ("|1 VERSION=1.0 /bin/sh -c --mount=type=bind,source=requirements.txt,target=/tmp/r.txt cat /tmp/r.txt > /r",
         "RUN --mount=type=bind,source=requirements.txt,target=/tmp/r.txt cat /tmp/r.txt > /r"),
        ('|1 VERSION=1.0 /bin/sh -c ["echo", "exec form"]', 'RUN ["echo", "exec form"]'),  # buildah's exec form
        ("COPY --chown=app:app src/ /app/src/ # buildkit", "COPY --chown=app:app src/ /app/src/"),
        ("WORKDIR /app", "WORKDIR /app"),
        ("EXPOSE map[8000/tcp:{}]", "EXPOSE map[8000/tcp:{}]"),  # values as recorded
        ("/bin/sh -c apt-get update", "RUN apt-get update"),
        ('|1 MSG=two words /bin/sh -c echo "$MSG"', 'RUN echo "$MSG"'),
        ("/bin/bash -o pipefail -c apt-get install -y gcc", "RUN apt-get install -y gcc"),
        ("|1 MSG=a b /bin/bash -o pipefail -c apt-get install -y gcc", "RUN apt-get install -y gcc"),
        ("/bin/sh -c #(nop)  ENV APP_HOME=/app", "ENV APP_HOME=/app"),
        ('/bin/sh -eu -c #(nop)  CMD ["x"]', 'CMD ["x"]'),
        ("/bin/sh -c #(nop) ADD file:0123 in / ", "ADD file:0123 in /"),
        ('/bin/sh -c #(nop) CMD ["python3", "-m", "http.server"]', 'CMD ["python3", "-m", "http.server"]'),
        ("/bin/sh -c apt-get update\napt-get install -y curl", "RUN apt-get update apt-get install -y curl"),
        ("echo exec form", "echo exec form"),  # a classic exec-form RUN, or a tool's note: shown as it stands
        ("jib-maven-plugin:3.3.1", "jib-maven-plugin:3.3.1"),
        ("", ""),
    ],
)
def test_short_instruction(created_by, shown):
    assert short_instruction(created_by) == shown


def test_quoted_for_titles():
    assert quoted("RUN /bin/sh -c apt-get update # buildkit") == "`RUN apt-get update`"
    assert quoted(BUILDKIT_MOUNT) == quoted(BUILDAH_MOUNT) == "`RUN --mount=type=cache,target=/root/.cache/pip pip install -r require…`"
    assert quoted(BUILDKIT_MOUNT, limit=200) == f"`{MOUNTED}`"
    assert quoted("RUN /bin/sh -c echo  a\n  b # buildkit") == "`RUN echo a b`"
    assert quoted("") == "`(no history)`"


def test_recorded_instruction_keeps_flags_apart_from_the_script():
    assert recorded_instruction(BUILDKIT_MOUNT) == recorded_instruction(BUILDAH_MOUNT) == Instruction(
        "RUN", "pip install -r requirements.txt", flags=("--mount=type=cache,target=/root/.cache/pip",)
    )
    assert recorded_instruction("/bin/sh -c #(nop) COPY dir:4f0c in /app ") == Instruction("COPY", "dir:4f0c in /app")
    assert recorded_instruction("Imported from -") == Instruction("", "Imported from -")
    assert recorded_instruction("   ") == Instruction("", "")


@pytest.mark.parametrize(
    "created_by, reads_context",
    [
        ("COPY . . # buildkit", True),
        ("/bin/sh -c #(nop) COPY dir:4f0c in /app ", True),
        ("COPY --from=builder /opt/venv /opt/venv # buildkit", False),
        ("COPY /opt/venv /opt/venv # buildkit", False),  # BuildKit's record of a COPY --from
        ("ADD https://example.invalid/a.tgz /opt/ # buildkit", False),
        ("/bin/sh -c #(nop) ADD file:0123 in / ", False),  # a base image's root filesystem
        ("RUN /bin/sh -c cp -r . /app # buildkit", False),
    ],
)
def test_copies_context(created_by, reads_context):
    assert copies_context(recorded_instruction(created_by)) is reads_context


def test_reconstruction_of_a_mounted_run_is_a_shell_form_run_with_its_flags():
    for line in (BUILDKIT_MOUNT, BUILDAH_MOUNT):
        instruction = parse_history_line(line)
        assert instruction.render() == MOUNTED
        assert not instruction.exec_form
    assert parse_history_line('|1 VERSION=1.0 /bin/sh -c ["echo", "exec form"]').render() == 'RUN ["echo", "exec form"]'
    exec_form = parse_history_line("RUN --network=none echo a b # buildkit")
    assert exec_form.render() == (
        "# exec form: the history joins its arguments with spaces, so their boundaries are a guess\n"
        'RUN --network=none ["echo", "a", "b"]'
    )


def test_a_finding_title_quotes_the_mounted_run_as_the_layer_table_shows_it(tmp_path):
    layer = Layer(BUILDKIT_MOUNT, comment="buildkit.dockerfile.v0")
    layer.file("root/.cache/pip/http-v2/a/b/c/d/e/0123", noise("pip", 120_000))
    (cache,) = of_kind(findings_of(tmp_path, [layer]), "package-cache")
    assert cache.instruction == BUILDKIT_MOUNT
    assert quoted(BUILDKIT_MOUNT) in cache.title
    assert short_instruction(cache.instruction) == MOUNTED


def test_instruction_text_and_render():
    run = Instruction("RUN", "pip install x", ["cached"], 3, ("--mount=type=cache,target=/c", "--network=host"))
    assert run.text == "RUN --mount=type=cache,target=/c --network=host pip install x"
    assert render_instructions([run, Instruction("", "", ["only a note", ""]), Instruction("USER", "app")]) == (
        "# cached\nRUN --mount=type=cache,target=/c --network=host pip install x\n# only a note\n#\nUSER app\n"
    )
    assert Instruction("RUN", '["echo", "a"]').exec_form


@pytest.mark.parametrize(
    "text, flags, rest",
    [
        ("--mount=type=cache,target=/c pip install x", ("--mount=type=cache,target=/c",), "pip install x"),
        ("--mount=type=bind,source=a,target=/a   --network=none\tmake", ("--mount=type=bind,source=a,target=/a", "--network=none"), "make"),
        ("pip install --no-cache-dir x", (), "pip install --no-cache-dir x"),
        ('--security=insecure ["echo", "a"]', ("--security=insecure",), '["echo", "a"]'),
    ],
)
def test_split_run_flags(text, flags, rest):
    assert split_run_flags(text) == (flags, rest)


def test_simple_commands_cut_at_every_operator_and_line():
    assert simple_commands("apt-get update && apt-get install -y curl | tee log || true; echo 'a && b'\nls &") == [
        ["apt-get", "update"], ["apt-get", "install", "-y", "curl"], ["tee", "log"], ["true"], ["echo", "a && b"], ["ls"],
    ]
    assert simple_commands("echo 'unbalanced && x") == [["echo", "'unbalanced"], ["x"]]


@pytest.mark.parametrize(
    "text, kind, packages",
    [
        ("apk del .build-deps gcc", APK_DEL, [".build-deps", "gcc"]),
        ("env DEBIAN_FRONTEND=noninteractive apt-get install -y curl", APT_INSTALL, ["curl"]),
        ("apt-get -o Dpkg::Options::=--force-confold install -y curl", APT_INSTALL, ["curl"]),
        ("apt-get install -y curl || true", APT_INSTALL, ["curl"]),
    ],
)
def test_classify_reads_the_first_simple_command_with_one_option_list(text, kind, packages):
    command = classify(text)
    assert (command.kind, command.packages) == (kind, packages)


def test_classify_pip_stops_at_the_operator():
    command = classify("pip install -r requirements.txt || true")
    assert (command.kind, command.pip_args) == (PIP_INSTALL, ["-r", "requirements.txt"])


def test_package_arguments_and_flags_of_a_run():
    apt = ("apt-get", "apt", "aptitude")
    purge = recorded_instruction(
        "RUN /bin/sh -c apt-get install -y gcc=4:12.2.0-3 make $EXTRA && sudo apt-get purge -y gcc "
        "&& DEBIAN_FRONTEND=noninteractive apt-get -o APT::X=1 remove make # buildkit"
    )
    assert package_arguments(purge, apt, ("install", "add")) == ["gcc", "make"]
    assert package_arguments(purge, apt, ("purge", "remove")) == ["gcc", "make"]
    assert not has_flag(purge, "--auto-remove", "--autoremove", "autoremove")
    assert has_flag(recorded_instruction("/bin/sh -c apt-get purge --auto-remove -y gcc"), "--auto-remove")
    mounted = recorded_instruction("/bin/sh -c --mount=type=cache,target=/var/cache/apt apt-get install -y gcc")
    assert package_arguments(mounted, apt, ("install",)) == ["gcc"]
    assert package_arguments(recorded_instruction("RUN /bin/sh -c apk del .build-deps # buildkit"), ("apk",), ("del",)) == [".build-deps"]
    assert package_arguments(recorded_instruction("COPY apt-get install x # buildkit"), apt, ("install",)) == []


DOCKERFILE = """\
# syntax=docker/dockerfile:1
ARG PY=3.11
FROM --platform=$BUILDPLATFORM python:${PY} AS build
# wheels
RUN --mount=type=cache,target=/root/.cache/pip \\
    pip wheel -w /w -r requirements.txt
# the app
# runs as nobody
FROM python:${PY}-slim
COPY --from=build /w /w
RUN ["echo", "done"]
"""


def test_dockerfile_stages():
    dockerfile = parse_dockerfile(DOCKERFILE, "Dockerfile")
    assert dockerfile.preamble == [Instruction("ARG", "PY=3.11", ["syntax=docker/dockerfile:1"])]
    build, final = dockerfile.stages
    assert (build.base, build.name, build.comments, build.from_line, build.comments_line) == ("python:${PY}", "build", [], 2, 2)
    assert build.instructions == [
        Instruction("RUN", "pip wheel -w /w -r requirements.txt", ["wheels"], flags=("--mount=type=cache,target=/root/.cache/pip",))
    ]
    assert (final.base, final.name, final.comments, final.from_line, final.comments_line) == (
        "python:${PY}-slim", "", ["the app", "runs as nobody"], 8, 6
    )
    assert [i.text for i in final.instructions] == ["COPY --from=build /w /w", 'RUN ["echo", "done"]']
    assert dockerfile.lines(build.from_line, final.comments_line).startswith("FROM --platform=$BUILDPLATFORM python:${PY} AS build\n# wheels\n")
