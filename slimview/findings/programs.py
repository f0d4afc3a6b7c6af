"""Programs the image's owner built: the ELF executables the index kept (see
index/capture.py), read with pyelftools.

For each: whether it is static or loads shared libraries (and which), whether Go built it
(its build information: the Go version and build settings such as CGO_ENABLED), and the
sections ``strip`` (or Go's ``-ldflags "-s -w"``) would remove: DWARF debugging
information and the symbol table with its strings.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass, field

from slimview.display import printable
from slimview.findings.details import DebugInfoDetails, ElfSection, ProgramLinkage
from slimview.findings.model import Finding, FindingKind, FindingPath
from slimview.findings.view import ImageView, severity_for
from slimview.index.capture import ELF_MAGIC

_DWARF_PREFIXES = (".debug_", ".zdebug_")
_SYMBOL_SECTIONS = frozenset({".symtab", ".strtab"})
_GO_BUILDINFO_MAGIC = b"\xff Go buildinf:"
_GO_MODINFO_SENTINEL = 16  # modinfo is wrapped in 16 bytes of sentinel on each side
# Errors a malformed or hostile ELF body makes pyelftools (or the struct reads) raise,
# besides its own ELFError.
BAD_ELF = (ValueError, struct.error, IndexError, KeyError, AssertionError, UnicodeDecodeError, EOFError)


@dataclass(frozen=True)
class Program:
    path: str
    layer: int
    size: int
    linkage: ProgramLinkage
    interpreter: str  # the dynamic loader it names ("" when static)
    needed: list[str]  # DT_NEEDED shared libraries
    go_version: str  # "go1.19.8" when Go built it, else ""
    go_settings: dict[str, str] = field(default_factory=dict)  # build settings (CGO_ENABLED, -ldflags, …)
    strippable: list[ElfSection] = field(default_factory=list)  # DWARF and symbol sections, largest first

    @property
    def is_go(self) -> bool:
        return bool(self.go_version)

    @property
    def dwarf_bytes(self) -> int:
        return sum(s.bytes for s in self.strippable if s.name.startswith(_DWARF_PREFIXES))

    @property
    def symbol_bytes(self) -> int:
        return sum(s.bytes for s in self.strippable if s.name in _SYMBOL_SECTIONS)


def read_program(path: str, layer: int, body: bytes) -> Program | None:
    """The program an ELF body is, or None when it is not an executable ELF file (or does not parse)."""
    if not body.startswith(ELF_MAGIC):
        return None
    # Imported here: pyelftools takes ~30 ms to import, a tenth of slimview's start-up, and
    # only images holding a program the index kept need it.
    from elftools.common.exceptions import ELFError
    from elftools.elf.dynamic import DynamicSection
    from elftools.elf.elffile import ELFFile
    from elftools.elf.segments import InterpSegment

    try:
        elf = ELFFile(io.BytesIO(body))
        if elf.header.e_type not in ("ET_EXEC", "ET_DYN"):
            return None
        interpreter = ""
        for segment in elf.iter_segments():
            if isinstance(segment, InterpSegment):
                interpreter = segment.get_interp_name()
        if elf.header.e_type == "ET_DYN" and not interpreter and elf.get_section_by_name(".go.buildinfo") is None:
            return None  # a shared library, not a program (static-PIE Go programs carry build information)
        needed: list[str] = []
        strippable: list[ElfSection] = []
        go_version, go_settings = "", dict[str, str]()
        for section in elf.iter_sections():
            name = section.name
            if isinstance(section, DynamicSection):
                needed = [str(getattr(tag, "needed", "")) for tag in section.iter_tags("DT_NEEDED")]
            elif name == ".go.buildinfo":
                go_version, go_settings = _go_buildinfo(section.data())
            elif (name.startswith(_DWARF_PREFIXES) or name in _SYMBOL_SECTIONS) and section["sh_type"] != "SHT_NOBITS":
                strippable.append(ElfSection(name, section["sh_size"]))
    except (ELFError, *BAD_ELF):
        return None
    strippable.sort(key=lambda s: (-s.bytes, s.name))
    linkage = ProgramLinkage.DYNAMIC if interpreter or needed else ProgramLinkage.STATIC
    return Program(path, layer, len(body), linkage, interpreter, needed, go_version, go_settings, strippable)


def _uvarint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while at < len(data) and shift < 64:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7
    raise ValueError("varint runs past the data")


def _go_buildinfo(data: bytes) -> tuple[str, dict[str, str]]:
    """The Go version and build settings of a ``.go.buildinfo`` section (Go 1.18+ keeps them
    inline; older ones point elsewhere, and give "go" as the version)."""
    if not data.startswith(_GO_BUILDINFO_MAGIC) or len(data) < 32:
        return "", {}
    if not data[15] & 2:  # pointers to the strings (Go < 1.18): Go, version unread
        return "go", {}
    length, at = _uvarint(data, 32)
    version = data[at:at + length].decode("utf-8", "replace")
    length, at = _uvarint(data, at + length)
    modinfo = data[at:at + length]
    if len(modinfo) >= 2 * _GO_MODINFO_SENTINEL:
        modinfo = modinfo[_GO_MODINFO_SENTINEL:-_GO_MODINFO_SENTINEL]
    settings = {}
    for line in modinfo.decode("utf-8", "replace").splitlines():
        kind, _, rest = line.partition("\t")
        if kind == "build":
            key, _, value = rest.partition("=")
            settings[key] = value
    return version or "go", settings


def read_programs(view: ImageView) -> list[Program]:
    """The programs the final image shows, from the ELF bodies the index kept."""
    out = []
    for layer in view.layers:
        files = layer.files
        visible = view.visible[layer.index]
        for i, body in files.captured.items():
            if visible[i] and body.startswith(ELF_MAGIC):
                program = read_program(files.paths[i], layer.index, body)
                if program is not None:
                    out.append(program)
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


def detect(view: ImageView, programs: list[Program]) -> list[Finding]:
    findings = []
    for program in programs:
        total = program.dwarf_bytes + program.symbol_bytes
        if total < DEBUG_MIN_BYTES:
            continue
        what = " and ".join(w for w, n in (("DWARF debug information", program.dwarf_bytes), ("symbol tables", program.symbol_bytes)) if n)
        findings.append(
            Finding(
                kind=FindingKind.BUILD_TOOLS,
                title=f"Unstripped program /{printable(program.path)}: {what} added by {view.quoted(program.layer)}",
                severity=severity_for(total),
                bytes=total,
                layer=program.layer,
                instruction=view.layers[program.layer].instruction,
                paths=[FindingPath(program.path, program.size, program.layer)],
                evidence=(
                    f"Of its {program.size} bytes, {total} are sections only a debugger reads: "
                    + ", ".join(f"{printable(s.name)} ({s.bytes} bytes)" for s in program.strippable[:8])
                    + (" …" if len(program.strippable) > 8 else "") + "."
                ),
                fix=_strip_fix(program),
                details=DebugInfoDetails(
                    "/" + program.path, "go" if program.is_go else "", program.linkage, program.dwarf_bytes,
                    program.symbol_bytes, program.strippable,
                ),
            )
        )
    return findings
