"""Safety: what slimview writes, what it never touches, and what it never reveals.

- Every file-changing system call of a real CLI run (under strace, child processes
  included) lands in the cache or in a path the user named; nothing is extracted.
- Symlinks in an archive or an OCI layout are never followed on the host: a layout whose
  blob links outside it is refused, and the outside file is never even opened.
- A user's file is never overwritten without --force, and is replaced atomically: a
  failed or killed write leaves the old file whole.
- Secrets planted in an image appear in no output, report file or error, in any format.
- The cache survives four runs at once on a cold cache and a SIGKILL at any of its writes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import time

import pytest

from hostile import Archive, cli_env, directory, error_line, member, run_cli, symlink, tar

STRACE = shutil.which("strace")
FILE_CALLS = (
    "open,openat,creat,mkdir,mkdirat,rename,renameat,renameat2,unlink,unlinkat,symlink,symlinkat,"
    "link,linkat,chmod,fchmodat,truncate,rmdir,mknodat"
)
BIG_SAMPLE = "/var/lib/slimview-ci/python-inference.tar"
_LINE = re.compile(r"^(\d+) +(\w+)\((.*)\) += (-?\d+|\?)")
_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')
_FD = re.compile(r"^(?:AT_FDCWD|\d+<([^>]*)>)")


def _unescape(text: str) -> str:
    raw = re.sub(rb"\\([0-7]{1,3})", lambda m: bytes([int(m.group(1), 8)]), text.encode("latin-1", "backslashreplace"))
    return raw.decode("unicode_escape").encode("latin-1").decode("utf-8", "surrogateescape")


class Trace:
    """The file system calls of a traced run: what it wrote and what it opened to read."""

    def __init__(self, path: str, cwd: str):
        self.writes: list[tuple[str, str]] = []  # (syscall, absolute path)
        self.reads: list[str] = []
        with open(path, errors="replace") as fh:
            for line in fh:
                match = _LINE.match(line)
                if not match:
                    continue
                call, args = match.group(2), match.group(3)
                base = cwd
                fd = _FD.match(args)
                if fd and fd.group(1):
                    base = fd.group(1)
                paths = [os.path.normpath(os.path.join(base, _unescape(p))) for p in _STRING.findall(args)]
                if call in ("open", "openat", "creat"):
                    if not paths:
                        continue
                    writing = call == "creat" or re.search(r"O_WRONLY|O_RDWR|O_CREAT|O_TRUNC", args)
                    (self.writes.append((call, paths[0])) if writing else self.reads.append(paths[0]))
                else:
                    self.writes.extend((call, p) for p in paths)


def traced(args: list[str], home, cwd, *, env=None) -> tuple[subprocess.CompletedProcess, Trace]:
    log = os.path.join(str(home), "strace.log")
    env = {**(env or cli_env(home)), "PYTHONDONTWRITEBYTECODE": "1"}  # the interpreter's .pyc files are not slimview's
    proc = subprocess.run(
        [STRACE, "-f", "-qq", "-y", "-s", "4096", "-e", f"trace={FILE_CALLS}", "-o", log, shutil.which("slimview"), *args],
        capture_output=True, text=True, cwd=str(cwd), env=env, timeout=600, check=False,
    )
    return proc, Trace(log, str(cwd))


SYSTEM_WRITABLE = ("/dev/null", "/dev/tty", "/dev/pts/", "/dev/shm/sem.")  # discard, terminal, multiprocessing locks


def stray_writes(trace: Trace, allowed: list[str]) -> list[tuple[str, str]]:
    ok = [a.rstrip("/") for a in allowed]
    return [(call, path) for call, path in trace.writes
            if not path.startswith(SYSTEM_WRITABLE) and not any(path == a or path.startswith(a + "/") for a in ok)]


def _small_image(path) -> str:
    layers = [
        tar(directory("app"), member("app/main.py", b"print('hi')\n"), member("app/data.bin", os.urandom(50_000)),
            symlink("app/etc", "/etc"), symlink("app/up", "../../../../../../etc/passwd")),
        tar(member("app/.wh.data.bin", b""), member("app/etc/passwd", b"inside the image\n")),
    ]
    return Archive(layers).write(path)


needs_strace = pytest.mark.skipif(STRACE is None, reason="strace is not installed")


# -- writes only where it may ------------------------------------------------------------------


@needs_strace
@pytest.mark.parametrize("kind", ["text-report", "json-to-file", "gzip-streamed", "oci-layout", "rewrite", "ci", "broken-input"])
def test_writes_land_only_in_the_cache_and_named_outputs(kind, tmp_path):
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    image = _small_image(tmp_path / "image.tar")
    cache = str(home / ".cache" / "slimview")
    allowed = [cache, str(home / ".cache")]  # $XDG_CACHE_HOME itself is created when missing
    if kind == "text-report":
        args = ["report", BIG_SAMPLE if os.path.exists(BIG_SAMPLE) else image]
    elif kind == "json-to-file":
        args = ["report", "--json", "-o", "out.json", image]
        allowed += [str(work / "out.json")] + [str(work / n) for n in os.listdir(work)]
    elif kind == "gzip-streamed":
        subprocess.run(["gzip", "-k", image], check=True)
        args = ["report", image + ".gz"]
    elif kind == "oci-layout":
        from slimview.sample.builder import ImageSpec, Layer, write_oci_layout

        layout = tmp_path / "layout"
        write_oci_layout(ImageSpec([Layer("RUN a").file("a", b"x" * 1000)]), str(layout))
        args = ["report", "--format", "markdown", str(layout)]
    elif kind == "rewrite":
        (tmp_path / "out").mkdir()
        args = ["rewrite", "-o", str(tmp_path / "out"), image]
        allowed.append(str(tmp_path / "out"))
    elif kind == "ci":
        args = ["ci", image]
    else:
        (tmp_path / "broken.tar").write_bytes(open(image, "rb").read()[:3000])
        args = ["report", str(tmp_path / "broken.tar")]
    proc, trace = traced(args, home, work)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode in ((2,) if kind == "broken-input" else (0, 1)), proc.stderr
    # The temporary file of an atomic write lives beside its target, then is renamed onto it.
    if kind == "json-to-file":
        temps = [p for _c, p in trace.writes if os.path.dirname(p) == str(work) and os.path.basename(p).startswith(".out.json.")]
        allowed += temps
        assert temps and not any(os.path.exists(t) for t in temps)
    assert stray_writes(trace, allowed) == []
    if kind == "broken-input":
        assert stray_writes(trace, []) == []  # a broken image: not even a cache entry
    else:
        assert [p for _c, p in trace.writes if p.startswith(cache)], "no cache writes seen: the trace is not watching"
    # Never extracted: the only files besides the cache are the ones named.
    assert sorted(os.listdir(work)) == (["out.json"] if kind == "json-to-file" else [])
    assert sorted(os.listdir(home)) == (["strace.log"] if kind == "broken-input" else [".cache", "strace.log"])


# -- symlinks are never followed on the host -----------------------------------------------


def _layout_with_outside_link(tmp_path, which: str) -> tuple[str, str]:
    """An OCI layout in which one part is a symlink to a file or directory outside it."""
    from slimview.sample.builder import ImageSpec, Layer, oci_layout_files

    files = oci_layout_files([(ImageSpec([Layer("RUN a").file("a", b"payload")]), "latest", None)], compression=None)
    layout, outside = tmp_path / "layout", tmp_path / "outside"
    outside.mkdir()
    for name, data in files.items():
        (layout / name).parent.mkdir(parents=True, exist_ok=True)
        (layout / name).write_bytes(data)
    manifest = json.loads(files["blobs/sha256/" + json.loads(files["index.json"])["manifests"][0]["digest"][7:]])
    if which == "layer":
        name = "blobs/sha256/" + manifest["layers"][0]["digest"][7:]
    elif which == "config":
        name = "blobs/sha256/" + manifest["config"]["digest"][7:]
    elif which == "index":
        name = "index.json"
    else:
        name = "blobs"
    target = outside / os.path.basename(name)
    os.rename(layout / name, target)  # the right bytes, but outside the layout
    os.symlink(target, layout / name)
    return str(layout), str(target)


@needs_strace
@pytest.mark.parametrize("which", ["layer", "config", "index", "blobs-dir"])
def test_layout_symlinks_pointing_outside_are_refused_unopened(which, tmp_path):
    layout, target = _layout_with_outside_link(tmp_path, which)
    home = tmp_path / "home"
    home.mkdir()
    proc, trace = traced(["report", layout], home, tmp_path)
    message = error_line(proc)
    assert re.fullmatch(rf"{re.escape(layout)}: '[^']+' points outside the layout directory", message), message
    assert not [p for p in trace.reads if p == target or p.startswith(target + "/")]


@needs_strace
def test_archive_member_symlinks_resolve_inside_the_archive_only(tmp_path):
    """A save whose manifest names a member that is a symlink to the host's /etc/passwd."""
    archive = Archive([tar(member("a", b"1"))], layer_names=["evil/layer.tar"])
    data = archive.build()
    # Replace the layer member by a symlink member that points out of the archive.
    evil = symlink("evil/layer.tar", "../../../../../../etc/passwd")
    config, config_name, _names, _ids, manifest = archive.parts()
    path = tmp_path / "evil.tar"
    path.write_bytes(tar(evil, member(config_name, config), member("manifest.json", manifest)))
    assert data  # the plain archive is fine; only the link version is tested
    home = tmp_path / "home"
    home.mkdir()
    proc, trace = traced(["report", str(path)], home, tmp_path)
    assert error_line(proc) == f"{path}: layer 'etc/passwd' is missing from the archive"
    assert "/etc/passwd" not in trace.reads


