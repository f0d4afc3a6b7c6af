"""Programs the image's owner built, as the index read them (slimview/elf.py): which the
final image shows, and the debug information and symbol tables left in them.
"""

from __future__ import annotations

from dataclasses import dataclass

from slimview.display import printable
from slimview.elf import Program
from slimview.findings.details import DebugInfoDetails
from slimview.findings.model import Finding, FindingKind, FindingPath
from slimview.findings.view import ImageView


@dataclass(frozen=True)
class ImageProgram:
    """A program and where the image keeps it."""

    path: str
    layer: int
    elf: Program


def read_programs(view: ImageView) -> list[ImageProgram]:
    """The programs the final image shows, from the records the index kept."""
    out = []
    for layer in view.layers:
        files = layer.files
        visible = view.visible[layer.index]
        for i, program in files.programs.items():
            if visible[i]:
                out.append(ImageProgram(files.paths[i], layer.index, program))
    return out


# -- debug information ---------------------------------------------------------------------------

DEBUG_MIN_BYTES = 64 << 10


def _strip_fix(program: Program) -> str:
    if program.is_go:
        return (
            'Build with `go build -trimpath -ldflags="-s -w" …`: -s drops the symbol table, -w the DWARF '
            "information (panics still print file and line: Go keeps its own line tables)."
        )
    return (
        "Strip it when it is built: link with `-s` (or run `strip --strip-all` on it in the build stage; Rust: "
        "`strip = true` in the release profile). Keep the debug information in a separate file if you need it "
        "(`objcopy --only-keep-debug`)."
    )


def detect(view: ImageView, programs: list[ImageProgram]) -> list[Finding]:
    findings = []
    for found in programs:
        program, path, layer = found.elf, found.path, found.layer
        total = program.dwarf_bytes + program.symbol_bytes
        if total < DEBUG_MIN_BYTES:
            continue
        what = " and ".join(w for w, n in (("DWARF debug information", program.dwarf_bytes), ("symbol tables", program.symbol_bytes)) if n)
        findings.append(
            view.finding(
                kind=FindingKind.BUILD_TOOLS,
                title=f"Unstripped program /{printable(path)}: {what} added by {view.quoted(layer)}",
                saved=total,
                layer_no=layer,
                paths=[FindingPath(path, program.size, layer)],
                evidence=(
                    f"Of its {program.size} bytes, {total} are sections only a debugger reads: "
                    + ", ".join(f"{printable(s.name)} ({s.bytes} bytes)" for s in program.strippable[:8])
                    + (" …" if len(program.strippable) > 8 else "") + "."
                ),
                fix=_strip_fix(program),
                details=DebugInfoDetails(
                    "/" + path, "go" if program.is_go else "", program.linkage, program.dwarf_bytes,
                    program.symbol_bytes, program.strippable,
                ),
            )
        )
    return findings
