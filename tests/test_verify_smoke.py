"""The smoke command verify runs in the rewritten image, derived from its ENTRYPOINT + CMD,
and the pieces of verify that need no engine."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from slimview.rewrite.smoke import _IMPORTS_OF as IMPORTS_OF
from slimview.rewrite.smoke import smoke_command
from slimview.verify import BuildResult, Measured, render_table, shown_command, stage_context


def _server(module: str, attr: str, python: str = "python3") -> list[str]:
    code = f"import importlib; getattr(importlib.import_module({module!r}), {attr!r}); print('import ok: {module}:{attr}')"
    return [python, "-c", code]


@pytest.mark.parametrize(
    "command, expected",
    [
        (["python3", "-m", "uvicorn", "inference_engine.app:app", "--host", "0.0.0.0"], _server("inference_engine.app", "app")),
        (["uvicorn", "--port", "80", "svc.main:api"], _server("svc.main", "api", "python")),
        (["gunicorn", "-k", "uvicorn.workers.UvicornWorker", "svc.wsgi:create_app()"], _server("svc.wsgi", "create_app", "python")),
        (["/opt/venv/bin/python", "-m", "gunicorn", "--factory"], ["/opt/venv/bin/python", "-c", "import gunicorn"]),
        (["python", "-m", "mypkg", "serve"], ["python", "-c", IMPORTS_OF, "mypkg"]),
        (["python3", "main.py", "--port", "8000"], ["python3", "-c", IMPORTS_OF, "main.py"]),
        (["python3", "-u", "-X", "dev", "main.py"], ["python3", "-c", IMPORTS_OF, "main.py"]),
        (["python3", "-c", "import psycopg2; print(1)"], ["python3", "-c", IMPORTS_OF, "-c", "import psycopg2; print(1)"]),
        (["python3", "-X", "dev"], ["python3", "-c", "import sys; print(sys.version)"]),
        (["nginx", "-g", "daemon off;"], ["sh", "-c", "command -v nginx"]),
        ([], None),
    ],
)
def test_smoke_command(command, expected):
    assert smoke_command(command, python_app=False) == expected


def test_a_python_app_with_an_unknown_program_needs_smoke():
    assert smoke_command(["/entrypoint.sh"], python_app=True) is None


def test_imports_of_a_script_are_imported_without_running_it(tmp_path: Path):
    (tmp_path / "helper.py").write_text("VALUE = 1\n")
    (tmp_path / "main.py").write_text("import json\nfrom helper import VALUE\nraise SystemExit('the script ran')\n")
    ok = subprocess.run([sys.executable, "-c", IMPORTS_OF, "main.py"], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert (ok.returncode, ok.stdout) == (0, "imports ok: json, helper\n")
    code = subprocess.run([sys.executable, "-c", IMPORTS_OF, "-c", "import os.path\nraise SystemExit(3)"],
                          capture_output=True, text=True, check=False)
    assert (code.returncode, code.stdout) == (0, "imports ok: os.path\n")
    (tmp_path / "broken.py").write_text("import not_installed_anywhere\n")
    bad = subprocess.run([sys.executable, "-c", IMPORTS_OF, "broken.py"], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert bad.returncode == 1 and "ModuleNotFoundError: No module named 'not_installed_anywhere'" in bad.stderr


def test_stage_context_never_touches_the_users_dockerignore(tmp_path: Path):
    context = tmp_path / "context"
    (context / "app").mkdir(parents=True)
    (context / "app" / "main.py").write_text("print(1)\n")
    (context / ".git").mkdir()
    (context / ".dockerignore").write_text("mine\n")
    staged = Path(stage_context(str(context), "generated\n", str(tmp_path / "work"), skip={".git"}))
    assert (staged / ".dockerignore").read_text() == "generated\n"
    assert (context / ".dockerignore").read_text() == "mine\n"
    assert sorted(p.name for p in staged.iterdir()) == [".dockerignore", "app"]
    assert (staged / "app" / "main.py").read_text() == "print(1)\n"


def test_relevant_lines_of_a_failed_build():
    log = "\n".join([f"#{i} step" for i in range(40)] + ["#41 ERROR: process \"/bin/sh -c pip install x\" did not complete", "tail"])
    lines = BuildResult(False, "", log).relevant_lines()
    assert lines[0] == "#30 step" and lines[10].startswith("#41 ERROR") and lines[-1] == "tail"


def test_table():
    before = Measured("app:latest", 872_874_811, 7, {"build-tools": (1, 410_213_098), "config": (2, 0), "secret": (1, 0)})
    after = Measured("app:slimview", 369_893_026, 6, {"config": (1, 0)})
    assert render_table(before, after) == (
        "               app:latest                app:slimview\n"
        "size           872.9 MB (872,874,811 B)  369.9 MB (369,893,026 B)  42.4 % of before\n"
        "layers         7                         6\n"
        "findings\n"
        "  build-tools  1 (410.2 MB)              gone\n"
        "  config       2                         1\n"
        "  secret       1                         gone\n"
    )
    assert shown_command(["python3", "-c", "print('a b')"]) == "python3 -c \"print('a b')\""
