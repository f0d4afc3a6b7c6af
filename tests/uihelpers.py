"""Shared by the UI tests: the sample image, fixed findings about it, and waiting for the app."""

from __future__ import annotations

import asyncio
import functools
import time

from textual.worker import WorkerCancelled, WorkerFailed

from slimview.findings import Analysis
from slimview.findings.model import Finding, FindingPath
from slimview.index.model import ImageIndex

LISTS = "var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_"

# Findings about the mini sample, fixed so the UI tests do not follow the analyzers' wording.
FIXED_FINDINGS = [
    Finding(
        kind="build-tools",
        title="Compilers left in the final image",
        severity="high",
        bytes=3_901_512,
        layer=2,
        instruction="RUN /bin/sh -c apt-get install -y build-essential python3-dev # buildkit",
        paths=[
            FindingPath("usr/bin/x86_64-linux-gnu-gcc-12", 1_001_512, 2),
            FindingPath("usr/libexec/gcc/x86_64-linux-gnu/12/cc1", 1_400_000, 2),
            FindingPath("usr/libexec/gcc/x86_64-linux-gnu/12/cc1plus", 1_500_000, 2),
        ],
        evidence="gcc-12, cpp-12 and g++-12 are installed",
        fix="Build in a first stage and copy only the results.",
    ),
    Finding(
        kind="package-cache",
        title="apt lists stored in layer 1, deleted in layer 6",
        severity="high",
        bytes=2_149_000,
        layer=1,
        instruction="RUN /bin/sh -c apt-get update # buildkit",
        paths=[
            FindingPath(LISTS + "main_binary-amd64_Packages.lz4", 1_950_000, 1),
            FindingPath(LISTS + "InRelease", 151_000, 1),
            FindingPath("var/lib/apt/lists/deb.debian.org_debian-security_dists_bookworm-security_InRelease", 48_000, 1),
        ],
        fix="Update, install and clean the lists in one RUN.",
    ),
    Finding(
        kind="context-junk",
        title=".git copied into the image",
        severity="medium",
        bytes=424_057,
        layer=4,
        instruction="COPY . . # buildkit",
        paths=[
            FindingPath("app/.git/objects/pack/pack-3f1c2a.pack", 412_000, 4),
            FindingPath("app/.git/objects/pack/pack-3f1c2a.idx", 12_000, 4),
            FindingPath("app/.git/config", 36, 4),
            FindingPath("app/.git/HEAD", 21, 4),
        ],
        fix="Add .git to .dockerignore.",
    ),
    Finding(
        kind="secret",
        title=".env copied into the image",
        severity="high",
        bytes=63,
        layer=4,
        instruction="COPY . . # buildkit",
        paths=[FindingPath("app/.env", 63, 4)],
        evidence="API_KEY=… (fingerprint 1a2b3c)",
        fix="Add .env to .dockerignore and pass secrets at run time.",
    ),
]
FIXED_AVOIDABLE = 3_901_512 + 2_149_000 + 424_057 + 63


def async_test(fn):
    """Run an ``async def`` test in its own event loop (the suite has no asyncio plugin)."""

    @functools.wraps(fn)
    def run(*args, **kwargs):
        return asyncio.run(fn(*args, **kwargs))

    return run


def fixed_report(index: ImageIndex) -> Analysis:
    return Analysis(index, list(FIXED_FINDINGS))


async def settle(pilot, until=None, timeout: float = 30.0) -> None:
    """Let workers finish and messages land until ``until()`` holds (and nothing is building)."""
    app = pilot.app
    deadline = time.monotonic() + timeout
    while True:
        try:
            await app.workers.wait_for_complete()
        except WorkerFailed:
            pass  # the app's own handler shows it; the test looks at what it shows
        except WorkerCancelled:
            pass  # a newer request replaced it (a tree view asked for again as layers arrive)
        await pilot.pause()
        done = app.load_error is not None or (app.analysis is not None and not app.tree_busy and not app.details_pending)
        if done and not app.workers and (until is None or until()):
            await pilot.pause()
            return
        if time.monotonic() > deadline:
            raise AssertionError("the app did not settle (still loading or building the tree)")
        await asyncio.sleep(0.01)
