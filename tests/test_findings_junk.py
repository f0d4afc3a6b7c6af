"""Build-context junk copied by COPY/ADD: each a .dockerignore candidate with its bytes."""

from slimview.sample.builder import Layer

from findings_util import base, findings_of, noise, of_kind, paths_and_sizes, run, step


def context_copy(layer: Layer) -> Layer:
    files = {
        "app/main.py": 2_000,
        "app/requirements.txt": 60,
        "app/.git/HEAD": 21,
        "app/.git/objects/pack/pack-1.pack": 412_000,
        "app/tests/test_main.py": 1_500,
        "app/src/pkg/tests/test_unit.py": 700,
        "app/notebooks/explore.ipynb": 96_000,
        "app/analysis.ipynb": 5_000,
        "app/docs/design.md": 7_000,
        "app/.DS_Store": 6_148,
        "app/.venv/pyvenv.cfg": 70,
        "app/.venv/lib/python3.11/site-packages/six.py": 34_000,
        "app/.venv/lib/python3.11/site-packages/tests/x.py": 100,
        "app/web/node_modules/left-pad/index.js": 500,
        "app/src/pkg/__pycache__/mod.cpython-311.pyc": 3_000,
        "app/src/pkg/mod.pyc": 1_000,
        "app/Dockerfile": 400,
        "app/.env": 120,
        "app/.env.production": 80,
        "app/.env.example": 90,
        "app/src/pkg/mod.py": 900,
    }
    layer.dir("app")
    for path, size in files.items():
        layer.file(path, noise(path, size))
    return layer


EXPECTED = [
    {"pattern": ".git", "category": "version control", "bytes": 412_021, "files": 2},
    {"pattern": "notebooks", "category": "notebooks", "bytes": 96_000, "files": 1},
    {"pattern": ".venv", "category": "virtualenv", "bytes": 34_170, "files": 3},
    {"pattern": "docs", "category": "docs", "bytes": 7_000, "files": 1},
    {"pattern": ".DS_Store", "category": "editor and OS files", "bytes": 6_148, "files": 1},
    {"pattern": "*.ipynb", "category": "notebooks", "bytes": 5_000, "files": 1},
    {"pattern": "**/__pycache__", "category": "python bytecode", "bytes": 3_000, "files": 1},
    {"pattern": "tests", "category": "tests", "bytes": 1_500, "files": 1},
    {"pattern": "**/*.pyc", "category": "python bytecode", "bytes": 1_000, "files": 1},
    {"pattern": "**/tests", "category": "tests", "bytes": 700, "files": 1},
    {"pattern": "**/node_modules", "category": "node_modules", "bytes": 500, "files": 1},
    {"pattern": "Dockerfile", "category": "build files", "bytes": 400, "files": 1},
    {"pattern": ".env", "category": "env file", "bytes": 120, "files": 1},
    {"pattern": ".env.*", "category": "env file", "bytes": 80, "files": 1},
]


def test_copy_of_the_whole_context_yields_dockerignore_patterns_relative_to_the_context(tmp_path):
    workdir = step("WORKDIR /app")
    workdir.dir("app")
    findings = findings_of(tmp_path, [base(), workdir, context_copy(step("COPY . ."))])
    (junk,) = of_kind(findings, "context-junk")

    assert junk.details.to_json()["candidates"] == EXPECTED
    assert junk.details.to_json()["dockerignore"] == [c["pattern"] for c in EXPECTED]
    assert junk.details.to_json()["context_root"] == "/app"
    assert (junk.layer, junk.bytes) == (2, sum(c["bytes"] for c in EXPECTED))
    assert junk.bytes == sum(p.size for p in junk.paths) == 567_639
    assert "app/main.py" not in paths_and_sizes(junk) and "app/.env.example" not in paths_and_sizes(junk)
    assert junk.fix.splitlines()[1:] == [c["pattern"] for c in EXPECTED]
    assert junk.title.startswith("`COPY . .` copied build-context junk: .git, notebooks, .venv")


