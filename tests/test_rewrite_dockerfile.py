"""The multi-stage rewrite, text in, text out: from the bundled mini sample's index (no
engine) and from users' Dockerfiles. Every Dockerfile emitted here passes hadolint."""

from __future__ import annotations

from pathlib import Path

import pytest

from slimview.display import human_bytes
from slimview.findings import analyze
from slimview.index import IndexOptions, build_index
from slimview.rewrite import rewrite_image
from slimview.rewrite.base import find_base
from slimview.rewrite.layers import CopiedEntry
from slimview.rewrite.model import SizeRow
from slimview.rewrite.stacks import stack_for
from slimview.rewrite.target import from_dockerfile
from slimview.rewrite.writer import Facts, Savings, Stored, write
from slimview.sample.mini import write_sample

from rewrite_util import hadolint_issues

MINI_REWRITE = """\
# Dockerfile.slim: written by slimview from the history of python-inference-mini:latest.
# Estimated size 28.0 MB -> 5.2 MB plus python:3.11-slim (not in the local engine, so its size is left out); `slimview verify` builds it and measures.
# Build it with .dockerignore.slim as the build context's .dockerignore (BuildKit also reads it
# as Dockerfile.slim.dockerignore next to this file).

# Builder stage: compilers and headers stay here; only the virtualenv moves on.
FROM python:3.11-slim AS builder
# Build-only packages stay in this stage (fixes build-tools: 1.3 MB).
RUN apt-get update \\
 && apt-get install -y --no-install-recommends build-essential python3-dev git \\
 && apt-get clean \\
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# Dependency manifests first: editing the source no longer re-runs pip.
COPY requirements.txt /app/
# A virtualenv without pip: the runtime stage copies /opt/venv and nothing else from here.
# --no-cache-dir: pip's download cache never reaches a layer (fixes hidden-bytes: 1.6 MB).
RUN python3 -m venv --without-pip /opt/venv \\
 && python3 -m pip --python /opt/venv/bin/python install --no-cache-dir -r requirements.txt

# Runtime stage: python:3.11-slim matches the Python 3.11 the image runs.
# Not gcr.io/distroless/python3-debian12:nonroot: curl would need apt, which it lacks.
FROM python:3.11-slim
# Runtime packages only, with --no-install-recommends; apt's lists and caches are removed in the same layer (fixes hidden-bytes: 2.1 MB, package-cache: 1.5 MB).
# python3-pip, python3-venv: python:3.11-slim provides these.
# A non-root user (uid 10001) runs the program; a numeric USER suits runAsNonRoot.
RUN apt-get update \\
 && apt-get install -y --no-install-recommends curl \\
 && apt-get clean \\
 && rm -rf /var/lib/apt/lists/* \\
 && groupadd --system --gid 10001 app \\
 && useradd --system --no-log-init --uid 10001 --gid app --create-home --home-dir /home/app app
WORKDIR /app
# The virtualenv the builder made; its bin/ first on PATH, so python, pip-installed
# scripts and the program's imports resolve to it exactly as the original's did.
COPY --from=builder /opt/venv /opt/venv
ENV PATH="/opt/venv/bin:$PATH"
# Application files only: .env, .git, Dockerfile, docs, notebooks, tests left out (fixes context-junk: 529.3 kB).
COPY --chown=10001:10001 inference_engine/ /app/inference_engine/
EXPOSE 8000
USER 10001:10001
CMD ["python3", "-m", "uvicorn", "inference_engine.app:app", "--host", "0.0.0.0", "--port", "8000"]
"""

MINI_DOCKERIGNORE = """\
# .dockerignore.slim: written by slimview for Dockerfile.slim; use it as the context's .dockerignore.
# Nothing the Dockerfile copies is excluded.

# Version control, editor and build files.
.git
.hg
.svn
.idea
.vscode
**/.DS_Store
Dockerfile*
*.Dockerfile
.dockerignore
docker-compose*.yml
docker-compose*.yaml
compose*.yml
compose*.yaml
.env
.env.*
!.env.example

# Python caches, virtualenvs and tool output.
**/__pycache__
**/*.py[cod]
.venv
venv
.pytest_cache
.mypy_cache
.ruff_cache
.tox
.nox
.coverage
htmlcov
*.egg-info
**/.ipynb_checkpoints

# Tests, notebooks and docs: not needed to run the program.
tests
test
notebooks
docs
"""


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    path = tmp_path_factory.mktemp("mini") / "mini.tar"
    write_sample(str(path))
    return build_index(str(path), IndexOptions(use_cache=False))