@needs_strace
def test_symlinks_inside_layers_are_recorded_never_followed(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    image = _small_image(tmp_path / "image.tar")
    proc, trace = traced(["report", "--json", image], home, tmp_path)
    assert proc.returncode == 0, proc.stderr
    files = {f["path"]: f for f in json.loads(proc.stdout)["layers"][0]["files"]}
    assert files["app/etc"]["link"] == "/etc" and files["app/up"]["link"] == "../../../../../../etc/passwd"
    assert "/etc/passwd" not in trace.reads


# -- never overwrite, always atomic ----------------------------------------------------------


def test_report_never_overwrites_without_force_and_replaces_atomically_with_it(tmp_path):
    image = _small_image(tmp_path / "image.tar")
    out = tmp_path / "out.txt"
    out.write_text("the user's notes\n")
    before = os.stat(out)
    message = error_line(run_cli(["report", "-o", str(out), image], tmp_path))
    assert message == f"{out} exists; pass --force to overwrite it"
    assert out.read_text() == "the user's notes\n" and os.stat(out).st_ino == before.st_ino
    proc = run_cli(["report", "--force", "-o", str(out), image], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert out.read_text().startswith("hostile:latest")
    assert os.stat(out).st_ino != before.st_ino  # a new file renamed into place, not rewritten in place
    assert sorted(os.listdir(tmp_path)) == sorted(["image.tar", "out.txt", ".cache"])


def test_force_replaces_a_symlink_itself_never_the_file_it_points_to(tmp_path):
    from slimview.fsutil import write_atomic

    precious = tmp_path / "precious"
    precious.write_text("keep me\n")
    link = tmp_path / "report.txt"
    link.symlink_to(precious)
    with pytest.raises(Exception, match="exists; pass --force"):
        write_atomic(str(link), "new\n")
    write_atomic(str(link), "new\n", force=True)
    assert precious.read_text() == "keep me\n"
    assert not link.is_symlink() and link.read_text() == "new\n"


@pytest.mark.parametrize("failure", ["replace", "fsync-interrupt", "write-oserror"])
def test_write_atomic_failing_midway_leaves_the_old_file(failure, tmp_path, monkeypatch):
    from slimview.errors import SlimviewError
    from slimview.fsutil import write_atomic

    target = tmp_path / "Dockerfile.slim"
    target.write_text("FROM old\n")

    def broken(*_args, **_kwargs):
        if failure == "fsync-interrupt":
            raise KeyboardInterrupt
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, {"replace": "replace", "fsync-interrupt": "fsync", "write-oserror": "fsync"}[failure], broken)
    expected = KeyboardInterrupt if failure == "fsync-interrupt" else SlimviewError
    with pytest.raises(expected) as caught:
        write_atomic(str(target), "FROM new\n" * 1000, force=True)
    monkeypatch.undo()
    if expected is SlimviewError:
        assert str(caught.value) == f"cannot write {target}: No space left on device"
    assert target.read_text() == "FROM old\n"
    assert sorted(os.listdir(tmp_path)) == ["Dockerfile.slim"]  # the temporary file is gone


def test_a_full_disk_leaves_the_old_file_whole(tmp_path):
    """A real ENOSPC: a 64 KiB tmpfs, an old report in it, a new one that does not fit."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    small = tmp_path / "small"
    small.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(small)], capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        old = small / "report.json"
        old.write_text('{"old": true}\n')
        image = Archive([tar(*(member(f"f{i:05}", b"x") for i in range(3000)))]).write(tmp_path / "many.tar")
        proc = run_cli(["report", "--json", "--force", "-o", str(old), image], tmp_path)
        assert error_line(proc) == f"cannot write {old}: No space left on device"
        assert old.read_text() == '{"old": true}\n'
        assert os.listdir(small) == ["report.json"]
    finally:
        subprocess.run(["umount", str(small)], check=False)


def _many_files_image(tmp_path) -> str:
    return Archive([tar(*(member(f"dir{i % 50}/file{i:05}", b"x" * (i % 7)) for i in range(20_000)))]).write(tmp_path / "many.tar")


@needs_strace
@pytest.mark.parametrize("kill_at, expected", [("fsync", "old"), ("rename", "old"), ("exit_group", "new")])
def test_a_run_killed_while_writing_its_report_leaves_the_old_file_or_the_new_one(kill_at, expected, tmp_path):
    """SIGKILL injected at the report's fsync (written, not yet renamed), at its rename, and
    at exit (after the rename): the target holds the old text or the complete new one."""
    image = _many_files_image(tmp_path)
    full = run_cli(["report", "--json", "--no-cache", image], tmp_path).stdout
    assert len(full) > 2_000_000
    out = tmp_path / "report.json"
    out.write_text("OLD\n")
    proc = subprocess.run(
        [STRACE, "-f", "-qq", "-o", "/dev/null", "-e", f"trace={kill_at}", "-e", f"inject={kill_at}:signal=KILL:when=1",
         shutil.which("slimview"), "report", "--json", "--no-cache", "--force", "-o", str(out), image],
        cwd=str(tmp_path), env=cli_env(tmp_path), capture_output=True, check=False,
    )
    assert proc.returncode != 0  # killed
    assert out.read_text() == {"old": "OLD\n", "new": full}[expected]


def test_kills_at_random_moments_never_leave_a_partial_report(tmp_path):
    image = _many_files_image(tmp_path)
    full = run_cli(["report", "--json", "--no-cache", image], tmp_path).stdout
    out = tmp_path / "report.json"
    out.write_text("OLD\n")
    env = cli_env(tmp_path)
    for delay in (0.6, 1.2, 1.8, 2.4):
        proc = subprocess.Popen([shutil.which("slimview"), "report", "--json", "--no-cache", "--force", "-o", str(out), image],
                                cwd=str(tmp_path), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert out.read_text() in ("OLD\n", full), delay


# -- secrets ---------------------------------------------------------------------------------

AWS_KEY = "AKIAZ7QX3SLIMVIEWT3ST"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYslimviewTEST"
DB_PASSWORD = "s3cr3t-Pa55w0rd-slimview-test"
KEY_BODY = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZWQyNTUxOQslimviewTEST"
SECRETS = [AWS_KEY, AWS_SECRET, DB_PASSWORD, KEY_BODY]


def _secret_image(path) -> str:
    layers = [
        tar(directory("app"), member("app/main.py", b"import os\nprint(os.environ['X'])\n"),
            member("app/.env", f"AWS_ACCESS_KEY_ID={AWS_KEY}\nAWS_SECRET_ACCESS_KEY={AWS_SECRET}\n".encode()),
            member("app/config.json", json.dumps({"database": {"password": DB_PASSWORD}}).encode()),
            member("root/.ssh/id_ed25519", f"-----BEGIN OPENSSH PRIVATE KEY-----\n{KEY_BODY}\n-----END OPENSSH PRIVATE KEY-----\n".encode())),
        tar(member("app/.wh..env", b"")),  # deleted later: still in the image, still a finding
    ]
    history = [{"created_by": "COPY . /app # buildkit"}, {"created_by": "RUN /bin/sh -c rm /app/.env # buildkit"}]
    from hostile import config_doc, sha

    return Archive(layers, config=config_doc([sha(t) for t in layers], history)).write(path)


def _leaks(text: str) -> list[str]:
    return [s for s in SECRETS if s in text or s[4:-4] in text]


def test_planted_secrets_appear_in_no_output_in_any_format(tmp_path):
    image = _secret_image(tmp_path / "secret.tar")
    out_dir = tmp_path / "rewrite"
    out_dir.mkdir()
    runs = [
        ["report", image],
        ["report", "--json", image],
        ["report", "--format", "markdown", image],
        ["report", "--json", "-o", str(tmp_path / "report.json"), image],
        ["ci", image],
        ["rewrite", "-o", str(out_dir), image],
        ["rewrite", "--reconstruct", image],
    ]
    seen_finding = False
    for args in runs:
        proc = run_cli(args, tmp_path)
        assert "Traceback" not in proc.stderr, (args, proc.stderr)
        assert _leaks(proc.stdout + proc.stderr) == [], args
        seen_finding |= ".env" in proc.stdout and "fingerprint" in proc.stdout
    assert seen_finding, "no run reported the planted secrets: the check would prove nothing"
    for root, _dirs, names in os.walk(tmp_path):
        if ".cache" in root:
            continue
        for name in names:
            path = os.path.join(root, name)
            if path == image:
                continue
            assert _leaks(open(path, errors="replace").read()) == [], path


def test_planted_secrets_are_not_written_to_the_cache_in_clear(tmp_path):
    image = _secret_image(tmp_path / "secret.tar")
    assert run_cli(["report", image], tmp_path).returncode == 0
    leaked = []
    for root, _dirs, names in os.walk(tmp_path / ".cache"):
        for name in names:
            data = open(os.path.join(root, name), "rb").read()
            leaked += [s for s in SECRETS if s.encode() in data]
    assert leaked == []


def test_the_content_viewer_refuses_files_holding_secrets(tmp_path):
    """read_body (the TUI's file viewer) shows ordinary files but never a file with a secret."""
    from slimview.errors import InputError
    from slimview.index import IndexOptions, build_index
    from slimview.index.content import read_body

    idx = build_index(_secret_image(tmp_path / "secret.tar"), IndexOptions(use_cache=False))
    assert read_body(idx, 0, "app/main.py") == b"import os\nprint(os.environ['X'])\n"
    for path in ("app/.env", "app/config.json", "root/.ssh/id_ed25519"):
        with pytest.raises(InputError, match="holds a secret .*; slimview does not display it") as caught:
            read_body(idx, 0, path)
        assert _leaks(str(caught.value)) == []


# -- the cache under concurrency and kills ----------------------------------------------------


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_four_runs_at_once_on_a_cold_cache_agree(tmp_path):
    image = BIG_SAMPLE if os.path.exists(BIG_SAMPLE) else _small_image(tmp_path / "image.tar")
    reference = run_cli(["report", "--json", "--no-cache", image], tmp_path, timeout=600)
    assert reference.returncode == 0
    env = cli_env(tmp_path)
    procs = [subprocess.Popen([shutil.which("slimview"), "report", "--json", image], cwd=str(tmp_path), env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    results = [p.communicate(timeout=600) + (p.returncode,) for p in procs]
    assert [(status, err) for _out, err, status in results] == [(0, "")] * 4
    assert {_digest(out) for out, _err, _status in results} == {_digest(reference.stdout)}
    warm = run_cli(["report", "--json", image], tmp_path, timeout=600)
    assert _digest(warm.stdout) == _digest(reference.stdout)
    assert [n for _r, _d, names in os.walk(tmp_path / ".cache") for n in names if n.startswith(".tmp-")] == []


@needs_strace
def test_a_kill_at_any_cache_write_leaves_a_cache_the_next_run_can_use(tmp_path):
    from slimview.sample.mini import write_sample

    image = str(tmp_path / "mini.tar")
    write_sample(image)
    reference = run_cli(["report", "--json", "--no-cache", image], tmp_path).stdout
    # How many renames (cache entries landing) and cache-file writes does a cold run make?
    home = tmp_path / "count"
    home.mkdir()
    env = cli_env(home)
    log = str(home / "renames.log")
    subprocess.run([STRACE, "-f", "-qq", "-e", "trace=rename,renameat,renameat2", "-o", log, shutil.which("slimview"), "report", image],
                   cwd=str(home), env=env, capture_output=True, check=True)
    renames = sum(1 for line in open(log) if "rename" in line)
    assert renames >= 5
    killed = 0
    for when in range(1, renames + 1):
        # SIGKILL exactly at the when-th rename: the entries before it landed, this one's
        # temporary file is complete but never renamed, the rest never written.
        home = tmp_path / f"kill{when}"
        home.mkdir()
        env = cli_env(home)
        injected = subprocess.run(
            [STRACE, "-f", "-qq", "-o", "/dev/null", "-e", "trace=rename,renameat,renameat2",
             "-e", f"inject=rename,renameat,renameat2:signal=KILL:when={when}", shutil.which("slimview"), "report", "--json", image],
            cwd=str(home), env=env, capture_output=True, text=True, check=False,
        )
        killed += injected.returncode != 0
        after = subprocess.run([shutil.which("slimview"), "report", "--json", image], cwd=str(home), env=env, capture_output=True, text=True)
        assert (after.returncode, after.stderr) == (0, ""), when
        assert _digest(after.stdout) == _digest(reference), when
        again = subprocess.run([shutil.which("slimview"), "report", "--json", image], cwd=str(home), env=env, capture_output=True, text=True)
        assert _digest(again.stdout) == _digest(reference), when
    assert killed == renames  # every injected kill actually happened
    # The killed runs' temporary files are swept by a later run that writes, once stale.
    leftovers = [os.path.join(r, n) for r, _d, names in os.walk(tmp_path) for n in names if n.startswith(".tmp-")]
    assert leftovers
    for path in leftovers:
        os.utime(path, (time.time() - 7200, time.time() - 7200))
    for when in range(1, renames + 1):
        home = tmp_path / f"kill{when}"
        env = cli_env(home)
        other = tmp_path / f"other{when}.tar"
        Archive([tar(member(f"x{when}", b"1"))]).write(other)  # something new to cache
        subprocess.run([shutil.which("slimview"), "report", str(other)], cwd=str(home), env=env, capture_output=True, check=True)
    assert [p for p in leftovers if os.path.exists(p)] == []
