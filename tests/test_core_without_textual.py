"""The core (source, index, findings, rewrite, report, gate) runs without Textual.

Two checks, as harlequin does it: the import-linter contract in pyproject.toml, and a
subprocess in which Textual cannot be imported at all runs the whole non-UI pipeline.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap

import pytest

CORE = [
    "slimview.source",
    "slimview.index",
    "slimview.dockerfile.history",
    "slimview.dockerfile.shell",
    "slimview.dockerfile.stages",
    "slimview.packages",
    "slimview.findings",
    "slimview.rewrite",
    "slimview.compare",
    "slimview.dockerfile.locate",
    "slimview.report",
    "slimview.report.diff",
    "slimview.report.diffjson",
    "slimview.report.ci",
    "slimview.report.text",
    "slimview.report.jsondoc",
    "slimview.report.markdown",
    "slimview.report.sarif",
    "slimview.gate",
    "slimview.cli",
    "slimview.launch",
]


def test_core_runs_with_textual_unimportable(tmp_path):
    script = textwrap.dedent(
        f"""
        import sys

        class NoTextual:
            def find_spec(self, name, path=None, target=None):
                if name == "textual" or name.startswith("textual."):
                    raise ImportError("textual is not installed (simulated)")
                return None

        sys.meta_path.insert(0, NoTextual())
        import importlib
        for name in {CORE!r}:
            importlib.import_module(name)
        from slimview.index import IndexOptions, build_index
        from slimview.session import analyse
        from slimview.report.text import render_text
        from slimview.sample.mini import write_sample
        write_sample({str(tmp_path / "mini.tar")!r})
        text = render_text(analyse(build_index({str(tmp_path / "mini.tar")!r}, IndexOptions(use_cache=False))))
        assert "python-inference-mini:latest" in text
        leaked = sorted(m for m in sys.modules if m == "textual" or m.startswith("textual."))
        assert leaked == [], leaked
        print("ok")
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_import_contract_is_kept():
    lint = shutil.which("lint-imports")
    if lint is None:
        pytest.skip("import-linter is not installed (pip install -e '.[test]')")
    proc = subprocess.run([lint], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 kept, 0 broken" in proc.stdout
