"""The rewrite's honesty, without an engine: USER after the steps that need root, the size
estimate with the real runtime base (or saying it is left out), fix labels that are the
report's finding kinds, no rewrite when it would not build or would change what the image
runs, verify's judgement of the built rewrite, --deep's trims and the distroless check.

Regression tests for issue 14's bugs are named test_regression_*."""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from slimview.dockerfile.instruction import Instruction
from slimview.findings import Finding, FindingKind, Severity, analyze
from slimview.findings.details import CacheDetails, NoHealthcheckDetails, RootUserDetails
from slimview.findings.model import FindingPath
from slimview.index import IndexOptions, build_index
from slimview.packages.model import Manager, PackageDatabase
from slimview.rewrite import NoRewrite, rewrite_image
from slimview.rewrite.base import LocalImage, find_base
from slimview.rewrite.checks import check
from slimview.rewrite.deep import SHARED_LIBRARIES, TESTS, measure, rule_of
from slimview.rewrite.estimate import pip_layers
from slimview.rewrite.model import Change, Fix, SizeRow
from slimview.rewrite.stacks import stack_for
from slimview.rewrite.target import from_dockerfile, from_image
from slimview.rewrite.user import place_user
from slimview.rewrite.writer import Facts, OriginalCommand, write
from slimview.sample.mini import write_sample
from slimview.verify import judge

from findings_util import base, index_of, noise, run, step
from rewrite_util import hadolint_issues


