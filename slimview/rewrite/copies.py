"""COPY and ADD in the rewrite, for every stack: the original's step read with its
destination made absolute (and its sources guessed when the history kept only a hash of
them), and the runtime's copy of the build context trimmed to the application's own files,
owned by the user that runs it (``COPY --chown`` instead of a ``chown -R`` layer).
"""

from __future__ import annotations

import posixpath
import re
import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING

from slimview.dockerfile import shell as cmd
from slimview.dockerfile.instruction import Instruction
from slimview.dockerfile.values import exec_array
from slimview.findings.model import FindingKind
from slimview.rewrite.layers import CopiedEntry
from slimview.rewrite.model import Fix, fixes

if TYPE_CHECKING:
    from slimview.rewrite.writer import StageWriter

MAX_EXPLICIT_COPIES = 8
ARCHIVES = (".tar", ".tar.gz", ".tgz", ".tar.xz", ".tar.bz2")
_UNKNOWN_SOURCE = re.compile(r"^<unknown source: (?P<kind>\w+):(?P<hash>[0-9a-f]+)…>$")


@dataclass
class CopyStep:
    """A COPY or ADD, its destination made absolute."""

    keyword: str
    flags: list[str]
    sources: list[str]
    dest: str  # absolute; ends with "/" when it names a directory
    unknown: str = ""  # "dir:e7a2da247d16" when the history kept only a hash of the sources

    @property
    def from_stage(self) -> str:
        return next((f.split("=", 1)[1] for f in self.flags if f.startswith("--from=")), "")

    @property
    def reads_context(self) -> bool:
        if self.from_stage:
            return False
        return not any(s.startswith(("http://", "https://", "git@")) for s in self.sources)

    @property
    def whole_context(self) -> bool:
        return self.sources in (["."], ["./"])

    def dest_for(self, name: str) -> str:
        return posixpath.join(self.dest, name) if self.dest.endswith("/") else self.dest


def parse_copy(instruction: Instruction, workdir: str) -> CopyStep:
    text = instruction.args
    flags = []
    words = text.split()
    while words and words[0].startswith("--"):
        flags.append(words.pop(0))
    rest = text.split(None, len(flags))[-1] if flags else text
    parts = exec_array(rest) if rest.lstrip().startswith("[") else None
    if parts is None:
        m = re.match(r"^(<unknown source: [^>]*>)\s+(.+)$", rest.strip())
        parts = [m.group(1), m.group(2)] if m else shlex.split(rest) if _quoted_ok(rest) else rest.split()
    sources, dest = parts[:-1], parts[-1] if parts else ""
    directory = dest.endswith("/") or dest in (".", "./") or len(sources) > 1
    absolute = posixpath.normpath(posixpath.join(workdir or "/", dest))
    if directory and not absolute.endswith("/"):
        absolute += "/"
    unknown = ""
    m = _UNKNOWN_SOURCE.match(sources[0]) if len(sources) == 1 else None
    if m:
        kind, unknown = m.group("kind"), f"{m.group('kind')}:{m.group('hash')}"
        if kind in ("dir", "multi") and not absolute.endswith("/"):
            absolute += "/"
        sources = _guess_sources(kind, absolute, workdir)
    return CopyStep(instruction.keyword, flags, sources, absolute, unknown)


def _guess_sources(kind: str, dest: str, workdir: str) -> list[str]:
    """Sources for a COPY whose history kept only a hash of them. A directory copied into
    the WORKDIR is taken for the context (``COPY . .``), one copied elsewhere for the context
    directory of the same name; a file keeps its name. Several files, or a file copied into
    a directory, are the context's, named after what the layer holds."""
    if kind == "dir":
        if dest.rstrip("/") == workdir.rstrip("/") or dest == "/":
            return ["."]
        return [posixpath.basename(dest.rstrip("/")) + "/"]
    if kind == "file" and not dest.endswith("/"):
        return [posixpath.basename(dest)]
    return ["."]


def _quoted_ok(text: str) -> bool:
    try:
        shlex.split(text)
        return True
    except ValueError:
        return False


def within(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip("/") + "/")


# -- the runtime's copies ---------------------------------------------------------------------------


def chown_covers(command: cmd.Command, step: CopyStep) -> bool:
    dest = step.dest.rstrip("/") or "/"
    return any(within(posixpath.normpath(p), dest) or within(dest, posixpath.normpath(p)) for p in command.paths)


def chown_covered(w: StageWriter, command: cmd.Command, layer: int | None) -> bool:
    """Whether every path a ``chown -R`` changes is a COPY destination, now copied with
    --chown (the chown layer stored every file again)."""
    dests = [step.dest.rstrip("/") or "/" for step in w.original.copies.values() if step.reads_context]
    covered = all(any(within(posixpath.normpath(p), d) for d in dests) for p in command.paths)
    if covered:
        saved = w.facts.layer_bytes.get(layer, 0) if layer is not None else 0
        w.ledger.fixes.append(Fix(FindingKind.HIDDEN_BYTES, f"`{command.text}` replaced by COPY --chown={command.owner}", saved))
    return covered