def test_the_classic_builders_history_line_gives_the_destination_too(tmp_path):
    copy = context_copy(Layer("/bin/sh -c #(nop) COPY dir:4f0c3a9b8e7d6c5b4a3928170615f4e3d2c1b0a99887766554433221100ffeedd in /app "))
    (junk,) = of_kind(findings_of(tmp_path, [base(), copy]), "context-junk")
    assert junk.details.to_json()["context_root"] == "/app"
    assert junk.details.to_json()["dockerignore"][:2] == [".git", "notebooks"]


def test_copying_a_subdirectory_uses_anywhere_patterns(tmp_path):
    copy = step("COPY src/ /srv/src/")
    copy.file("srv/src/app.py", noise("app", 1_000)).file("srv/src/tests/test_app.py", noise("t", 500))
    (junk,) = of_kind(findings_of(tmp_path, [base(), copy]), "context-junk")
    assert junk.details.to_json()["context_root"] is None
    assert junk.details.to_json()["dockerignore"] == ["**/tests"]


def test_copies_from_other_stages_and_run_layers_are_not_context_junk(tmp_path):
    staged = step("COPY --from=builder /src/.venv /app/.venv")
    staged.file("app/.venv/pyvenv.cfg", b"home = /usr/bin\n").file("app/.venv/lib/x.py", noise("x", 50_000))
    cloned = run("git clone https://example.invalid/repo /opt/repo")
    cloned.file("opt/repo/.git/HEAD", b"ref: refs/heads/main\n").file("opt/repo/tests/t.py", noise("t", 9_000))
    assert of_kind(findings_of(tmp_path, [base(), staged, cloned]), "context-junk") == []


def test_junk_deleted_later_still_counts_for_the_copy_layer(tmp_path):
    copy = step("COPY . /app")
    copy.file("app/.git/objects/pack/p.pack", noise("pack", 200_000)).file("app/main.py", noise("main", 100))
    cleanup = run("rm -rf /app/.git")
    cleanup.whiteout("app/.git")
    findings = findings_of(tmp_path, [base(), copy, cleanup])
    (junk,) = of_kind(findings, "context-junk")
    (hidden,) = of_kind(findings, "hidden-bytes")
    assert junk.bytes == hidden.bytes == 200_000


def test_a_base_images_root_filesystem_added_at_the_root_is_not_context_junk(tmp_path):
    rootfs = base(("usr/share/doc/x/README", b"x"), ("usr/lib/python3/dist-packages/pkg/tests/t.py", noise("t", 900)))
    assert rootfs.created_by.startswith("/bin/sh -c #(nop) ADD file:")
    assert of_kind(findings_of(tmp_path, [rootfs]), "context-junk") == []


def test_buildkit_history_of_a_stage_copy_is_not_context_junk(tmp_path):
    """BuildKit writes `COPY --from=builder /opt/venv /opt/venv` as `COPY /opt/venv /opt/venv # buildkit`."""
    staged = step("COPY /opt/venv /opt/venv")
    staged.file("opt/venv/pyvenv.cfg", b"home = /usr/bin\n").file("opt/venv/lib/x.py", noise("x", 50_000))
    relative = step("COPY venv /opt/venv")
    relative.file("opt/venv/pyvenv.cfg", b"home = /usr/bin\n").file("opt/venv/lib/y.py", noise("y", 40_000))
    found = of_kind(findings_of(tmp_path, [base(), staged, relative]), "context-junk")
    assert [(f.layer, f.bytes) for f in found] == [(2, 40_000 + len(b"home = /usr/bin\n"))]


def test_the_classic_builders_history_of_a_stage_copy_of_a_virtualenv_is_not_context_junk(tmp_path):
    """The classic builder writes `COPY --from=builder /opt/venv /opt/venv` as `COPY dir:<hash> in
    /opt/venv`, like a context copy: a virtualenv at the destination's top says what it is
    (its tests/ and __pycache__/ are no junk of a build context)."""
    staged = Layer("/bin/sh -c #(nop) COPY dir:0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9 in /opt/venv ")
    staged.file("opt/venv/pyvenv.cfg", b"home = /usr/bin\n")
    staged.file("opt/venv/lib/python3.11/site-packages/numpy/tests/test_x.py", noise("t", 20_000))
    staged.file("opt/venv/lib/python3.11/site-packages/numpy/__pycache__/x.cpython-311.pyc", noise("c", 9_000))
    assert of_kind(findings_of(tmp_path, [base(), staged]), "context-junk") == []
