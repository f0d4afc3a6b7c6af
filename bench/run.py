"""slimview vs dive, side by side, on the same tarballs in one run; plus the scale table.

    python3 bench/run.py                 # real images (needs the engine) + scale 10k/100k/1M
    python3 bench/run.py --no-engine     # scale table only
    python3 bench/run.py --repeat 5 --out bench/results/latest.md

Real images: the bloated python-inference sample built with BuildKit and with the legacy
builder (its apt lists are removed in a later layer), saved with `docker save`. Each
command runs ``--repeat`` times with a warm page cache for its wall time (median), and
``--repeat`` more times for its memory: the peak of the whole process tree, as PSS
(proportional set size, so pages a forked worker shares with its parent count once),
sampled every 5 ms. Time and memory come from separate runs because the sampler slows
the process it samples.

Commands compared: `dive --source docker-archive X --json OUT` and
`slimview report X --json > OUT` (both write every layer's file list). "cold" runs with
an empty cache directory; "reopen" runs the same command again on the cache the cold run
filled: the layer indexes come from the cache, the merge, findings and JSON are computed
again. `--baseline REV` also times the cold report of another revision of slimview (a
git worktree of REV under bench/work), in the same run, to show what a change costs.

Both tools run as the real executables (the console script next to this interpreter, the
dive binary), not through pyenv's shims, which add ~40 ms of shell to every start.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
WORK = os.path.join(HERE, "work")
SAMPLE_TAR = "/var/lib/slimview-ci/python-inference.tar"
ENGINE_SOCK = "unix:///run/slimview-ci/docker.sock"


def exe(name: str) -> str:
    """The real executable: next to this interpreter if installed there, else on PATH."""
    beside = os.path.join(os.path.dirname(sys.executable), name)
    if os.access(beside, os.X_OK):
        return beside
    found = shutil.which(name)
    if found is None:
        raise SystemExit(f"{name} is not installed")
    return found


# -- measuring ------------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    out = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                out.extend(int(c) for c in fh.read().split())
    except OSError:
        pass
    return out


def _tree(pid: int) -> list[int]:
    pids, stack = [], [pid]
    while stack:
        p = stack.pop()
        pids.append(p)
        stack.extend(_children(p))
    return pids


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _run(cmd: list[str], env: dict | None, sample: bool) -> tuple[float, float]:
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    if sample:
        while proc.poll() is None:
            peak = max(peak, sum(_pss_kb(p) for p in _tree(proc.pid)))
            time.sleep(0.005)
    else:
        proc.wait()
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace")
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {err[-500:]}")
    return wall, peak / 1024


def timed(cmd: list[str], env: dict | None = None) -> float:
    """Wall seconds of ``cmd``, undisturbed: reading /proc/PID/smaps_rollup takes the
    process's memory-map lock, so the memory sampler slows what it watches."""
    return _run(cmd, env, sample=False)[0]


def sampled(cmd: list[str], env: dict | None = None) -> float:
    """Peak PSS of ``cmd``'s process tree in MB, sampled every 5 ms (a separate run)."""
    return _run(cmd, env, sample=True)[1]


def repeat(n: int, cmd: list[str]) -> tuple[float, float]:
    """(median wall of n timed runs, max peak of n sampled runs)."""
    walls = [timed(cmd) for _ in range(n)]
    return statistics.median(walls), max(sampled(cmd) for _ in range(n))


def warm(path: str) -> None:
    with open(path, "rb") as fh:
        while fh.read(1 << 24):
            pass


# -- images ---------------------------------------------------------------------------------


def engine_env() -> dict:
    env = dict(os.environ)
    env.setdefault("DOCKER_HOST", ENGINE_SOCK)
    return env


def have_image(tag: str) -> bool:
    return subprocess.run(["/usr/bin/docker", "image", "inspect", tag], env=engine_env(), capture_output=True).returncode == 0


def saved_image(tag: str, legacy: bool, path: str) -> str:
    if os.path.exists(path):
        return path
    if not have_image(tag):
        cmd = ["bash", os.path.join(ROOT, "sample_images", "build.sh"), "--tag", tag] + (["--legacy"] if legacy else [])
        subprocess.run(cmd, env=engine_env(), check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["/usr/bin/docker", "save", "-o", path, tag], env=engine_env(), check=True)
    return path


def synth_image(entries: int) -> str:
    path = os.path.join(WORK, f"synth-{entries}.tar")
    if not os.path.exists(path):
        sys.path.insert(0, HERE)
        from synth import write_save

        write_save(entries, path)
    return path


# -- runs -----------------------------------------------------------------------------------