def test_mini_sample_from_the_index_alone(mini):
    base = find_base(mini.source, None)
    rewrite = rewrite_image(mini, base, ())
    assert rewrite.dockerfile == MINI_REWRITE
    assert rewrite.dockerignore == MINI_DOCKERIGNORE
    assert rewrite.sizes == [
        SizeRow("base image", 7_195_585, None),  # python:3.11-slim's size is not known without an engine
        SizeRow("OS packages", 13_771_632, 259_072),  # curl's Installed-Size, 253 KiB
        SizeRow("Python packages", 6_461_156, 4_911_156),  # the pip layer without its 1,550,000-byte cache
        SizeRow("application files", 533_526, 4_200),  # inference_engine/ only
    ]
    assert (rewrite.size_before, rewrite.size_after) == (27_961_899, 5_174_428)
    assert rewrite.base_excluded == "python:3.11-slim"
    assert rewrite.copied_sources == ["requirements.txt", "inference_engine"]
    assert rewrite.smoke == [
        "python3", "-c",
        "import importlib; getattr(importlib.import_module('inference_engine.app'), 'app'); print('import ok: inference_engine.app:app')",
    ]
    assert rewrite.notes == ["the runtime base python:3.11-slim is not in the local engine: the estimate leaves its size out"]
    assert hadolint_issues(rewrite.dockerfile) == []


def test_findings_put_their_bytes_on_the_changes(mini):
    findings = analyze(mini)
    rewrite = rewrite_image(mini, find_base(mini.source, None), findings)
    build_tools = sum(f.bytes for f in findings if f.kind == "build-tools")
    assert build_tools > 0
    lines = rewrite.dockerfile.splitlines()
    assert f"# Build-only packages stay in this stage (fixes build-tools: {human_bytes(build_tools)})." in lines
    assert ("# Application files only: .env, .git, Dockerfile, docs, notebooks, tests left out "
            "(fixes context-junk: 529.3 kB); .env held credentials (fixes secret).") in lines
    assert "# A non-root user (uid 10001) runs the program (fixes config: runs as root); a numeric USER suits runAsNonRoot." in lines
    assert lines[-2] == "# No HEALTHCHECK (config finding): add one that probes the program's health endpoint."
    assert rewrite.dockerignore.splitlines()[3:5] == ["# secret finding: credentials must never be copied into an image.", ".env"]
    assert [c.bytes for c in rewrite.fixes if c.kind == "build-tools"] == [build_tools]
    assert hadolint_issues(rewrite.dockerfile) == []


USER_DOCKERFILE = """\
ARG PYTHON_VERSION=3.12
FROM python:${PYTHON_VERSION}-slim AS assets
RUN echo building assets > /assets.txt

# The service
FROM python:${PYTHON_VERSION}-slim
ENV PYTHONUNBUFFERED=1
WORKDIR /srv
# system deps: the postgres client library (and its headers to build psycopg)
RUN apt-get update && apt-get install -y gcc libpq-dev libpq5 \\
    && rm -rf /var/lib/apt/lists/*
COPY . .
RUN pip install --upgrade pip && pip install -r requirements/prod.txt
RUN chown -R 33:33 /srv
COPY --from=assets /assets.txt /srv/static/assets.txt
USER 33:33
VOLUME /srv/media
EXPOSE 8000
# serve with gunicorn
CMD gunicorn service.wsgi:application --bind 0.0.0.0:8000
"""