def rewrite_copy(w: StageWriter, n: int, ins: Instruction) -> list[Instruction]:
    """The runtime's instructions for the original's COPY/ADD ``n``: the application's own
    files (junk and the stack's manifests left out), owned by the user that runs them."""
    step = w.original.copies[n]
    if not step.reads_context:
        return [ins]
    if step.keyword == "ADD" and any(s.endswith(ARCHIVES) for s in step.sources):
        return [ins]  # ADD unpacks these archives
    flags = step.flags
    owner = w.owner
    if owner:
        flags = [f"--chown={owner}", *(f for f in step.flags if not f.startswith("--chown="))]
    comments = w.ledger.comments(n)
    for chown in w.original.chowns:
        if chown.owner == owner and chown_covers(chown, step):
            comments.append(f"--chown instead of a later `{chown.text}` layer that stored every file again.")
    if step.unknown:
        guess = f"`{' '.join(step.sources)}` is" if step.sources != ["."] else "the names below (from the layer) are"
        comments.append(f"The history kept only a hash of the sources ({step.unknown[:17]}…), so {guess} a guess.")
    entries = w.facts.entries(step, w.source.instructions[n].layer)
    if not step.unknown and all(w.stack.is_manifest(posixpath.basename(s), False) for s in step.sources):
        return []  # dependency manifests: the builder has them, the program does not read them
    if entries is None:
        return [_as_written(w, step, flags, comments)]
    app = [e for e in entries if not _skipped(w, e)]
    junk = [e for e in entries if e not in app and not w.stack.is_manifest(e.name, e.is_dir)]
    w.ledger.app_bytes += sum(e.bytes for e in app)
    if junk:
        saved = sum(e.bytes for e in junk)
        names = ", ".join(e.name for e in junk[:6]) + (" …" if len(junk) > 6 else "")
        secret = [e.name for e in junk if e.name in w.facts.secrets]
        note = f"; {', '.join(secret)} held credentials (fixes secret)" if secret else ""
        comments.append(f"Application files only: {names} left out{fixes((FindingKind.CONTEXT_JUNK, saved))}{note}.")
        w.ledger.fixes.append(Fix(FindingKind.CONTEXT_JUNK, "left out of the copy: " + ", ".join(e.name for e in junk), saved))
        if secret:
            w.ledger.fixes.append(Fix(FindingKind.SECRET, "credentials left out of the copy: " + ", ".join(secret)))
    if not app:
        return []
    prefix = _source_prefix(step)
    if len(app) > MAX_EXPLICIT_COPIES:
        source = prefix or "."
        w.ledger.copied.append((source, True))
        comments.append("Many top-level entries: the whole context, trimmed by the .dockerignore.")
        return [Instruction("COPY", " ".join([*flags, source, step.dest]), comments)]
    out = []
    files = [posixpath.join(prefix, e.name) for e in app if not e.is_dir]
    if files:
        w.ledger.copied += [(f, False) for f in files]
        out.append(Instruction("COPY", " ".join([*flags, *files, step.dest]), comments))
        comments = []
    for e in (e for e in app if e.is_dir):
        source = posixpath.join(prefix, e.name)
        w.ledger.copied.append((source, True))
        out.append(Instruction("COPY", " ".join([*flags, source + "/", step.dest_for(e.name) + "/"]), comments))
        comments = []
    return out


def replay_in_builder(w: StageWriter, ns: list[int]) -> list[Instruction]:
    """The original's context copies ``ns`` in the builder stage, as written (without the
    owner: the builder's files are root's until the runtime copies what it needs)."""
    out = []
    for n in ns:
        step = w.original.copies[n]
        flags = [f for f in step.flags if not f.startswith(("--chown=", "--chmod="))]
        comments = w.ledger.comments(n)
        if step.unknown:
            comments.append(f"The history kept only a hash of the sources ({step.unknown[:17]}…), so `{' '.join(step.sources)}` is a guess.")
        out.append(_as_written(w, step, flags, comments))
    return out


def left_in_builder(w: StageWriter, n: int) -> None:
    """The runtime's share of the original's context copy ``n`` when the builder alone reads
    it: nothing, so its junk and secrets never reach the runtime (recorded as fixed)."""
    step = w.original.copies[n]
    entries = w.facts.entries(step, w.source.instructions[n].layer) or []
    junk = [e for e in entries if w.facts.junk(e.name) and not w.stack.is_manifest(e.name, e.is_dir)]
    if junk:
        w.ledger.fixes.append(Fix(
            FindingKind.CONTEXT_JUNK, "the context stays in the builder stage, without " + ", ".join(e.name for e in junk), sum(e.bytes for e in junk),
        ))
    secret = [e.name for e in junk if e.name in w.facts.secrets]
    if secret:
        w.ledger.fixes.append(Fix(FindingKind.SECRET, "credentials left out of the context: " + ", ".join(secret)))
    w.ledger.context_in_builder = True


def _as_written(w: StageWriter, step: CopyStep, flags: list[str], comments: list[str]) -> Instruction:
    sources = step.sources
    for s in sources:
        w.ledger.copied.append((s, s in (".", "./") or s.endswith("/")))
    keyword = "COPY" if step.keyword == "ADD" and not any("://" in s for s in sources) else step.keyword
    return Instruction(keyword, " ".join([*flags, *sources, step.dest]), comments)


def _source_prefix(step: CopyStep) -> str:
    if step.whole_context or len(step.sources) != 1:
        return ""
    return step.sources[0].rstrip("/")


def _skipped(w: StageWriter, entry: CopiedEntry) -> bool:
    return w.stack.is_manifest(entry.name, entry.is_dir) or w.facts.junk(entry.name)


def context_path(w: StageWriter, absolute: str) -> str | None:
    """Where in the build context a file that was copied to ``absolute`` came from."""
    for step in reversed(list(w.original.copies.values())):
        if not step.reads_context or not step.dest.endswith("/") or not absolute.startswith(step.dest):
            continue
        rel = absolute[len(step.dest):]
        if step.whole_context:
            return rel
        named = [s for s in step.sources if not s.endswith("/") and posixpath.basename(s) == rel]
        if named:
            return named[-1]  # a file copied into the directory under its own name
        if len(step.sources) == 1:
            return posixpath.normpath(posixpath.join(step.sources[0], rel))
    return None