def slimview_cmd(path: str, cache: str, tree: str | None = None) -> tuple[list[str], dict]:
    """`slimview report PATH --json` with its own cache; ``tree``: another checkout's code."""
    env = dict(os.environ, XDG_CACHE_HOME=cache)
    if tree is None:
        return [exe("slimview"), "report", path, "--json"], env
    env["PYTHONPATH"] = tree
    return [sys.executable, "-m", "slimview", "report", path, "--json"], env


def baseline_tree(rev: str) -> str:
    """A worktree of ``rev`` under bench/work (made once, reused)."""
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--verify", rev + "^{commit}"], capture_output=True, text=True, check=True).stdout.strip()
    tree = os.path.join(WORK, f"baseline-{commit[:12]}")
    if not os.path.isdir(tree):
        subprocess.run(["git", "-C", ROOT, "worktree", "add", "--detach", tree, commit], check=True, capture_output=True)
    return tree


def entry_count(path: str) -> int:
    import json

    out = subprocess.run([exe("slimview"), "report", path, "--json", "--no-files", "--no-cache"], capture_output=True, check=True)
    return json.loads(out.stdout)["image"]["entry_count"]


def compare(label: str, path: str, n: int, rows: list, baseline: str | None) -> None:
    warm(path)
    out = tempfile.mktemp(suffix=".json", dir=WORK)
    dive_wall, dive_mem = repeat(n, [exe("dive"), "--source", "docker-archive", path, "--json", out])
    cold_walls: list[float] = []
    cold_mems: list[float] = []
    reopen_walls: list[float] = []
    reopen_mems: list[float] = []
    base_walls: list[float] = []
    for _ in range(n):
        for probe, cold_list, reopen_list in ((timed, cold_walls, reopen_walls), (sampled, cold_mems, reopen_mems)):
            cache = tempfile.mkdtemp(dir=WORK, prefix="cache-")
            cold_list.append(probe(*slimview_cmd(path, cache)))
            reopen_list.append(probe(*slimview_cmd(path, cache)))
            shutil.rmtree(cache)
        if baseline is not None:  # interleaved with the runs above, so both see the same machine
            cache = tempfile.mkdtemp(dir=WORK, prefix="cache-")
            base_walls.append(timed(*slimview_cmd(path, cache, baseline)))
            shutil.rmtree(cache)
    if os.path.exists(out):
        os.unlink(out)
    cold, reopen = statistics.median(cold_walls), statistics.median(reopen_walls)
    base = statistics.median(base_walls) if base_walls else None
    rows.append((label, os.path.getsize(path), entry_count(path), dive_wall, dive_mem, cold, max(cold_mems), reopen, max(reopen_mems), base))
    print(
        f"  {label}: dive {dive_wall:.2f}s/{dive_mem:.0f}MB  slimview cold {cold:.2f}s/{max(cold_mems):.0f}MB  "
        f"reopen {reopen:.3f}s" + (f"  baseline cold {base:.2f}s" if base is not None else ""),
        flush=True,
    )


def startup_floor(n: int) -> float:
    """Wall time of the interpreter doing nothing, and of `slimview --version` (imports)."""
    walls = [timed([sys.executable, "-c", "pass"]) for _ in range(n)]
    return statistics.median(walls)


def oci_copy(source: str, compression: str) -> str:
    """``source`` (a docker save) as an oci-archive with ``compression`` layers (skopeo)."""
    path = os.path.join(WORK, f"{os.path.basename(source).removesuffix('.tar')}-{compression}.oci.tar")
    if not os.path.exists(path):
        partial = path + ".partial"
        cmd = ["skopeo", "copy", "-q", f"docker-archive:{source}", f"oci-archive:{partial}"]
        if compression == "zstd":
            cmd[3:3] = ["--dest-compress-format", "zstd"]
        subprocess.run(cmd, check=True, capture_output=True)
        os.replace(partial, path)
    return path


def engine_row(tag: str, n: int) -> tuple[float, float, float, float, float]:
    """(docker save alone, dive, slimview cold, slimview reopen, slimview peak MB) on an engine image.

    The three run in turn in each of ``n`` rounds: how long the engine takes to prepare a
    save drifts over minutes (4.2 to 11 s here for the same image), so runs of one tool in
    a block would measure the engine's mood as much as the tool."""
    env = engine_env()
    out = os.path.join(WORK, "dive-engine.json")
    cmd = [exe("slimview"), "report", tag, "--json"]
    saves, dives, cold, reopen, peak = [], [], [], [], []
    for _ in range(n):
        saves.append(timed(["/usr/bin/docker", "save", tag], env))
        dives.append(timed([exe("dive"), "--source", "docker", tag, "--json", out], env))
        cache = tempfile.mkdtemp(dir=WORK, prefix="cache-")
        cold.append(timed(cmd, dict(env, XDG_CACHE_HOME=cache)))
        reopen.append(timed(cmd, dict(env, XDG_CACHE_HOME=cache)))
        shutil.rmtree(cache)
    for _ in range(n):
        cache = tempfile.mkdtemp(dir=WORK, prefix="cache-")
        peak.append(sampled(cmd, dict(env, XDG_CACHE_HOME=cache)))
        shutil.rmtree(cache)
    return statistics.median(saves), statistics.median(dives), statistics.median(cold), statistics.median(reopen), max(peak)


