"""Fixtures shared by the whole suite. Engine helpers live in tests/engine.py."""

import fcntl
import os
import subprocess
import tempfile
import uuid
from pathlib import Path

import docker
import pytest
from hypothesis import settings

from slimview.sample.mini import write_sample

from engine import EngineClient, EngineUnavailable, connect, save_image
from samples import SAMPLES, SampleBuildError, ensure_sample_image

# Property tests draw fresh examples on a developer's machine (finding new cases); CI
# (.ci/run sets HYPOTHESIS_PROFILE=ci) draws the same ones every run, so a red run is
# the change's fault and reproduces. A case found locally becomes an @example.
settings.register_profile("ci", derandomize=True, database=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


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


SAMPLE_TAG = "python-inference:latest"
SAMPLE_BUILD = Path(__file__).resolve().parent.parent / "sample_images" / "build.sh"


@pytest.fixture(scope="session")
def python_inference(engine: EngineClient) -> str:
    """The bloated sample image's tag; built with sample_images/build.sh when the engine
    lacks it (one xdist worker builds, the others wait on a lock). Never removed."""
    with open(Path(tempfile.gettempdir()) / "slimview-python-inference.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            engine.images.get(SAMPLE_TAG)
        except docker.errors.ImageNotFound:
            proc = subprocess.run(
                ["bash", str(SAMPLE_BUILD)], env={**os.environ, "DOCKER_HOST": engine.docker_host},
                capture_output=True, text=True, timeout=1800, check=False,
            )
            if proc.returncode != 0:
                pytest.fail(f"sample_images/build.sh failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return SAMPLE_TAG


SAMPLE_TAR = Path("/var/lib/slimview-ci/python-inference.tar")


@pytest.fixture(scope="session")
def python_inference_tar(request, tmp_path_factory) -> Path:
    """`docker save` of the bloated sample. CI keeps it beside the engine's data root so
    reruns reuse it; the first worker to need it builds and saves it, the others wait."""
    if SAMPLE_TAR.is_file():
        return SAMPLE_TAR
    engine = request.getfixturevalue("engine")  # skips without an engine, fails in CI
    tag = request.getfixturevalue("python_inference")
    with open(Path(tempfile.gettempdir()) / "slimview-python-inference-tar.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if SAMPLE_TAR.is_file():
            return SAMPLE_TAR
        target = SAMPLE_TAR if os.access(SAMPLE_TAR.parent, os.W_OK) else tmp_path_factory.mktemp("sample") / SAMPLE_TAR.name
        partial = target.with_name(target.name + f".{os.getpid()}.partial")
        save_image(engine, tag, partial)
        os.replace(partial, target)
        return target


# -- sample images (tests/samples.py) ------------------------------------------------------


def _sample_fixture(engine: EngineClient, name: str, *, reference: bool) -> str:
    try:
        return ensure_sample_image(engine, SAMPLES[name], reference=reference)
    except SampleBuildError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def node_service(engine: EngineClient) -> str:
    """node-service:latest, the bloated Node sample; built when the engine lacks it."""
    return _sample_fixture(engine, "node-service", reference=False)


@pytest.fixture(scope="session")
def go_service(engine: EngineClient) -> str:
    """go-service:latest, the bloated Go sample; built when the engine lacks it."""
    return _sample_fixture(engine, "go-service", reference=False)


@pytest.fixture(scope="session")
def python_inference_reference(engine: EngineClient) -> str:
    """python-inference:reference, built from the sample's hand-written Dockerfile.reference."""
    return _sample_fixture(engine, "python-inference", reference=True)


@pytest.fixture(scope="session")
def node_service_reference(engine: EngineClient) -> str:
    """node-service:reference, built from the sample's hand-written Dockerfile.reference."""
    return _sample_fixture(engine, "node-service", reference=True)


@pytest.fixture(scope="session")
def go_service_reference(engine: EngineClient) -> str:
    """go-service:reference, built from the sample's hand-written Dockerfile.reference."""
    return _sample_fixture(engine, "go-service", reference=True)


# -- registries on loopback (tests/registry.py) ---------------------------------------------


def _shared_dir(tmp_path_factory, name: str) -> Path:
    """A directory every xdist worker of this run shares (each worker has its own basetemp)."""
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    path = root / name
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="session")
def http_registry(tmp_path_factory):
    """An anonymous registry over plain HTTP on 127.0.0.1; its storage is shared by the
    workers of this run, so an image pushed by one is there for all."""
    from registry import start_registry

    shared = _shared_dir(tmp_path_factory, "registry-http")
    registry = start_registry(tmp_path_factory.mktemp("registry-http"), shared / "storage")
    yield registry
    registry.stop()


@pytest.fixture(scope="session")
def tls_registry(tmp_path_factory):
    """A registry over TLS (its CA made by the test) with htpasswd basic auth."""
    from registry import make_pki, start_registry

    work = tmp_path_factory.mktemp("registry-tls")
    registry = start_registry(work, work / "storage", pki=make_pki(work / "pki"), users={"slim": uuid.uuid4().hex})
    yield registry
    registry.stop()


@pytest.fixture(scope="session")
def python_inference_in_registry(http_registry, python_inference_tar, tmp_path_factory) -> str:
    """The sample's save pushed (once per run, by skopeo) to ``http_registry`` as python-inference:latest."""
    from registry import skopeo_copy

    shared = _shared_dir(tmp_path_factory, "registry-http")
    with open(shared / "python-inference.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        marker = shared / "python-inference.pushed"
        if not marker.exists():
            skopeo_copy(f"docker-archive:{python_inference_tar}", http_registry, "python-inference:latest")
            marker.touch()
    return "python-inference:latest"


@pytest.fixture
def private_cache(tmp_path, monkeypatch):
    """An empty index cache for this test (the explorer tests use it as their module mark)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture(scope="session")
def sample(tmp_path_factory) -> str:
    """The bundled mini sample (no engine needed), written once per test process."""
    path = tmp_path_factory.mktemp("sample") / "python-inference-mini.tar"
    write_sample(str(path))
    return str(path)
