"""Write small ELF64 executables byte by byte (struct only), so the findings about programs
are tested on inputs whose every section size is known by construction, and read the
section table back the same independent way for images an engine built."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

GO_MAGIC = b"\xff Go buildinf:"
SENTINEL = bytes(16)
PT_LOAD, PT_DYNAMIC, PT_INTERP = 1, 2, 3
SHT_PROGBITS, SHT_SYMTAB, SHT_STRTAB, SHT_DYNAMIC = 1, 2, 3, 6
DT_NULL, DT_NEEDED = 0, 1


def _uvarint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def go_buildinfo(version: str, settings: dict[str, str]) -> bytes:
    """A Go 1.18+ .go.buildinfo section: header, then the version and modinfo inline."""
    modinfo = "path\texample.com/svc\nmod\texample.com/svc\t(devel)\t\n" + "".join(f"build\t{k}={v}\n" for k, v in settings.items())
    body = SENTINEL + modinfo.encode() + SENTINEL
    head = GO_MAGIC + bytes([8, 2]) + bytes(16)
    return head + _uvarint(len(version)) + version.encode() + _uvarint(len(body)) + body


def go_pclntab(functions: list[str]) -> bytes:
    """A Go 1.18 pclntab: magic, pad, min LC, pointer size, eight words (nfunc, nfiles,
    textStart, funcnameOffset, cuOffset, filetabOffset, pctabOffset, pclnOffset), then the
    function name table (NUL-separated) where funcnameOffset says, ending at cuOffset."""
    names = b"".join(name.encode() + b"\0" for name in functions)
    start = 8 + 8 * 8
    end = start + len(names)
    words = [len(functions), 1, 0x401000, start, end, end, end, end]
    return struct.pack("<IBBBB", 0xFFFFFFF0, 0, 0, 1, 8) + struct.pack("<8Q", *words) + names + bytes(16)


@dataclass
class Program:
    interpreter: str = ""
    needed: list[str] = field(default_factory=list)
    go_version: str = ""
    go_settings: dict[str, str] = field(default_factory=dict)
    debug: dict[str, int] = field(default_factory=dict)  # .debug_* section → size
    symbols: int = 0  # .symtab size (a multiple of 24); .strtab gets half of it, rounded
    text: int = 300_000  # .text size: the capture policy keeps programs of 256 KiB and more
    shared_library: bool = False
    functions: list[str] = field(default_factory=list)  # a Go 1.18 .gopclntab naming these

    @property
    def strtab(self) -> int:
        return self.symbols // 2 if self.symbols else 0

    @property
    def strippable(self) -> int:
        return sum(self.debug.values()) + self.symbols + self.strtab

    def build(self) -> bytes:
        # name, type, data, link (a section number: list index + 1, after the NULL section), entsize
        sections: list[tuple[str, int, bytes, int, int]] = []
        if self.interpreter:
            sections.append((".interp", SHT_PROGBITS, self.interpreter.encode() + b"\0", 0, 0))
        sections.append((".text", SHT_PROGBITS, bytes(self.text), 0, 0))
        if self.needed:
            dynstr = b"\0"
            entries = b""
            for name in self.needed:
                entries += struct.pack("<qQ", DT_NEEDED, len(dynstr))
                dynstr += name.encode() + b"\0"
            entries += struct.pack("<qQ", DT_NULL, 0)
            sections.append((".dynstr", SHT_STRTAB, dynstr, 0, 0))
            sections.append((".dynamic", SHT_DYNAMIC, entries, len(sections), 16))  # link: .dynstr's section number
        if self.go_version:
            sections.append((".go.buildinfo", SHT_PROGBITS, go_buildinfo(self.go_version, self.go_settings), 0, 0))
        if self.functions:
            sections.append((".gopclntab", SHT_PROGBITS, go_pclntab(self.functions), 0, 0))
        for name, size in self.debug.items():
            sections.append((name, SHT_PROGBITS, bytes(size), 0, 0))
        if self.symbols:
            sections.append((".symtab", SHT_SYMTAB, bytes(self.symbols), len(sections) + 2, 24))
            sections.append((".strtab", SHT_STRTAB, bytes(self.strtab), 0, 0))
        names = b"\0"
        name_at = []
        for name, *_rest in sections + [(".shstrtab", 0, b"", 0, 0)]:
            name_at.append(len(names))
            names += name.encode() + b"\0"
        sections.append((".shstrtab", SHT_STRTAB, names, 0, 0))

        phdrs = []
        if self.interpreter:
            phdrs.append(PT_INTERP)
        phdrs.append(PT_LOAD)
        if self.needed:
            phdrs.append(PT_DYNAMIC)
        offset = 64 + 56 * len(phdrs)
        placed = []
        for name, type_, data, link, entsize in sections:
            placed.append((offset, name, type_, data, link, entsize))
            offset += len(data)
        shoff = offset
        out = bytearray()
        e_type = 3 if self.shared_library else 2
        out += b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
        out += struct.pack("<HHIQQQIHHHHHH", e_type, 0x3E, 1, 0x401000, 64, shoff, 0, 64, 56, len(phdrs), 64, len(sections) + 1, len(sections))
        by_name = {name: (off, data) for off, name, _t, data, _l, _e in placed}
        for p_type in phdrs:
            if p_type == PT_INTERP:
                off, data = by_name[".interp"]
            elif p_type == PT_DYNAMIC:
                off, data = by_name[".dynamic"]
            else:
                off, data = 0, b"x" * shoff
            out += struct.pack("<IIQQQQQQ", p_type, 4, off, 0x400000 + off, 0x400000 + off, len(data), len(data), 8)
        for _off, _name, _t, data, _l, _e in placed:
            out += data
        assert len(out) == shoff
        out += bytes(64)  # the NULL section
        for k, (off, _name, type_, data, link, entsize) in enumerate(placed):
            out += struct.pack("<IIQQQQIIQQ", name_at[k], type_, 0, 0, off, len(data), link, 0, 1, entsize)
        return bytes(out)


def sections(body: bytes) -> dict[str, int]:
    """{name: size} of an ELF64 little-endian body's sections, read with struct alone."""
    shoff, = struct.unpack_from("<Q", body, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", body, 0x3A)
    headers = [struct.unpack_from("<IIQQQQIIQQ", body, shoff + k * shentsize) for k in range(shnum)]
    strings_at = headers[shstrndx][4]
    out = {}
    for name_off, type_, _flags, _addr, _off, size, *_rest in headers[1:]:
        end = body.index(b"\0", strings_at + name_off)
        if type_ != 8:  # SHT_NOBITS takes no room in the file
            out[body[strings_at + name_off:end].decode()] = size
    return out


def strippable_bytes(body: bytes) -> int:
    """Bytes of the sections `strip --strip-all` removes: DWARF and the symbol table with its strings."""
    return sum(size for name, size in sections(body).items() if name.startswith((".debug_", ".zdebug_")) or name in (".symtab", ".strtab"))