FORMATS = ("text", "json", "markdown", "sarif")


def formats_row(path: str, n: int) -> list[tuple[str, float, float]]:
    """(format, wall, peak MB) of a cold `report --no-cache --format F` for every format."""
    out = []
    for fmt in FORMATS:
        wall, mem = repeat(n, [exe("slimview"), "report", path, "--no-cache", "--format", fmt])
        out.append((fmt, wall, mem))
        print(f"    {fmt}: {wall:.2f}s {mem:.0f}MB", flush=True)
    return out


def drop_caches() -> bool:
    """Empty the page cache (root only); whether it could."""
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as fh:
            fh.write("3\n")
        return True
    except OSError:
        return False


def large_image(gigabytes: int, small_files: int) -> str:
    path = os.path.join(WORK, f"large-{gigabytes}g.tar")
    if not os.path.exists(path):
        sys.path.insert(0, HERE)
        from synth import write_large_save

        big = gigabytes * 1_000_000_000 // 3
        write_large_save(path + ".partial", [big, big, big - 1_234_567], small_files)
        os.replace(path + ".partial", path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-engine", action="store_true", help="skip the real images")
    parser.add_argument("--scale", default="10000,100000,1000000")
    parser.add_argument("--dive-scale-max", type=int, default=20000, help="run dive on synthetic images up to this many entries")
    parser.add_argument("--large", type=int, default=10, metavar="GB", help="size of the large synthetic image (0: skip)")
    parser.add_argument("--out", default=os.path.join(HERE, "results", "latest.md"))
    parser.add_argument("--baseline", metavar="REV", help="also time the cold report of this git revision of slimview")
    args = parser.parse_args()
    os.makedirs(WORK, exist_ok=True)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    lines = [
        "# slimview benchmark",
        "",
        f"Machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
        f"dive {subprocess.run([exe('dive'), '--version'], capture_output=True, text=True).stdout.strip()}; "
        f"median of {args.repeat} runs, warm page cache. Run: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "",
    ]
    if not args.no_engine:
        print("real images (dive vs slimview):", flush=True)
        rows: list = []
        baseline = baseline_tree(args.baseline) if args.baseline else None
        buildkit = SAMPLE_TAR if os.path.exists(SAMPLE_TAR) else saved_image("python-inference:latest", False, os.path.join(WORK, "python-inference.tar"))
        compare("python-inference, BuildKit", buildkit, args.repeat, rows, baseline)
        legacy = saved_image("python-inference:legacy", True, os.path.join(WORK, "python-inference-legacy.tar"))
        compare("python-inference, legacy builder", legacy, args.repeat, rows, baseline)
        compare("python-inference, gzip layers (OCI archive)", oci_copy(buildkit, "gzip"), args.repeat, rows, baseline)
        for sample in ("node-service", "go-service"):
            if have_image(f"{sample}:latest"):
                path = os.path.join(WORK, f"{sample}.tar")
                if not os.path.exists(path):
                    subprocess.run(["/usr/bin/docker", "save", "-o", path, f"{sample}:latest"], env=engine_env(), check=True)
                compare(f"{sample}", path, args.repeat, rows, baseline)
        floor = startup_floor(args.repeat)
        lines += [
            "## slimview vs dive on the same tarball",
            "",
            "| image | tarball | entries | dive wall | dive peak | slimview cold | slimview peak | cold ratio | memory ratio "
            "| reopen | reopen ratio | reopen peak |" + (f" {args.baseline} cold | change |" if baseline else ""),
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|" + ("---:|---:|" if baseline else ""),
        ]
        for label, size, entries, dw, dm, cw, cm, rw, rm, base in rows:
            lines.append(
                f"| {label} | {size / 1e6:.0f} MB | {entries:,} | {dw:.2f} s | {dm:.0f} MB | {cw:.2f} s | {cm:.0f} MB | "
                f"{cw / dw:.2f}× | {cm / dm:.2f}× | {rw:.3f} s | {rw / dw:.2f}× | {rm:.0f} MB |"
                + (f" {base:.2f} s | {100 * (cw / base - 1):+.1f} % |" if base is not None else "")
            )
        zstd = oci_copy(buildkit, "zstd")
        warm(zstd)
        zstd_wall, zstd_mem = repeat(args.repeat, [exe("slimview"), "report", zstd, "--json", "--no-cache"])
        lines += ["", f"zstd layers (OCI archive, {os.path.getsize(zstd) / 1e6:.0f} MB; dive reads no zstd): slimview cold "
                  f"{zstd_wall:.2f} s, {zstd_mem:.0f} MB.", "",
                  f"Python interpreter start-up alone (`python3 -c pass`) on this machine: {floor:.3f} s.", ""]
        print("engine path:", flush=True)
        save, dive_engine, cold, reopen, peak = engine_row("python-inference:latest", args.repeat)
        lines += [
            "## From the engine (`python-inference:latest`, streamed `docker save`)",
            "",
            "| `docker save` alone | dive `--source docker` | slimview cold | ratio to dive | ratio to the save | slimview peak | reopen |",
            "|---:|---:|---:|---:|---:|---:|---:|",
            f"| {save:.2f} s | {dive_engine:.2f} s | {cold:.2f} s | {cold / dive_engine:.2f}× | {cold / save:.2f}× | {peak:.0f} MB | {reopen:.2f} s |",
            "",
        ]
        print(f"  save {save:.2f}s dive {dive_engine:.2f}s slimview {cold:.2f}s/{peak:.0f}MB reopen {reopen:.2f}s", flush=True)
    print("scale (slimview cold index, --no-cache):", flush=True)
    lines += [
        "## Scale: synthetic images (4 layers, overwrites, file and directory deletions, chmod)",
        "",
        f"slimview `report --no-cache` in each format; on the images of at most {args.dive_scale_max:,} entries "
        "dive `--json` beside `--json` (its whiteout handling re-stacks every lower layer for each "
        "deleted path: on the 96,575-entry image it needed 397 s once).",
        "",
        "| entries | tarball | format | wall | peak memory (PSS) | µs per entry | dive wall | dive peak | ratio |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for n in [int(x) for x in args.scale.split(",") if x]:
        path = synth_image(n)
        warm(path)
        entries = entry_count(path)
        print(f"  {n:,}:", flush=True)
        dive_cells = "| — | — | — |"
        for fmt, wall, mem in formats_row(path, args.repeat):
            if fmt == "json" and n <= args.dive_scale_max:
                out = os.path.join(WORK, "dive-scale.json")
                dive_wall, dive_mem = repeat(args.repeat, [exe("dive"), "--source", "docker-archive", path, "--json", out])
                os.unlink(out)
                dive_cells = f"| {dive_wall:.2f} s | {dive_mem:.0f} MB | {wall / dive_wall:.2f}× |"
            cells = dive_cells if fmt == "json" else "| — | — | — |"
            lines.append(f"| {entries:,} | {os.path.getsize(path) / 1e6:.0f} MB | {fmt} | {wall:.2f} s | {mem:.0f} MB | {wall / entries * 1e6:.1f} {cells}")
    if args.large:
        print(f"large image ({args.large} GB):", flush=True)
        path = large_image(args.large, 500_000)
        size = os.path.getsize(path)
        cat_walls, walls, cold_cat, cold_walls = [], [], [], []
        for _ in range(args.repeat):
            cat_walls.append(timed(["cat", path]))
            walls.append(timed([exe("slimview"), "report", path, "--no-cache"]))
            if drop_caches():  # the bytes read from disk, as on a first run
                cold_cat.append(timed(["cat", path]))
                drop_caches()
                cold_walls.append(timed([exe("slimview"), "report", path, "--no-cache"]))
        mem = sampled([exe("slimview"), "report", path, "--no-cache"])
        cat_wall, wall = statistics.median(cat_walls), statistics.median(walls)
        lines += [
            "",
            f"## A large image ({size / 1e9:.1f} GB: three files of about {args.large / 3:.1f} GB, 500,000 small ones, one big file deleted)",
            "",
            "| bytes | `cat FILE` (read its bytes once) | slimview `report --no-cache` | ratio | peak memory (PSS) |",
            "|---|---:|---:|---:|---:|",
            f"| in the page cache | {cat_wall:.2f} s | {wall:.2f} s | {wall / cat_wall:.2f}× | {mem:.0f} MB |",
        ]
        if cold_walls:
            cold_c, cold_w = statistics.median(cold_cat), statistics.median(cold_walls)
            lines.append(f"| from disk (caches dropped) | {cold_c:.2f} s | {cold_w:.2f} s | {cold_w / cold_c:.2f}× | |")
            print(f"  from disk: cat {cold_c:.2f}s slimview {cold_w:.2f}s", flush=True)
        print(f"  cat {cat_wall:.2f}s slimview {wall:.2f}s {mem:.0f}MB", flush=True)
    text = "\n".join(lines) + "\n"
    with open(args.out, "w") as fh:
        fh.write(text)
    print()
    print(text)


if __name__ == "__main__":
    main()
