"""The GitHub Action (action.yml) and the GitLab CI template: their scripts run here, as
the runners would run them, against generated images."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from slimview.cli import ci

from compare_util import after_layers, archive, before_layers

ROOT = Path(__file__).resolve().parent.parent
ACTION = ROOT / "action.yml"
GITLAB = ROOT / "templates" / "gitlab" / "slimview.gitlab-ci.yml"
# The generated images store bytes dive counts as wasted, and a compiler: only growth should fail.
LENIENT = "--build-tools allowed --lowest-efficiency disabled --highest-user-wasted-percent disabled"
CI_OPTIONS = {opt for param in ci.params for opt in getattr(param, "opts", [])}


@pytest.fixture
def images(tmp_path) -> tuple[Path, Path]:
    return archive(tmp_path / "before.tar", before_layers(), "app:1"), archive(tmp_path / "after.tar", after_layers(), "app:2")


def run_script(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """``script`` in bash with -e, as GitHub and GitLab run theirs, with this tree's slimview."""
    base = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "XDG_CACHE_HOME": str(cwd / "cache"), "HOME": str(cwd)}
    return subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=cwd, env={**base, **env},
                          capture_output=True, text=True, timeout=300, check=False)


def test_every_flag_the_action_and_the_template_pass_is_a_ci_option():
    for path in (ACTION, GITLAB):
        flags = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]+)", path.read_text())) - {"--quiet", "--fail", "--silent", "--show-error",
                                                                                   "--location", "--header", "--output", "--no-install-recommends"}
        assert flags and flags <= CI_OPTIONS, (path.name, flags - CI_OPTIONS)


def test_the_action_is_composite_and_pastes_no_input_into_a_script():
    action = yaml.safe_load(ACTION.read_text())
    assert action["runs"]["using"] == "composite"
    assert set(action["inputs"]) == {"image", "baseline", "dockerfile", "config", "args", "output-dir", "install"}
    assert action["inputs"]["image"]["required"] is True
    for step in action["runs"]["steps"]:
        assert step["shell"] == "bash" and "${{" not in step["run"], step["name"]


def test_the_actions_script_writes_every_report_and_fails_on_growth(images, tmp_path):
    before, after = images
    step = next(s for s in yaml.safe_load(ACTION.read_text())["runs"]["steps"] if s.get("id") == "ci")
    outputs, summary = tmp_path / "github_output", tmp_path / "step_summary"
    env = {
        "SLIMVIEW_IMAGE": str(after), "SLIMVIEW_BASELINE": str(before), "SLIMVIEW_DOCKERFILE": "", "SLIMVIEW_CONFIG": "",
        "SLIMVIEW_ARGS": f"{LENIENT} --no-cache", "SLIMVIEW_OUT": "reports",
        "GITHUB_OUTPUT": str(outputs), "GITHUB_STEP_SUMMARY": str(summary),
    }
    result = run_script(step["run"], tmp_path, env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAIL  maxGrowthPercent" in result.stdout and "(build tools allowed)" in result.stdout  # args reach the CLI
    assert result.stdout.rstrip().endswith("[Failed:1] [Skipped:13]")  # only the growth
    assert outputs.read_text().splitlines() == [
        "passed=false", "markdown=reports/slimview.md", "sarif=reports/slimview.sarif", "junit=reports/slimview-junit.xml",
        "json=reports/slimview.json",
    ]
    assert summary.read_text() == (tmp_path / "reports" / "slimview.md").read_text()
    assert all((tmp_path / "reports" / name).is_file() for name in ("slimview.sarif", "slimview-junit.xml", "slimview.json"))

    # the saved JSON is the next run's baseline: the same image has not grown
    again = run_script(step["run"], tmp_path, {**env, "SLIMVIEW_IMAGE": str(after), "SLIMVIEW_BASELINE": "reports/slimview.json",
                                               "SLIMVIEW_ARGS": f"{LENIENT} --no-cache"})
    assert again.returncode == 0, again.stdout + again.stderr
    assert "PASS  maxGrowthPercent          0 B (+0.00 %)" in again.stdout
    assert outputs.read_text().splitlines()[-5] == "passed=true"


def test_the_gitlab_template_runs_and_declares_its_reports(images, tmp_path):
    _before, after = images
    job = yaml.safe_load(GITLAB.read_text())[".slimview"]
    assert job["artifacts"]["reports"] == {"junit": "$SLIMVIEW_OUT/slimview-junit.xml", "codequality": "$SLIMVIEW_OUT/slimview-codequality.json"}
    assert job["artifacts"]["when"] == "always"
    env = {**{k: str(v) for k, v in job["variables"].items()}, "SLIMVIEW_IMAGE": str(after), "SLIMVIEW_ARGS": "--no-cache"}
    result = run_script("\n".join(job["script"]), tmp_path, env)
    assert result.returncode == 1, result.stdout + result.stderr  # gcc-12 is a build tool
    assert "FAIL  buildTools" in result.stdout and "maxGrowthPercent" not in result.stdout  # no merge request: no baseline
    out = tmp_path / job["variables"]["SLIMVIEW_OUT"]
    assert sorted(p.name for p in out.iterdir()) == ["slimview-codequality.json", "slimview-junit.xml", "slimview.json", "slimview.md"]
