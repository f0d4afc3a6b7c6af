"""The generated .dockerignore: Docker's matching rules, and never a pattern that drops a
file the rewritten Dockerfile copies."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from slimview.findings.details import JunkDetails
from slimview.findings.model import Finding
from slimview.index import IndexOptions, build_index
from slimview.rewrite import rewrite_image
from slimview.rewrite.base import find_base
from slimview.rewrite.dockerignore import blocking, copied_paths, is_ignored, read_patterns
from slimview.sample.mini import write_sample

SAMPLE_CONTEXT = Path(__file__).resolve().parent.parent / "sample_images" / "python-inference"


@pytest.mark.parametrize(
    "path, patterns, ignored",
    [
        (".git/objects/ab", [".git"], True),
        ("src/.git/config", [".git"], False),  # anchored at the context root
        ("src/.git/config", ["**/.git"], True),
        ("a/b/c.pyc", ["**/*.py[cod]"], True),
        ("c.pyo", ["*.py[cod]"], True),
        ("src/c.pyc", ["*.py[cod]"], False),  # * stays within one path element
        ("docs/x.md", ["docs"], True),
        (".env.example", [".env.*", "!.env.example"], False),
        (".env.prod", [".env.*", "!.env.example"], True),
        ("Dockerfile.slim", ["Dockerfile*"], True),
        ("tests", ["/tests/"], True),  # leading and trailing slashes are cleaned
        ("app/x", ["app/?"], True),
        ("app/xy", ["app/?"], False),
        ("a/b", ["a/[!c]"], True),
        ("a/c", ["a/[!c]"], False),
        ("keep/me", ["*", "!keep"], False),
    ],
)
def test_docker_matching_rules(path, patterns, ignored):
    assert is_ignored(path, patterns) is ignored


def test_blocking_ignores_trim_patterns_and_finds_files_inside_directories(tmp_path: Path):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "main.py").write_text("")
    (tmp_path / "app" / "README.md").write_text("")
    paths = copied_paths("app", True, str(tmp_path))
    assert sorted(paths) == ["app", "app/README.md", "app/main.py"]
    assert blocking(paths, ["**/__pycache__", "**/*.md", "app", ".git", "!app/README.md"]) == ["**/*.md", "app"]
    assert copied_paths("lib", True, None) == ["lib", "lib/slimview-probe"]


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    path = tmp_path_factory.mktemp("mini") / "mini.tar"
    write_sample(str(path))
    return build_index(str(path), IndexOptions(use_cache=False))


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_the_sample_context_keeps_everything_the_rewrite_copies(mini, tmp_path: Path):
    context = tmp_path / "context"
    shutil.copytree(SAMPLE_CONTEXT, context)
    rewrite = rewrite_image(mini, find_base(mini.source, None), (), context=str(context))
    patterns = read_patterns(rewrite.dockerignore)
    assert rewrite.copied_sources == ["requirements.txt", "inference_engine"]
    sent = [f for f in _files(context) if not is_ignored(f, patterns)]
    assert sent == ["inference_engine/__init__.py", "inference_engine/app.py", "inference_engine/model.py", "requirements.txt"]


DOCS_APP = """\
FROM python:3.11-slim
WORKDIR /srv
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY app/ /srv/app/
COPY docs/ /srv/docs/
CMD ["python", "-m", "app"]
"""


def test_a_finding_pattern_that_would_drop_a_copied_file_is_left_out(mini, tmp_path: Path):
    """The app serves its docs: a context-junk pattern for docs (or *.md) must not survive."""
    context = tmp_path / "context"
    for name, body in {"app/__main__.py": "print(1)\n", "docs/index.md": "# hi\n", "tests/test_x.py": "",
                       "requirements.txt": "six\n", ".env": "TOKEN=x\n", "notes.md": "scratch\n"}.items():
        (context / name).parent.mkdir(parents=True, exist_ok=True)
        (context / name).write_text(body)
    dockerfile = context / "Dockerfile"
    dockerfile.write_text(DOCS_APP)
    junk = Finding("context-junk", "junk", "low", 40, 4, "COPY . .", details=JunkDetails(None, ["docs", "tests", "**/*.md"], []))
    rewrite = rewrite_image(mini, find_base(mini.source, None), [junk], dockerfile=str(dockerfile))
    patterns = read_patterns(rewrite.dockerignore)
    assert "docs" not in patterns and "**/*.md" not in patterns and "tests" in patterns
    assert "kept in the context because the rewrite copies them: docs, **/*.md" in rewrite.notes
    copied = [f for f in _files(context) if f.startswith(("app/", "docs/")) or f == "requirements.txt"]
    assert [f for f in copied if is_ignored(f, patterns)] == []
    assert "COPY docs/ /srv/docs/" in rewrite.dockerfile.replace("--chown=10001:10001 ", "")
    assert os.path.exists(dockerfile)