@pytest.fixture(scope="module")
def mini_tar(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("mini") / "mini.tar"
    write_sample(str(path))
    return path


@pytest.fixture(scope="module")
def mini(mini_tar):
    return build_index(str(mini_tar), IndexOptions(use_cache=False))


def _write(text: str, facts: Facts):
    source = from_dockerfile(text, "Dockerfile")
    return write(source, facts, stack_for(source, facts.python))


def _facts(python: str | None = None, runtime_base: str = "debian:bookworm-slim", **extra) -> Facts:
    return Facts(python=python, family="debian", runtime_base=runtime_base, base_reason=f"{runtime_base}.",
                 base_has_python=runtime_base.startswith("python:"), **extra)


# -- USER after the last step that needs root ----------------------------------------------------


def _busybox_like(tmp_path: Path):
    """dive's test image, in short: busybox's own CMD ["sh"] in the history before the RUNs;
    read without an engine, so nothing says where busybox's steps end."""
    rootfs = base(("bin/busybox", noise("busybox", 1000)))
    rootfs.symlink("bin/sh", "busybox")
    layers = [
        rootfs,
        step("ADD README.md /somefile.txt").file("somefile.txt", b"readme\n"),
        run("mkdir -p /root/example/really/nested").dir("root/example/really/nested"),
        run("cp /somefile.txt /root/example/somefile1.txt").file("root/example/somefile1.txt", b"readme\n"),
        run("chmod 421 /root").dir("root", mode=0o421),
    ]
    return index_of(tmp_path, layers, cmd=["sh"], empty_history={1: ['/bin/sh -c #(nop)  CMD ["sh"]']})


BUSYBOX_LIKE_REWRITE = """\
# Runtime stage: debian:bookworm-slim, since the original base is unknown.
FROM debian:bookworm-slim
CMD ["sh"]
# A non-root user (uid 10001) runs the program; a numeric USER suits runAsNonRoot.
RUN groupadd --system --gid 10001 app \\
 && useradd --system --no-log-init --uid 10001 --gid app --create-home --home-dir /home/app app
COPY --chown=10001:10001 README.md /somefile.txt
RUN mkdir -p /root/example/really/nested \\
 && cp /somefile.txt /root/example/somefile1.txt \\
 && chmod 421 /root
USER 10001:10001
"""


def test_regression_user_comes_after_the_root_steps_when_cmd_comes_from_the_base(tmp_path):
    """The base's CMD ["sh"] comes first in the history: USER used to be written right before
    it, so `groupadd` and every RUN after it ran as uid 10001 and the rewrite did not build."""
    index = _busybox_like(tmp_path)
    rewrite = rewrite_image(index, find_base(index.source, None), ())
    assert rewrite.dockerfile.split("\n\n", 1)[1] == BUSYBOX_LIKE_REWRITE
    assert hadolint_issues(rewrite.dockerfile) == []


SAMPLE_WITHOUT_CMD = """\
FROM debian:bookworm
RUN apt-get update
RUN apt-get install -y build-essential python3-dev python3-pip python3-venv git curl
WORKDIR /app
COPY . .
RUN pip3 install --break-system-packages -r requirements.txt
RUN rm -rf /var/lib/apt/lists/* /root/.cache
EXPOSE 8000
"""


def test_regression_the_sample_without_its_cmd_keeps_the_command_it_inherited():
    """CMD ["bash"] came from debian:bookworm; python:3.11-slim would run python3 instead. The
    rewrite writes the original's command out, with USER before it and after every RUN."""
    facts = _facts("3.11", "python:3.11-slim", inherited=OriginalCommand([], ["bash"]), original_base="debian:bookworm")
    written = _write(SAMPLE_WITHOUT_CMD, facts)
    runtime = written.text.split("\nFROM python:3.11-slim\n", 1)[1]
    assert runtime.endswith(
        "EXPOSE 8000\n"
        "USER 10001:10001\n"
        "# The original's command came from its base image (debian:bookworm); python:3.11-slim has its own.\n"
        'CMD ["bash"]\n'
    )
    assert runtime.index("useradd") < runtime.index("USER 10001:10001")
    assert written.exec_command == ["bash"]
    assert hadolint_issues(written.text) == []


@pytest.mark.parametrize(
    "keywords, expected",
    [
        (["CMD", "RUN"], ["CMD", "RUN", "USER"]),
        (["RUN", "EXPOSE", "CMD"], ["RUN", "EXPOSE", "USER", "CMD"]),
        (["RUN", "ENTRYPOINT", "CMD"], ["RUN", "USER", "ENTRYPOINT", "CMD"]),
        (["RUN", "CMD", "USER"], ["RUN", "CMD", "USER", "USER"]),  # after the original's own `USER root`
        (["COPY", "CMD"], ["COPY", "USER", "CMD"]),
        ([], ["USER"]),
    ],
)
def test_user_goes_after_the_last_run_or_user_and_before_the_command(keywords, expected):
    placed = place_user([Instruction(k, "x") for k in keywords], Instruction("USER", "10001:10001"))
    assert [i.keyword for i in placed] == expected
    assert placed[expected.index("USER", len(keywords) - 1 if keywords[-1:] == ["USER"] else 0)].args in ("10001:10001", "x")


def test_an_explicit_user_root_is_followed_by_the_new_user():
    written = _write("FROM debian:bookworm-slim\nCOPY app.sh /app.sh\nUSER root\nCMD [\"/app.sh\"]\n", _facts())
    assert written.text.endswith('USER root\nUSER 10001:10001\nCMD ["/app.sh"]\n')


def test_busybox_makes_its_user_with_its_own_applets(tmp_path):
    rootfs = base(("bin/busybox", noise("busybox", 1000)))
    rootfs.symlink("bin/adduser", "busybox")
    rootfs.symlink("bin/addgroup", "busybox")
    index = index_of(tmp_path, [rootfs, run("touch /marker").file("marker", b"")], cmd=["sh"])
    images = [LocalImage("sha256:" + "1" * 64, ("busybox:latest",), (index.source.layers[0].diff_id,), ("ADD rootfs",))]
    rewrite = rewrite_image(index, find_base(index.source, images), (), local_images=images)
    assert "RUN addgroup -S -g 10001 app \\\n && adduser -S -D -u 10001 -G app -h /home/app app \\\n && touch /marker\n" in rewrite.dockerfile


# -- the estimate's runtime base ---------------------------------------------------------------------


def test_regression_the_estimate_uses_the_runtime_bases_real_size(mini):
    """python:3.11-slim in the engine: its size, not the original base's 7.2 MB."""
    images = [LocalImage("sha256:" + "2" * 64, ("python:3.11-slim",), ("sha256:" + "3" * 64,), size=192_800_000)]
    rewrite = rewrite_image(mini, find_base(mini.source, images), (), local_images=images)
    assert rewrite.sizes[0] == SizeRow("base image", 7_195_585, 192_800_000)
    assert (rewrite.size_before, rewrite.size_after) == (27_961_899, 192_800_000 + 5_174_428)
    assert rewrite.base_excluded == ""
    assert "# Estimated size 28.0 MB -> 198.0 MB (708 % of the original);" in rewrite.dockerfile
    assert not any("local engine" in note for note in rewrite.notes)


def test_regression_a_base_the_engine_lacks_is_left_out_and_said(mini):
    rewrite = rewrite_image(mini, find_base(mini.source, None), ())
    assert rewrite.sizes[0] == SizeRow("base image", 7_195_585, None)
    assert rewrite.size_after == sum(row.after for row in rewrite.sizes[1:])
    assert rewrite.base_excluded == "python:3.11-slim"
    assert "plus python:3.11-slim (not in the local engine, so its size is left out)" in rewrite.dockerfile.splitlines()[1]
    assert "% of the original" not in rewrite.dockerfile.splitlines()[1]


def test_the_same_base_weighs_what_the_original_base_weighs(tmp_path):
    rootfs = base(("etc/os-release", b"ID=debian\n"), ("bin/sh", noise("sh", 5000)))
    index = index_of(tmp_path, [rootfs, run("echo hi > /hi").file("hi", b"hi\n")], cmd=["sh"])
    images = [LocalImage("sha256:" + "4" * 64, ("debian:bookworm",), (index.source.layers[0].diff_id,), ("ADD rootfs",))]
    rewrite = rewrite_image(index, find_base(index.source, images), (), local_images=images)
    assert rewrite.runtime_base == "debian:bookworm"
    assert rewrite.sizes[0] == SizeRow("base image", index.layers[0].stats.size, index.layers[0].stats.size)


# -- fix labels are the report's kinds ------------------------------------------------------------


def test_regression_every_fix_is_named_and_counted_as_the_report_does(mini):
    """The mini sample's pip cache was deleted by a later layer: the report calls it hidden
    bytes, and so must the rewrite (it said package-cache)."""
    findings = analyze(mini)
    rewrite = rewrite_image(mini, find_base(mini.source, None), findings)
    claimed = {(fix.kind, fix.bytes) for fix in rewrite.fixes if isinstance(fix.kind, FindingKind) and fix.bytes}
    reported = {(f.kind, f.bytes) for f in findings}
    assert claimed <= reported, claimed - reported
    pip = next(fix for fix in rewrite.fixes if "pip" in fix.summary and fix.bytes)
    assert (pip.kind, pip.bytes) == (FindingKind.HIDDEN_BYTES, 1_550_000)
    assert "# --no-cache-dir: pip's download cache never reaches a layer (fixes hidden-bytes: 1.6 MB)." in rewrite.dockerfile
    assert all(isinstance(fix.kind, (FindingKind, Change)) for fix in rewrite.fixes)


# -- no rewrite when it would not build or would change what the image runs ----------------------------


def test_a_distroless_base_cannot_install_packages(mini):
    with pytest.raises(NoRewrite, match=r"^it would not build: gcr.io/distroless/python3-debian12 has no package manager to install curl$"):
        rewrite_image(mini, find_base(mini.source, None), (), base="gcr.io/distroless/python3-debian12")


def test_an_alpine_base_cannot_install_debian_packages(mini):
    with pytest.raises(NoRewrite, match=r"^it would not build: python:3.11-alpine has apk, and the image's packages are dpkg packages$"):
        rewrite_image(mini, find_base(mini.source, None), (), base="python:3.11-alpine")


MAKE_AFTER_PIP = """\
FROM python:3.11-slim
RUN apt-get update && apt-get install -y build-essential
COPY . /app
RUN pip install -r /app/requirements.txt
RUN make -C /app assets
CMD ["python", "-m", "app"]
"""


def test_a_kept_step_that_needs_a_build_tool_is_not_rewritten():
    facts = _facts("3.11", "python:3.11-slim", build_packages={"build-essential", "make"})
    written = _write(MAKE_AFTER_PIP, facts)
    assert written.build_packages == ["build-essential"]
    db = PackageDatabase(Manager.DPKG, {}, {"usr/bin/make": "make"})
    with pytest.raises(NoRewrite, match=r"^it would not build: `make -C /app assets` runs make from make, which the rewrite moves to the builder stage$"):
        check(written, facts, db)


def test_an_entrypoint_inherited_from_a_replaced_base_is_not_rewritten():
    facts = _facts("3.11", "python:3.11-slim", inherited=OriginalCommand(["docker-entrypoint.sh"], ["python3", "app.py"]), original_base="node:18-bookworm")
    written = _write("FROM node:18-bookworm\nCOPY app.py /app/\nRUN pip install six\n", facts)
    with pytest.raises(NoRewrite, match=r'^it would change what the image runs: its ENTRYPOINT \["docker-entrypoint.sh"\] comes from node:18-bookworm'):
        check(written, facts, None)


def test_no_rewrite_is_one_line_exit_1_and_no_file(tmp_path: Path, mini_tar: Path):
    out = tmp_path / "out"
    out.mkdir()
    env = {"DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock", "XDG_CACHE_HOME": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-m", "slimview", "rewrite", str(mini_tar), "-o", str(out), "--base", "gcr.io/distroless/python3-debian12"],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )
    assert (proc.returncode, proc.stdout) == (1, "")
    assert proc.stderr == "slimview: no rewrite: it would not build: gcr.io/distroless/python3-debian12 has no package manager to install curl\n"
    assert list(out.iterdir()) == []


def test_the_explorer_shows_why_there_is_no_rewrite(mini_tar: Path):
    import asyncio

    from slimview import session
    from slimview.ui.app import make_app
    from slimview.ui.screens.export import ExportScreen

    from uihelpers import settle

    def refused(analysis):
        return session.rewrite(analysis, base="gcr.io/distroless/python3-debian12").rewrite

    async def scenario():
        app = make_app(str(mini_tar), IndexOptions(use_cache=False), rewriter=refused)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await pilot.press("x")
            await settle(pilot)
            assert isinstance(app.screen, ExportScreen)
            shown = str(app.screen.query_one("#export-estimate").render())
            assert shown == "No rewrite: it would not build: gcr.io/distroless/python3-debian12 has no package manager to install curl"
            assert app.screen.query_one("#export-save-button").disabled

    asyncio.run(scenario())


# -- verify's judgement of the built rewrite -----------------------------------------------------------


def _finding(kind: FindingKind, size: int = 0, layer: int | None = 3, details=None, title: str = "t") -> Finding:
    paths = [FindingPath("p", size, layer)] if layer is not None else []
    return Finding(kind, title, Severity.LOW, size, layer, "RUN x", paths, details=details)


def test_judge_fails_what_the_rewrite_claims_to_fix_and_what_it_introduced():
    apt = CacheDetails("apt_archives", "apt package archives", ["/var/cache/apt"])
    original = [_finding(FindingKind.BUILD_TOOLS, 9), _finding(FindingKind.CONFIG, layer=None, details=RootUserDetails("")),
                _finding(FindingKind.CONFIG, layer=None, details=NoHealthcheckDetails()),
                _finding(FindingKind.DUPLICATES, 5)]
    fixes = [Fix(FindingKind.BUILD_TOOLS, "builder", 9), Fix(FindingKind.CONFIG, "uid 10001"), Fix(Change.PYTHON, "venv")]
    clean = [_finding(FindingKind.CONFIG, layer=None, details=NoHealthcheckDetails()), _finding(FindingKind.DUPLICATES, 4)]
    assert judge(original, clean, fixes, base_layers=2) == ([], [])
    rebuilt = [
        _finding(FindingKind.PACKAGE_CACHE, 75_500_000, details=apt, title="Apt package archives left"),  # new
        _finding(FindingKind.BUILD_TOOLS, 1_000, title="gcc"),  # claimed
        _finding(FindingKind.CONFIG, layer=None, details=RootUserDetails(""), title="Runs as root"),  # claimed
        _finding(FindingKind.SECRET, layer=1, title="key in the base"),  # the base's own layers
    ]
    problems, notes = judge(original, rebuilt, fixes, base_layers=2)
    assert problems == [
        "it has a finding the original did not have: package-cache 75.5 MB: Apt package archives left",
        "it leaves a finding it claims to fix: build-tools 1.0 kB: gcc",
        "it leaves a finding it claims to fix: config: Runs as root",
    ]
    assert notes == ["the runtime base brings secret: key in the base"]


# -- --deep ---------------------------------------------------------------------------------------------------


def test_deep_trims_are_measured_on_the_originals_pip_layer(mini, mini_tar):
    rewrite = rewrite_image(mini, find_base(mini.source, None), (), deep=True)
    history = from_image(mini, find_base(mini.source, None))
    measured = measure(mini, pip_layers(history))
    # An independent recount: the pip layer's regular files, by Python's tarfile.
    with tarfile.open(mini_tar) as outer:
        import json

        manifest = json.load(outer.extractfile("manifest.json"))[0]
        (layer_name,) = [name for i, name in enumerate(manifest["Layers"]) if i in pip_layers(history)]
        with tarfile.open(fileobj=outer.extractfile(layer_name)) as layer:
            members = [m for m in layer.getmembers() if m.isfile()]
    tests = sum(m.size for m in members if "/tests/" in m.name and "-packages/" in m.name)
    libraries = [m for m in members if m.name.split("/")[-1].split(".so")[-1] in ("",) and ".so" in m.name and ".libs/" not in m.name]
    assert measured.of(TESTS) == tests
    assert (measured.of(SHARED_LIBRARIES), measured.files.get("strip", 0)) == (sum(m.size for m in libraries), len(libraries))
    assert "find /opt/venv -type f -name '*.so*' -not -path '*.libs/*' -exec strip --strip-unneeded {} +" in rewrite.dockerfile
    assert "ENV PYTHONDONTWRITEBYTECODE=1" in rewrite.dockerfile
    plain = rewrite_image(mini, find_base(mini.source, None), ())
    assert plain.size_after - rewrite.size_after == measured.of(TESTS) + measured.bytes.get("docs", 0) + measured.bytes.get("tooling", 0)
    assert hadolint_issues(rewrite.dockerfile) == []


@pytest.mark.parametrize(
    "path, key",
    [
        ("opt/venv/lib/python3.11/site-packages/numpy/_core/tests/test_a.py", "tests"),
        ("opt/venv/lib/python3.11/site-packages/numpy/_core/include/numpy/ndarraytypes.h", "docs"),
        ("opt/venv/lib/python3.11/site-packages/numpy/__init__.pyi", "docs"),
        ("opt/venv/lib/python3.11/site-packages/numpy/_core/_multiarray_umath.cpython-311-x86_64-linux-gnu.so", "strip"),
        ("opt/venv/lib/python3.11/site-packages/numpy.libs/libscipy_openblas64_-32a4b2a6.so", None),  # patchelf's: never stripped
        ("opt/venv/lib/python3.11/site-packages/setuptools/__init__.py", "tooling"),
        ("opt/venv/lib/python3.11/site-packages/numpy/__pycache__/version.cpython-311.pyc", "bytecode"),
        ("app/tests/test_app.py", None),
    ],
)
def test_trim_rules(path, key):
    rule = rule_of(path)
    assert (rule.key if rule else None) == key


# -- distroless, only with a compatibility check --------------------------------------------------------


PURE_PYTHON = """\
FROM python:3.11-slim
WORKDIR /app
COPY requirements.txt app.py ./
RUN pip install --no-cache-dir -r requirements.txt
CMD ["python3", "app.py"]
"""


def test_distroless_is_suggested_when_every_check_passes():
    written = _write(PURE_PYTHON, _facts("3.11", "python:3.11-slim"))
    assert (
        "# Alternative: gcr.io/distroless/python3-debian12:nonroot fits this program (needs no shell, no OS packages, glibc, "
        "Python 3.11, CA certificates, a numeric non-root user):\n"
        "# `slimview verify --base gcr.io/distroless/python3-debian12:nonroot` writes it, builds it and proves it runs.\n"
        "FROM python:3.11-slim\n"
    ) in written.text
    shell = _write(PURE_PYTHON.replace('CMD ["python3", "app.py"]', 'CMD python3 app.py | tee /tmp/log'), _facts("3.11", "python:3.11-slim"))
    assert "# Not gcr.io/distroless/python3-debian12:nonroot: its command runs a shell.\n" in shell.text
    older = _write(PURE_PYTHON, _facts("3.12", "python:3.12-slim"))
    assert "# Not gcr.io/distroless/python3-debian12:nonroot: it has Python 3.11, the image runs 3.12.\n" in older.text


DISTROLESS_REWRITE = """\
# Builder stage: compilers and headers stay here; only the virtualenv moves on.
FROM debian:bookworm-slim AS builder
# Build-only packages stay in this stage.
RUN apt-get update \\
 && apt-get install -y --no-install-recommends python3-pip python3-venv \\
 && apt-get clean \\
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# Dependency manifests first: editing the source no longer re-runs pip.
COPY requirements.txt /app/
# A virtualenv without pip: the runtime stage copies /opt/venv and nothing else from here.
# --no-cache-dir: pip's download cache never reaches a layer.
RUN python3 -m venv --without-pip /opt/venv \\
 && python3 -m pip --python /opt/venv/bin/python install --no-cache-dir -r requirements.txt

# Runtime stage: gcr.io/distroless/python3-debian12:nonroot.
FROM gcr.io/distroless/python3-debian12:nonroot
# A non-root user (uid 10001) runs the program: numeric, so it needs no passwd entry (gcr.io/distroless/python3-debian12:nonroot has no useradd).
WORKDIR /app
# The virtualenv the builder made; its bin/ first on PATH, so python, pip-installed
# scripts and the program's imports resolve to it exactly as the original's did.
COPY --from=builder /opt/venv /opt/venv
ENV PATH="/opt/venv/bin:$PATH"
COPY --chown=10001:10001 requirements.txt app.py /app/
USER 10001:10001
# gcr.io/distroless/python3-debian12:nonroot starts ["/usr/bin/python3.11"] itself; the original's command runs as it did.
ENTRYPOINT []
CMD ["python3", "app.py"]
"""


def test_a_distroless_runtime_builds_on_debians_python_and_needs_no_shell():
    from slimview.rewrite.user import UserTools

    facts = _facts(
        "3.11", "gcr.io/distroless/python3-debian12:nonroot", user_tools=UserTools.NONE,
        inherited=OriginalCommand([], ["python3", "app.py"]), runtime_entrypoint=["/usr/bin/python3.11"],
        entries=lambda step, layer: None,
    )
    facts.base_has_python = True
    written = _write(PURE_PYTHON, facts)
    assert written.text == DISTROLESS_REWRITE
    check(written, facts, None)  # no RUN in the runtime, no package to install: it builds
    assert hadolint_issues(written.text) == []
