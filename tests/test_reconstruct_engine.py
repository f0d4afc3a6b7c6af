"""Reconstruction of real images: a known Dockerfile built by the classic builder and by
BuildKit, read back from the engine, must reconstruct to exactly the expected text."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from slimview.dockerfile.history import quoted, short_instruction
from slimview.index import IndexOptions, build_index
from slimview.rewrite.base import engine_images, find_base
from slimview.rewrite.reconstruct import reconstruct_dockerfile

from engine import build_image

pytestmark = pytest.mark.engine

DOCKERFILE = """\
FROM busybox:latest
ARG VERSION=1.0
LABEL org.example.name="probe app" version=2
ENV APP_HOME=/app PATH=/app/bin:$PATH
WORKDIR /app
COPY a.txt /app/a.txt
COPY sub/ ./sub/
COPY --chown=1000:1000 a.txt sub/b.txt /opt/
ADD a.txt /etc/added.txt
RUN echo "$VERSION" > /version && echo 'quoted "x"' > /quoted
RUN ["/bin/sh", "-c", "echo exec > /exec"]
RUN ["touch", "/plain"]
USER 1000:1000
EXPOSE 8000 9000/udp
VOLUME ["/data"]
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=3s CMD wget -q -O- http://localhost:8000/ || exit 1
SHELL ["/bin/sh", "-eu", "-c"]
RUN echo shell-changed > /tmp/shell
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["echo", "hello world", "it's"]
"""

COMMON_TAIL = """\
RUN echo "$VERSION" > /version && echo 'quoted "x"' > /quoted
RUN echo exec > /exec
# exec form: the history joins its arguments with spaces, so their boundaries are a guess
RUN ["touch", "/plain"]
USER 1000:1000
EXPOSE 8000 9000/udp
VOLUME ["/data"]
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=3s CMD wget -q -O- http://localhost:8000/ || exit 1
SHELL ["/bin/sh", "-eu", "-c"]
RUN echo shell-changed > /tmp/shell
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["echo", "hello world", "it's"]
"""

HEAD = """\
# Reconstructed by slimview from the history of {tag}.
# Base: busybox:latest (its layer matches that local image).
FROM busybox:latest
ARG VERSION=1.0
LABEL org.example.name="probe app" version=2
ENV APP_HOME=/app PATH=/app/bin:$PATH
WORKDIR /app
"""

# The classic builder records COPY and ADD sources only as content hashes.
LEGACY_COPIES = """\
COPY <unknown source: file:d8a006482ae0…> /app/a.txt
COPY <unknown source: dir:b5b69f08c11c…> ./sub/
COPY --chown=1000:1000 <unknown source: multi:f1fc3e76ac3c…> /opt/
ADD <unknown source: file:d8a006482ae0…> /etc/added.txt
"""

# BuildKit keeps the sources but drops COPY's --chown.
BUILDKIT_COPIES = """\
COPY a.txt /app/a.txt
COPY sub/ ./sub/
COPY a.txt sub/b.txt /opt/
ADD a.txt /etc/added.txt
"""


@pytest.fixture(scope="module")
def context(tmp_path_factory) -> Path:
    """The build context, with fixed modes: the classic builder's hashes cover them."""
    root = tmp_path_factory.mktemp("reconstruct-context")
    (root / "sub").mkdir()
    (root / "a.txt").write_text("hi\n")
    (root / "sub" / "b.txt").write_text("x\n")
    for path, mode in ((root, 0o755), (root / "sub", 0o755), (root / "a.txt", 0o644), (root / "sub" / "b.txt", 0o644)):
        os.chmod(path, mode)
    return root


@pytest.mark.parametrize("buildkit, copies", [(False, LEGACY_COPIES), (True, BUILDKIT_COPIES)], ids=["legacy", "buildkit"])
def test_reconstruction_of_a_real_build(engine, image_tag, context, buildkit, copies):
    build_image(engine, context, DOCKERFILE, image_tag, buildkit=buildkit)
    source = build_index(image_tag, IndexOptions(use_cache=False)).source
    text = reconstruct_dockerfile(source, find_base(source, engine_images(source, engine)))
    assert text == HEAD.format(tag=image_tag) + copies + COMMON_TAIL


def test_reconstruction_of_the_sample_matches_its_dockerfile(engine, python_inference):
    """The bloated sample (BuildKit): its Dockerfile comes back, minus blank lines."""
    source = build_index(python_inference, IndexOptions(use_cache=False)).source
    text = reconstruct_dockerfile(source, find_base(source, engine_images(source, engine)))
    expected = [line for line in (Path(__file__).parent.parent / "sample_images/python-inference/Dockerfile").read_text().splitlines() if line]
    assert text.splitlines()[2:] == expected


def test_buildkit_records_no_run_flags(engine, image_tag, context):
    """BuildKit keeps a RUN's --mount out of the history (it records the shell and the
    command): the layer table, a finding's title and the reconstruction all show the command."""
    dockerfile = "FROM busybox:latest\nRUN --mount=type=cache,target=/root/.cache echo cached > /cached\n"
    build_image(engine, context, dockerfile, image_tag, buildkit=True)
    source = build_index(image_tag, IndexOptions(use_cache=False)).source
    created_by = source.history[-1].created_by
    assert created_by == "RUN /bin/sh -c echo cached > /cached # buildkit"
    assert short_instruction(created_by) == "RUN echo cached > /cached"
    assert quoted(created_by) == "`RUN echo cached > /cached`"
    text = reconstruct_dockerfile(source, find_base(source, engine_images(source, engine)))
    assert text.splitlines()[-2:] == ["FROM busybox:latest", "RUN echo cached > /cached"]