USER_REWRITE = """\
ARG PYTHON_VERSION=3.12

FROM python:${PYTHON_VERSION}-slim AS assets
RUN echo building assets > /assets.txt

# Builder stage: compilers and headers stay here; only the virtualenv moves on.
FROM python:3.12-slim AS builder
ENV PYTHONUNBUFFERED=1
# system deps: the postgres client library (and its headers to build psycopg)
# Build-only packages stay in this stage.
RUN apt-get update \\
 && apt-get install -y --no-install-recommends gcc libpq-dev \\
 && apt-get clean \\
 && rm -rf /var/lib/apt/lists/*
WORKDIR /srv
# Dependency manifests first: editing the source no longer re-runs pip.
COPY requirements/prod.txt /srv/requirements/
# A virtualenv without pip: the runtime stage copies /opt/venv and nothing else from here.
# --no-cache-dir: pip's download cache never reaches a layer.
RUN python3 -m venv --without-pip /opt/venv \\
 && python3 -m pip --python /opt/venv/bin/python install --no-cache-dir -r requirements/prod.txt

# The service
# Runtime stage: python:3.12-slim matches the Python 3.12 the image runs.
# Not gcr.io/distroless/python3-debian12:nonroot: libpq5 would need apt, which it lacks; it has Python 3.11, the image runs 3.12.
FROM python:3.12-slim
ENV PYTHONUNBUFFERED=1
# Runtime packages only, with --no-install-recommends; apt's lists and caches are removed in the same layer.
RUN apt-get update \\
 && apt-get install -y --no-install-recommends libpq5 \\
 && apt-get clean \\
 && rm -rf /var/lib/apt/lists/*
WORKDIR /srv
# The virtualenv the builder made; its bin/ first on PATH, so python, pip-installed
# scripts and the program's imports resolve to it exactly as the original's did.
COPY --from=builder /opt/venv /opt/venv
ENV PATH="/opt/venv/bin:$PATH"
# --chown instead of a later `chown -R 33:33 /srv` layer that stored every file again.
# Application files only: .git, tests left out (fixes context-junk: 9.3 kB).
COPY --chown=33:33 manage.py /srv/
COPY --chown=33:33 requirements/ /srv/requirements/
COPY --chown=33:33 service/ /srv/service/
COPY --from=assets /assets.txt /srv/static/assets.txt
USER 33:33
VOLUME /srv/media
EXPOSE 8000
# serve with gunicorn
# Exec form: signals reach the program directly (was `CMD gunicorn service.wsgi:application --bind 0.0.0.0:8000`).
CMD ["gunicorn", "service.wsgi:application", "--bind", "0.0.0.0:8000"]
"""

CONTEXT = [
    CopiedEntry(".git", True, 9_000),
    CopiedEntry("manage.py", False, 700),
    CopiedEntry("requirements", True, 100),
    CopiedEntry("service", True, 5_000),
    CopiedEntry("tests", True, 300),
]


def _facts(python="3.12", base="python:3.12-slim", entries=CONTEXT, **extra) -> Facts:
    return Facts(
        python=python, family=extra.pop("family", "debian"), runtime_base=base,
        base_reason=extra.pop("base_reason", f"{base} matches the Python {python} the image runs."),
        base_has_python=base.startswith("python:"),
        junk=lambda name: name in {".git", "tests"},
        entries=lambda step, layer: entries if step.sources == ["."] else None,
        **extra,
    )


def _write(text: str, facts: Facts):
    source = from_dockerfile(text, "Dockerfile")
    return write(source, facts, stack_for(source, facts.python))


def test_user_dockerfile_keeps_comments_stages_and_intent():
    written = _write(USER_DOCKERFILE, _facts())
    assert written.text == USER_REWRITE
    assert (written.build_packages, written.runtime_packages) == (["gcc", "libpq-dev"], ["libpq5"])
    assert written.copied == [("requirements/prod.txt", False), ("manage.py", False), ("requirements", True), ("service", True)]
    assert written.exec_command == ["gunicorn", "service.wsgi:application", "--bind", "0.0.0.0:8000"]
    assert "chown -R" not in written.text.replace("`chown -R 33:33 /srv`", "")
    assert hadolint_issues(written.text) == []


TEXTBOOK = """\
FROM debian:bookworm
RUN apt-get update && apt-get install -y python3 python3-pip python3-venv gcc
WORKDIR /build
COPY requirements.txt .
RUN pip3 install --break-system-packages --user -r requirements.txt
COPY inference_engine/ inference_engine/
WORKDIR /app
ENTRYPOINT ["/usr/bin/python3", "-m", "inference_engine"]
"""


def test_textbook_failures_do_not_happen():
    """Relative COPY destinations resolve against the WORKDIR they were written under; an
    interpreter named by absolute path gets PYTHONPATH; a base without Python gets one."""
    entries = [CopiedEntry("app.py", False, 10), CopiedEntry("util.py", False, 10)]
    facts = _facts(python="3.11", base="debian:bookworm-slim", entries=entries, base_reason="debian:bookworm-slim, chosen with --base.")
    written = _write(TEXTBOOK, facts)
    runtime = written.text.split("\nFROM debian:bookworm-slim\n", 1)[1]
    assert "COPY --chown=10001:10001 inference_engine/ /build/inference_engine/" in runtime
    assert 'ENV PATH="/opt/venv/bin:$PATH" PYTHONPATH=/opt/venv/lib/python3.11/site-packages' in runtime
    assert "apt-get install -y --no-install-recommends python3 \\" in runtime
    # The builder runs `python3 -m pip`: a base without Python needs pip there too (it used to
    # get python3 and python3-venv only, and the rewrite did not build).
    assert "apt-get install -y --no-install-recommends gcc python3 python3-pip python3-venv \\" in written.text
    assert "COPY requirements.txt /build/\n" in written.text
    assert " && python3 -m pip --python /opt/venv/bin/python install --no-cache-dir -r requirements.txt\n" in written.text
    assert "COPY --chown=10001:10001 requirements.txt" not in runtime  # manifests stay in the builder
    assert "# python3, python3-pip, python3-venv: the virtualenv needs only python3 at run time." in runtime
    assert "--break-system-packages" not in written.text and "--user" not in written.text
    assert written.exec_command == ["/usr/bin/python3", "-m", "inference_engine"]
    assert hadolint_issues(written.text) == []


