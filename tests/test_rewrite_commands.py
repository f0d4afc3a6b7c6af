"""What a RUN line does, command by command."""

from __future__ import annotations

import pytest

from slimview.dockerfile import shell as cmd
from slimview.packages.classify import is_build_only, is_python_tooling
from slimview.packages.model import package_name


def test_split_respects_quotes_continuations_and_pipelines():
    script = "apt-get update && apt-get install -y curl \\\n  git; echo 'a && b; c' && curl -s x | sh || true && (cd /x && make)"
    assert cmd.split_commands(script) == [
        "apt-get update",
        "apt-get install -y curl    git",
        "echo 'a && b; c'",
        "curl -s x | sh || true",
        "(cd /x && make)",
    ]


@pytest.mark.parametrize(
    "text, kind, packages",
    [
        ("apt-get update", cmd.APT_UPDATE, []),
        ("apt-get -qq update", cmd.APT_UPDATE, []),
        ("DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends -o Dpkg::Options::=--force-confnew curl=7.88.1-10 git",
         cmd.APT_INSTALL, ["curl=7.88.1-10", "git"]),
        ("apt install -y build-essential", cmd.APT_INSTALL, ["build-essential"]),
        ("apt-get purge -y --auto-remove gcc", cmd.APT_REMOVE, ["gcc"]),
        ("apt-get clean", cmd.APT_CLEANUP, []),
        ("rm -rf /var/lib/apt/lists/*", cmd.APT_CLEANUP, []),
        ("rm -rf /var/lib/apt/lists/* /root/.cache", cmd.APT_CLEANUP, []),
        ("rm -rf /root/.cache/pip", cmd.CACHE_CLEANUP, []),
        ("pip cache purge", cmd.CACHE_CLEANUP, []),
        ("apk add --no-cache --virtual .build gcc musl-dev", cmd.APK_ADD, ["gcc", "musl-dev"]),
        ("useradd -r app", cmd.ADD_USER, []),
        ("rm -rf /app/tests", cmd.OTHER, []),
        ("python manage.py collectstatic --noinput", cmd.OTHER, []),
    ],
)
def test_classify(text, kind, packages):
    command = cmd.classify(text)
    assert (command.kind, command.packages) == (kind, packages)


@pytest.mark.parametrize(
    "text, args, requirements, local",
    [
        ("pip3 install --break-system-packages -r requirements.txt", ["-r", "requirements.txt"], ["requirements.txt"], []),
        ("python3 -m pip install --no-cache-dir --user -r req/prod.txt -c constraints.txt numpy==2.0",
         ["-r", "req/prod.txt", "-c", "constraints.txt", "numpy==2.0"], ["req/prod.txt", "constraints.txt"], []),
        ("/usr/local/bin/pip install -e . gunicorn", ["-e", ".", "gunicorn"], [], ["."]),
        ("pip install ./dist/app-1.0-py3-none-any.whl", ["./dist/app-1.0-py3-none-any.whl"], [], ["./dist/app-1.0-py3-none-any.whl"]),
        ("python3.11 -m pip install --requirement=requirements.txt", ["--requirement=requirements.txt"], ["requirements.txt"], []),
    ],
)
def test_pip_install(text, args, requirements, local):
    command = cmd.classify(text)
    assert (command.kind, command.pip_args, command.requirements, command.local) == (cmd.PIP_INSTALL, args, requirements, local)


def test_pip_tooling_upgrade_and_other_pip_verbs():
    assert cmd.is_pip_tooling_upgrade(cmd.classify("pip install --upgrade pip setuptools wheel"))
    assert not cmd.is_pip_tooling_upgrade(cmd.classify("pip install -U pip numpy"))
    assert cmd.classify("pip download numpy").kind == cmd.OTHER


def test_venv_and_chown():
    assert cmd.classify("python3 -m venv /venv").paths == ["/venv"]
    assert cmd.classify("virtualenv -p python3 .venv").paths == [".venv"]
    chown = cmd.classify("chown -R app:app /app /data")
    assert (chown.kind, chown.owner, chown.paths) == (cmd.CHOWN, "app:app", ["/app", "/data"])
    assert cmd.classify("chown app /app/file").kind == cmd.OTHER  # not recursive: no copy layer to save


@pytest.mark.parametrize(
    "name, build_only",
    [("build-essential", True), ("gcc", True), ("g++-12", True), ("libpq-dev", True), ("python3-dev", True),
     ("git", True), ("linux-headers", True), ("curl", False), ("libpq5", False), ("gcc-12-base", False),
     ("ca-certificates", False), ("libgomp1", False)],
)
def test_build_only_packages(name, build_only):
    assert is_build_only(name) is build_only


def test_python_tooling_and_pins():
    assert [p for p in ("python3", "python3.11", "python3-pip", "python3-venv", "python3-dev", "python3-numpy", "py3-pip")
            if is_python_tooling(p)] == ["python3", "python3.11", "python3-pip", "python3-venv", "py3-pip"]
    assert package_name("curl=7.88.1-10") == "curl"
    assert is_build_only("mytool", {"mytool"})
