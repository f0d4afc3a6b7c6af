"""Fixtures shared by the whole suite. Engine helpers live in tests/engine.py."""

import os
import uuid

import docker
import pytest

from engine import EngineClient, EngineUnavailable, connect


@pytest.fixture(scope="session")
def engine() -> EngineClient:
    """A client for a real Docker engine; skips without one, fails when CI requires one."""
    try:
        return connect()
    except EngineUnavailable as exc:
        if os.environ.get("SLIMVIEW_REQUIRE_ENGINE") == "1":
            pytest.fail(f"{exc} (SLIMVIEW_REQUIRE_ENGINE=1)", pytrace=False)
        pytest.skip(f"{exc}: start one with `bash .ci/engine.sh start`")


@pytest.fixture
def image_tag(engine: EngineClient):
    """A tag no other test (or xdist worker) uses; the image is removed afterwards."""
    tag = f"slimview-test-{uuid.uuid4().hex[:12]}:latest"
    yield tag
    try:
        engine.images.remove(tag, force=True)
    except docker.errors.ImageNotFound:
        pass
