"""What to say about one finding, for people: the kind-specific facts every plain output
(text, Markdown, SARIF) shows under a finding's title, humanized here at the edge."""

from __future__ import annotations

from slimview.display import human_bytes, printable
from slimview.dockerfile.history import NO_HISTORY, short_instruction
from slimview.findings.details import (
    CacheDetails,
    DebugInfoDetails,
    DevDependenciesDetails,
    HiddenDetails,
    JunkDetails,
    PackageManagerPid1Details,
    SecretDetails,
    SourcesDetails,
    ToolchainDetails,
    ToolPackage,
    ToolPackagesDetails,
    ToolPathsDetails,
)
from slimview.findings.model import Finding
from slimview.packages.classify import BuildRole

TOP_ITEMS = 6  # packages, paths or candidates named per finding; the rest are counted


# Build roles of packages, in the order they are listed, with short labels.
_CATEGORY_LABELS = {
    BuildRole.COMPILER: "compilers",
    BuildRole.HEADERS: "headers",
    BuildRole.BINUTILS: "binutils",
    BuildRole.BUILD_SYSTEM: "build tools",
    BuildRole.VCS: "vcs",
    BuildRole.JDK: "jdk",
    BuildRole.DEPENDENCY: "pulled in",
}


def _more(total: int, shown: int) -> str:
    return f", … {total - shown} more" if total > shown else ""


def _packages(items: list[ToolPackage]) -> str:
    head = ", ".join(f"{p.name} {human_bytes(p.bytes)}" for p in items[:TOP_ITEMS])
    return head + _more(len(items), TOP_ITEMS)


def kind_facts(finding: Finding) -> list[tuple[str, str]]:
    """(label, text) lines particular to the finding's kind."""
    d = finding.details
    facts: list[tuple[str, str]] = []
    if isinstance(d, ToolPackagesDetails):
        by_category: dict[BuildRole, list[ToolPackage]] = {}
        for p in d.packages:
            by_category.setdefault(p.category, []).append(p)
        for category, label in _CATEGORY_LABELS.items():
            if category in by_category:
                note = " (needed only by the build tools)" if category == BuildRole.DEPENDENCY else ""
                facts.append((label, _packages(by_category[category]) + note))
        for r in d.removed_packages:
            kept = ", ".join(r.still_installed[:TOP_ITEMS]) + _more(len(r.still_installed), TOP_ITEMS)
            facts.append(("left behind", f"layer {r.layer} removed {r.removed} but kept {kept}"))
    elif isinstance(d, ToolPathsDetails):
        if d.categories:
            facts.append(("found", ", ".join(f"{k} {human_bytes(v)}" for k, v in d.categories.items())))
    elif isinstance(d, DevDependenciesDetails):
        if d.dev_dependencies:
            facts.append(("dev deps", ", ".join(d.dev_dependencies[:TOP_ITEMS * 2]) + _more(len(d.dev_dependencies), TOP_ITEMS * 2)))
        facts.append(("packages", ", ".join(f"{p.name} {human_bytes(p.bytes)}" for p in d.packages[:TOP_ITEMS]) + _more(len(d.packages), TOP_ITEMS)))
        facts.append(("told by", printable(d.lockfile) if d.lockfile else "package.json (no lockfile: top-level devDependencies only)"))
    elif isinstance(d, ToolchainDetails):
        facts.append(("program", f"{printable(d.program)}, {d.linkage}" + (f", built by {d.built_with}" if d.built_with else "")))
        if d.needs:
            needs = ", ".join(d.needs)
            facts.append(("needs", needs + (f" ({', '.join(d.runtime_packages)}: {human_bytes(d.runtime_bytes)})" if d.runtime_packages else "")))
        facts.append(("toolchain", ", ".join(f"{printable(t.label)} {human_bytes(t.bytes)}" for t in d.toolchain)))
    elif isinstance(d, DebugInfoDetails):
        facts.append(("strip", f"DWARF {human_bytes(d.dwarf_bytes)}, symbols {human_bytes(d.symbol_bytes)} ("
                      + ", ".join(s.name for s in d.sections[:TOP_ITEMS]) + _more(len(d.sections), TOP_ITEMS) + ")"))
    elif isinstance(d, CacheDetails):
        facts.append(("where", ", ".join(d.roots)))
    elif isinstance(d, HiddenDetails):
        if finding.layer == d.hidden_by and d.stored_in != d.hidden_by:
            facts.append(("stored by", f"layer {d.stored_in}"))
        else:
            facts.append(("hidden by", f"layer {d.hidden_by} {short_instruction(d.hidden_by_instruction)}"))
        if d.packages:
            facts.append(("packages", ", ".join(
                f"{p.name} {p.from_version or '?'} → {p.to_version or '?'} {human_bytes(p.bytes)}" for p in d.packages[:TOP_ITEMS]
            ) + _more(len(d.packages), TOP_ITEMS)))
        elif d.metadata_changes:
            facts.append(("changed", ", ".join(
                (f"owner {c.owner_before} → {c.owner_after}" if c.owner_before != c.owner_after else "")
                + (", " if c.owner_before != c.owner_after and c.mode_before != c.mode_after else "")
                + (f"mode {c.mode_before} → {c.mode_after}" if c.mode_before != c.mode_after else "")
                + f" ({c.files} file(s), {human_bytes(c.bytes)})"
                for c in d.metadata_changes[:TOP_ITEMS]
            ) + _more(len(d.metadata_changes), TOP_ITEMS)))
        elif d.contents and d.contents[0].label != "other files":
            facts.append(("contents", ", ".join(f"{c.label} {human_bytes(c.bytes)}" for c in d.contents)))
    elif isinstance(d, JunkDetails):
        facts.append(("candidates", ", ".join(f"{c.pattern} {human_bytes(c.bytes)}" for c in d.candidates)))
    elif isinstance(d, SourcesDetails):
        facts.append(("compiled", printable(d.compiled)))
        facts.append(("shipped", ", ".join(f"{c.category} {human_bytes(c.bytes)}" for c in d.candidates)))
    elif isinstance(d, PackageManagerPid1Details):
        facts.append(("command", printable(" ".join(d.command))))
        if d.runs:
            facts.append(("runs", f"{d.script}: {printable(d.runs)}"))
    elif isinstance(d, SecretDetails):
        facts.append(("secrets", ", ".join(
            m.kind + (f" in {m.name}" if m.name else "") + f" (line {m.line}, fingerprint {m.fingerprint})"
            for m in d.matches[:TOP_ITEMS]
        ) + _more(len(d.matches), TOP_ITEMS)))
    return facts


def path_facts(finding: Finding, limit: int = 3) -> str:
    """The largest paths of a finding with their sizes."""
    if not finding.paths:
        return ""
    shown = ", ".join(f"/{printable(p.path)} {human_bytes(p.size)}" for p in finding.paths[:limit])
    return shown + _more(len(finding.paths), limit)


def layer_fact(finding: Finding) -> str:
    if finding.layer is None:
        return ""
    text = short_instruction(finding.instruction) or NO_HISTORY
    return f"{finding.layer} {text}"