GENERIC = """\
FROM debian:bookworm-slim
RUN apt-get update
RUN apt-get install -y nginx-light
COPY site/ /var/www/html/
RUN chown -R www-data /var/www/html && rm -rf /var/lib/apt/lists/*
EXPOSE 80
CMD nginx -g 'daemon off;'
"""

GENERIC_REWRITE = """\
# Runtime stage: debian:bookworm-slim, the original base.
FROM debian:bookworm-slim
# Runtime packages only, with --no-install-recommends; apt's lists and caches are removed in the same layer (fixes hidden-bytes: 19.9 MB).
# A non-root user (uid 10001) runs the program; a numeric USER suits runAsNonRoot.
RUN apt-get update \\
 && apt-get install -y --no-install-recommends nginx-light \\
 && apt-get clean \\
 && rm -rf /var/lib/apt/lists/* \\
 && groupadd --system --gid 10001 app \\
 && useradd --system --no-log-init --uid 10001 --gid app --create-home --home-dir /home/app app
# --chown instead of a later `chown -R www-data /var/www/html` layer that stored every file again.
COPY --chown=www-data site/ /var/www/html/
EXPOSE 80
USER 10001:10001
CMD ["/bin/sh", "-c", "nginx -g 'daemon off;'"]
"""


def test_a_stack_without_pip_gets_a_single_cleaned_stage():
    facts = _facts(python=None, base="debian:bookworm-slim", base_reason="debian:bookworm-slim, the original base.",
                   savings=Savings(package_lists=Stored(hidden=19_867_257)))
    written = _write(GENERIC, facts)
    assert written.text == GENERIC_REWRITE
    assert written.venv is None
    assert hadolint_issues(written.text) == []


ALPINE = """\
FROM python:3.12-alpine
RUN apk add --no-cache gcc musl-dev libffi-dev libffi
WORKDIR /app
COPY . .
RUN pip install --no-cache-dir -r requirements.txt
CMD ["python", "main.py"]
"""


def test_alpine_keeps_apk_and_busybox_user_tools():
    entries = [CopiedEntry("main.py", False, 300), CopiedEntry("requirements.txt", False, 20)]
    written = _write(ALPINE, _facts(base="python:3.12-alpine", family="alpine", entries=entries))
    assert "RUN apk add --no-cache gcc musl-dev libffi-dev\n" in written.text
    assert "RUN apk add --no-cache libffi \\\n && addgroup -S -g 10001 app \\\n && adduser -S -D -u 10001 -G app -h /home/app app\n" in written.text
    assert "COPY --chown=10001:10001 main.py /app/\n" in written.text
    assert written.copied == [("requirements.txt", False), ("main.py", False)]
    assert hadolint_issues(written.text) == []


def test_user_dockerfile_path_is_read(tmp_path: Path):
    from slimview.dockerfile.stages import read_dockerfile
    from slimview.errors import InputError

    with pytest.raises(InputError, match="no Dockerfile at"):
        read_dockerfile(str(tmp_path / "missing"))
    with pytest.raises(InputError, match="has no FROM instruction"):
        from_dockerfile("RUN true\n", "Dockerfile")


PSYCOPG = """\
FROM python:3.11-slim
RUN apt-get update && apt-get install -y gcc libpq-dev && rm -rf /var/lib/apt/lists/*
RUN pip install --no-cache-dir psycopg2==2.9.10
CMD ["python", "-c", "import psycopg2"]
"""


