"""The long fuzz run: 100,000 generated inputs (by default) through every reader; zero
unexpected exceptions expected.

    python3 bench/fuzz_long.py                      # 100,000 inputs, one process per CPU
    python3 bench/fuzz_long.py --inputs 1000000 --seed 7
    python3 bench/fuzz_long.py --atheris layer --runs 200000   # coverage-guided (pip install atheris)

The default engine mixes the same targets as tests/test_fuzz_readers.py, with the same
seeds, mutators and generators (tests/hostile.py): mutated archives (verified and not),
mutated layers through their compression, manifest/config JSON mutations, OCI layouts,
structure-aware random layers and archives, and history lines. Each input runs through
build_index and everything a report reaches, with a 10 s limit per input. Inputs that
raise anything but SlimviewError (or hang) are written to bench/work/fuzz-crashes/ and
the run exits 1. The last line is a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

import hostile  # noqa: E402

CRASH_DIR = os.path.join(HERE, "work", "fuzz-crashes")
HISTORY = [
    '/bin/sh -c #(nop)  CMD ["a" "b\\x41"]', "RUN /bin/sh -c apt-get update # buildkit", 'SHELL ["/bin/bash", "-c"]',
    "|2 A=1 B=2 /bin/sh -c make", "/bin/sh -c #(nop)  ENV PATH=/a:$PATH", "/bin/sh -c #(nop) COPY file:0123456789abcdef in /app ",
    "EXPOSE map[8000/tcp:{}]", 'HEALTHCHECK &{["CMD-SHELL" "curl x"] "30s" "5s" "0s" \'\\x03\'}', '/bin/sh -c #(nop)  LABEL a=b c="d e"',
    "WORKDIR /app", "/bin/sh -c #(nop)  ENTRYPOINT [\"/bin/tini\" \"--\"]", "ONBUILD RUN x", "USER 1000:1000", "ARG A=1",
]


def _seed_layer(data: bytes) -> bytes:
    for _h, at, size in hostile.tar_members(data):
        inner = hostile.decompress(data[at : at + size])
        if len(inner) >= 1024 and inner[257:262] == b"ustar":
            return inner
    return hostile.simple_layer()


def worker(args) -> dict:
    seed, count = args
    rng = random.Random(seed)
    mutate = hostile.Mutator(rng)
    seeds = hostile.fuzz_seeds()
    base_layers = [hostile.simple_layer(), hostile.tar(hostile.member("app/x", b"1"), hostile.member(".wh.etc", b""))]
    work = tempfile.mkdtemp(prefix="slimview-fuzz-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    target = hostile.FuzzTarget(work, seconds=10.0)
    kinds: dict[str, int] = {}
    try:
        for _ in range(count):
            kind = rng.choices(
                ["archive", "archive-unverified", "layer", "metadata", "oci", "random-layer", "random-archive", "history"],
                weights=[20, 15, 20, 10, 8, 12, 8, 7],
            )[0]
            kinds[kind] = kinds.get(kind, 0) + 1
            name, seed_data = rng.choice(seeds)
            if kind in ("archive", "archive-unverified"):
                suffix = ".tar.gz" if name.endswith("whole-gzip") else ".tar"
                target.archive(mutate.mutate(seed_data), suffix=suffix, verify=kind == "archive")
            elif kind == "layer":
                target.layer(mutate.mutate(_seed_layer(seed_data)))
            elif kind == "metadata":
                target.archive(hostile.metadata_variant(mutate, base_layers))
            elif kind == "oci":
                files = hostile.oci_variant(mutate)
                if rng.random() < 0.5:
                    target.archive(hostile.tar(*(hostile.member(n, d) for n, d in sorted(files.items()))))
                else:
                    _layout(target, work, files)
            elif kind == "random-layer":
                target.layer(hostile.random_layer(rng))
            elif kind == "random-archive":
                data = hostile.Archive([hostile.random_layer(rng) for _ in range(rng.randint(1, 3))]).build()
                if rng.random() < 0.3:
                    target.archive(hostile.gzip_bytes(data), suffix=".tar.gz")
                else:
                    target.archive(data, verify=False)
            else:
                lines = [mutate.mutate(line.encode(), 2).decode("utf-8", "surrogateescape") if rng.random() < 0.6 else line
                         for line in rng.sample(HISTORY, rng.randint(1, 8))]
                target.history(lines)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    crashes = []
    for n, (name, error, data) in enumerate(target.failures):
        os.makedirs(CRASH_DIR, exist_ok=True)
        path = os.path.join(CRASH_DIR, f"seed{seed}-{n}-{name}.bin")
        with open(path, "wb") as fh:
            fh.write(data)
        crashes.append({"target": name, "error": error, "input": path})
    return {"runs": target.runs, "rejected": target.rejected, "completed": target.completed, "kinds": kinds, "crashes": crashes}


def _layout(target, work, files) -> None:
    from slimview.index import IndexOptions, build_index

    root = os.path.join(work, "layout")
    shutil.rmtree(root, ignore_errors=True)
    for name, data in files.items():
        path = os.path.join(root, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(data)
    target._timed("layout", files["index.json"], lambda: hostile.exercise_index(build_index(root, IndexOptions(use_cache=False))))


def run_atheris(which: str, runs: int) -> None:
    """Coverage-guided fuzzing of one target with atheris (libFuzzer)."""
    import atheris

    with atheris.instrument_imports(include=["slimview"]):
        import slimview.index
        import slimview.report.jsondoc
        import slimview.report.text  # noqa: F401

    work = tempfile.mkdtemp(prefix="slimview-atheris-")
    target = hostile.FuzzTarget(work, seconds=10.0)

    def one(data: bytes) -> None:
        if which == "layer":
            target.layer(data)
        else:
            target.archive(data, verify=False)
        if target.failures:
            name, error, _data = target.failures[-1]
            raise RuntimeError(f"{name}: {error}")  # libFuzzer saves the input as crash-<sha1>

    corpus = os.path.join(HERE, "work", f"atheris-{which}")
    os.makedirs(corpus, exist_ok=True)
    for name, data in hostile.fuzz_seeds():
        with open(os.path.join(corpus, name), "wb") as fh:
            fh.write(_seed_layer(data) if which == "layer" else data)
    atheris.Setup([sys.argv[0], f"-runs={runs}", "-max_len=200000", f"-artifact_prefix={CRASH_DIR}/", corpus], one)
    os.makedirs(CRASH_DIR, exist_ok=True)
    atheris.Fuzz()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--atheris", choices=["layer", "archive"], help="coverage-guided run of one target instead")
    parser.add_argument("--runs", type=int, default=100_000, help="with --atheris: executions")
    args = parser.parse_args()
    if args.atheris:
        run_atheris(args.atheris, args.runs)
        return
    chunk = 2_000
    tasks = [(args.seed * 1_000_003 + k, min(chunk, args.inputs - k * chunk)) for k in range((args.inputs + chunk - 1) // chunk)]
    started = time.monotonic()
    total = {"runs": 0, "rejected": 0, "completed": 0, "kinds": {}, "crashes": []}
    with multiprocessing.get_context("fork").Pool(args.jobs, maxtasksperchild=5) as pool:
        for result in pool.imap_unordered(worker, tasks):
            for key in ("runs", "rejected", "completed"):
                total[key] += result[key]
            for kind, n in result["kinds"].items():
                total["kinds"][kind] = total["kinds"].get(kind, 0) + n
            total["crashes"] += result["crashes"]
            print(f"{total['runs']:>9,} inputs  {time.monotonic() - started:7.1f} s  crashes {len(total['crashes'])}", file=sys.stderr, flush=True)
    total["seconds"] = round(time.monotonic() - started, 1)
    total["unexpected_exceptions"] = len(total["crashes"])
    for crash in total["crashes"][:20]:
        print(f"CRASH {crash['target']}: {crash['error']}  ({crash['input']})", file=sys.stderr)
    print(json.dumps({k: v for k, v in total.items() if k != "crashes"} | {"crash_inputs": [c["input"] for c in total["crashes"]]}))
    sys.exit(1 if total["crashes"] else 0)


if __name__ == "__main__":
    main()