def test_a_dev_package_leaves_its_shared_library_in_the_runtime():
    """psycopg2 compiled against libpq-dev's headers needs libpq5 at run time."""
    facts = _facts(python="3.11", base="python:3.11-slim", shared_libraries={"libpq-dev": ["libpq5"]})
    written = _write(PSYCOPG, facts)
    assert (written.build_packages, written.runtime_packages) == (["gcc", "libpq-dev"], ["libpq5"])
    assert (
        "# Run-time libraries of the build's -dev packages: libpq5 (libpq-dev).\n"
        "# A non-root user (uid 10001) runs the program; a numeric USER suits runAsNonRoot.\n"
        "RUN apt-get update \\\n"
        " && apt-get install -y --no-install-recommends libpq5 \\\n"
    ) in written.text
    assert hadolint_issues(written.text) == []


def test_shared_libraries_from_the_dpkg_database():
    from slimview.packages.closure import shared_libraries
    from slimview.packages.dpkg import parse_dpkg_status

    status = b"".join(
        f"Package: {name}\nStatus: install ok installed\nInstalled-Size: 10\nDepends: {deps}\n\n".encode()
        for name, deps in [
            ("libpq-dev", "libpq5 (= 15.8-0+deb12u1), libssl-dev"),
            ("libssl-dev", "libssl3 (= 3.0.15-1~deb12u1)"),
            ("zlib1g-dev", "libc6-dev | libc-dev, zlib1g (= 1:1.2.13)"),
            ("python3.11-dev", "libpython3.11 (= 3.11.2-6), libpython3.11-dev"),
            ("libpq5", "libc6, libssl3"), ("libssl3", "libc6"), ("zlib1g", "libc6"), ("libc6", ""), ("libpython3.11", "libc6"),
        ]
    )
    installed = parse_dpkg_status(status)
    assert installed["libpq-dev"].installed_bytes == 10_240
    got = shared_libraries(["libpq-dev", "libssl-dev", "zlib1g-dev", "python3.11-dev", "gcc"], installed, {"libc6"})
    assert got == {"libpq-dev": ["libpq5"], "libssl-dev": ["libssl3"], "zlib1g-dev": ["zlib1g"]}


@pytest.mark.parametrize(
    "args, workdir, sources, dest",
    [
        (". .", "/app", ["."], "/app/"),
        ("--chown=1:1 src/ lib/", "/srv", ["src/"], "/srv/lib/"),
        ('["a b.txt", "c.txt", "/dst/"]', "/", ["a b.txt", "c.txt"], "/dst/"),
        ("<unknown source: dir:e7a2da247d16…> .", "/app", ["."], "/app/"),
        ("<unknown source: dir:b5b69f08c11c…> ./sub/", "/app", ["sub/"], "/app/sub/"),
        ("<unknown source: file:d8a006482ae0…> /etc/added.txt", "/app", ["added.txt"], "/etc/added.txt"),
        ("<unknown source: file:d8a006482ae0…> /etc/", "/app", ["."], "/etc/"),
        ("--chown=1000:1000 <unknown source: multi:f1fc3e76ac3c…> /opt", "/", ["."], "/opt/"),
    ],
)
def test_copy_destinations_and_guessed_sources(args, workdir, sources, dest):
    from slimview.dockerfile.instruction import Instruction
    from slimview.rewrite.copies import parse_copy

    step = parse_copy(Instruction("COPY", args), workdir)
    assert (step.sources, step.dest) == (sources, dest)
    assert bool(step.unknown) == ("<unknown source" in args)


MOUNTS = """\
FROM python:3.12-slim
RUN apt-get update && apt-get install -y --no-install-recommends libpq5 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements.txt .
RUN --mount=type=secret,id=pipconf,target=/etc/pip.conf pip install -r requirements.txt
COPY . .
RUN --network=none python -m compileall -q /app
CMD ["python", "-m", "app"]
"""


def test_run_flags_stay_with_the_commands_they_were_written_for():
    """A RUN's flags are no part of its script: pip is still found, its secret mount goes with
    it to the builder, and a kept RUN's --network is not merged into another RUN."""
    written = _write(MOUNTS, _facts(entries=[CopiedEntry("app", True, 100)]))
    assert written.venv == "/opt/venv"
    assert (
        "RUN --mount=type=secret,id=pipconf,target=/etc/pip.conf python3 -m venv --without-pip /opt/venv \\\n"
        " && python3 -m pip --python /opt/venv/bin/python install --no-cache-dir -r requirements.txt\n"
    ) in written.text
    runtime = written.text.split("\nFROM python:3.12-slim\n", 1)[1]
    assert "--mount" not in runtime
    assert "\nRUN --network=none python -m compileall -q /app\nUSER 10001:10001\n" in runtime
    assert runtime.count("RUN ") == 2
    assert hadolint_issues(written.text) == []
