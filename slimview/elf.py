"""What a program the image's owner built is, read from its ELF file once: when the index
passes its body (index/capture.py picks the candidates), so the body itself need not be kept.

From the file (pyelftools): whether it is static or loads shared libraries (and which),
the sections ``strip`` (or Go's ``-ldflags "-s -w"``) would remove (DWARF debugging
information, the symbol table with its strings) and, for a Go program, its build
information (the Go version, build settings such as CGO_ENABLED). From a Go program's
function names (its pclntab; Go keeps them, stripped or not: panics print them): which
packages call C (cgo: ``net._Cfunc_getaddrinfo`` is the standard library's resolver,
``main._Cfunc_x`` the program's own) and what it reaches for outside itself: CA
certificates (a TLS client: ``crypto/tls.Client``, net/http's Transport), the time zone
database (``time.LoadLocation``), ``/tmp`` (``os.CreateTemp``) or the user database
(``os/user``). The linker keeps only reachable functions, so the names say what the
program can call. A server that only serves TLS links ``crypto/x509`` too, so the roots
loader alone does not mean the program verifies anyone's certificate.

The findings (debug information, toolchain images) and the Go rewrite read these records.
"""

from __future__ import annotations

import bisect
import dataclasses
import io
import itertools
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import IO, Any, NamedTuple

ELF_MAGIC = b"\x7fELF"
_DWARF_PREFIXES = (".debug_", ".zdebug_")
_SYMBOL_SECTIONS = frozenset({".symtab", ".strtab"})
_GO_BUILDINFO_MAGIC = b"\xff Go buildinf:"
_GO_MODINFO_SENTINEL = 16  # modinfo is wrapped in 16 bytes of sentinel on each side
# pclntab magic numbers: Go 1.16-1.17, 1.18-1.19, 1.20 on (1.2-1.15 keep names per function).
_PCLNTAB_116 = 0xFFFFFFFA
_PCLNTAB_118 = (0xFFFFFFF0, 0xFFFFFFF1)
# Errors a malformed or hostile ELF body makes pyelftools (or the struct reads) raise,
# besides its own ELFError.
BAD_ELF = (ValueError, struct.error, IndexError, KeyError, AssertionError, UnicodeDecodeError, EOFError)


class ProgramLinkage(StrEnum):
    STATIC = "static"
    DYNAMIC = "dynamic"


class ElfSection(NamedTuple):
    name: str
    bytes: int


class Need(StrEnum):
    """What a static program may need from its runtime image besides itself."""

    CA_CERTIFICATES = "CA certificates"
    ZONEINFO = "the time zone database"
    TMP = "/tmp"
    USERS = "a user database (/etc/passwd)"


# Function names that mean the program needs each, when it links them.
_NEEDS = {
    Need.CA_CERTIFICATES: frozenset({
        "crypto/tls.Client", "crypto/tls.Dial", "crypto/tls.DialWithDialer", "crypto/tls.(*Dialer).DialContext",
        "net/http.(*Transport).roundTrip", "crypto/x509.SystemCertPool",
    }),
    Need.ZONEINFO: frozenset({"time.LoadLocation"}),
    Need.TMP: frozenset({"os.CreateTemp", "os.MkdirTemp", "io/ioutil.TempFile", "io/ioutil.TempDir"}),
    Need.USERS: frozenset({"os/user.Current", "os/user.Lookup", "os/user.LookupId", "os/user.LookupGroup", "os/user.LookupGroupId"}),
}


@dataclass(frozen=True)
class Program:
    """An executable ELF file: what the findings and the rewrite need to know of it."""

    size: int
    linkage: ProgramLinkage
    interpreter: str  # the dynamic loader it names ("" when static)
    needed: list[str]  # DT_NEEDED shared libraries
    go_version: str  # "go1.19.8" when Go built it, else ""
    go_settings: dict[str, str] = field(default_factory=dict)  # build settings (CGO_ENABLED, -ldflags, …)
    strippable: list[ElfSection] = field(default_factory=list)  # DWARF and symbol sections, largest first
    # From a Go program's function names; go_functions False when they could not be read.
    go_functions: bool = False
    cgo_packages: list[str] = field(default_factory=list)  # packages whose functions call C, sorted
    needs: list[Need] = field(default_factory=list)  # what it reaches for outside itself

    @property
    def is_go(self) -> bool:
        return bool(self.go_version)

    @property
    def static(self) -> bool:
        return not self.interpreter and not self.needed

    @property
    def dwarf_bytes(self) -> int:
        return sum(s.bytes for s in self.strippable if s.name.startswith(_DWARF_PREFIXES))

    @property
    def symbol_bytes(self) -> int:
        return sum(s.bytes for s in self.strippable if s.name in _SYMBOL_SECTIONS)

    def to_json(self) -> dict[str, Any]:
        """A plain record (the index cache keeps these; :meth:`from_json` reads it back)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> Program:
        return cls(**{
            **record, "linkage": ProgramLinkage(record["linkage"]),
            "strippable": [ElfSection(*s) for s in record["strippable"]], "needs": [Need(n) for n in record["needs"]],
        })


class _Pieces(io.RawIOBase):
    """A seekable file over a body held as the pieces it was read in (see TarReader.read_chunks)."""

    def __init__(self, pieces: Sequence[bytes]):
        self._pieces = pieces
        self._starts = list(itertools.accumulate((len(p) for p in pieces), initial=0))
        self._size = self._starts[-1]
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        out = memoryview(buffer).cast("B")
        done = 0
        i = bisect.bisect_right(self._starts, self._pos) - 1
        while done < len(out) and i < len(self._pieces):
            piece, at = self._pieces[i], self._pos - self._starts[i]
            n = min(len(piece) - at, len(out) - done)
            out[done : done + n] = piece[at : at + n]
            done += n
            self._pos += n
            i += 1
        return done


def _opened(body: bytes | list[bytes] | io.RawIOBase) -> IO[bytes]:
    if isinstance(body, bytes):
        return io.BytesIO(body)
    return io.BufferedReader(_Pieces(body) if isinstance(body, list) else body)


def read_program(body: bytes | list[bytes] | io.RawIOBase) -> Program | None:
    """The program an ELF body is (whole, the pieces it was read in, or a seekable file
    holding it: only its tables are read), or None when it is not an executable ELF file
    (or does not parse)."""
    stream = _opened(body)
    if stream.read(4) != ELF_MAGIC:
        return None
    size = stream.seek(0, io.SEEK_END)
    # Imported here: pyelftools takes ~30 ms and 4 MB to import, and only images holding a
    # program the index kept need it.
    from elftools.common.exceptions import ELFError
    from elftools.elf.dynamic import DynamicSection
    from elftools.elf.elffile import ELFFile
    from elftools.elf.sections import SymbolTableSection
    from elftools.elf.segments import InterpSegment

    try:
        elf = ELFFile(stream)
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
        pclntab = symbols = None
        for section in elf.iter_sections():
            name = section.name
            if isinstance(section, DynamicSection):
                needed = [str(getattr(tag, "needed", "")) for tag in section.iter_tags("DT_NEEDED")]
            elif name == ".go.buildinfo":
                go_version, go_settings = _go_buildinfo(section.data())
            elif name == ".gopclntab":
                pclntab = section
            if isinstance(section, SymbolTableSection) and name == ".symtab":
                symbols = section
            if (name.startswith(_DWARF_PREFIXES) or name in _SYMBOL_SECTIONS) and section["sh_type"] != "SHT_NOBITS":
                strippable.append(ElfSection(name, section["sh_size"]))
    except (ELFError, *BAD_ELF):
        return None
    functions = None
    if go_version:
        try:  # Go's function names: its pclntab's (Go 1.16+), else its symbol table's
            functions = _function_names(elf.stream, pclntab["sh_offset"], pclntab["sh_size"], elf.little_endian) if pclntab is not None else None
            if functions is None and symbols is not None:
                functions = frozenset(s.name for s in symbols.iter_symbols() if s["st_info"]["type"] == "STT_FUNC")
        except (ELFError, *BAD_ELF):
            functions = None
    strippable.sort(key=lambda s: (-s.bytes, s.name))
    linkage = ProgramLinkage.DYNAMIC if interpreter or needed else ProgramLinkage.STATIC
    names = functions or frozenset()
    embedded_zoneinfo = any(name.startswith("time/tzdata.") for name in names)
    return Program(
        size, linkage, interpreter, needed, go_version, go_settings, strippable,
        go_functions=functions is not None,
        cgo_packages=sorted({name.split("._C", 1)[0] for name in names if "._Cfunc_" in name or "._C2func_" in name}),
        needs=[need for need, marks in _NEEDS.items() if names & marks and not (need == Need.ZONEINFO and embedded_zoneinfo)],
    )


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


def _function_names(stream: IO[bytes], offset: int, size: int, little_endian: bool) -> frozenset[str] | None:
    """The function names of the Go 1.16+ pclntab at ``offset`` (its funcnametab:
    NUL-separated names; only that part is read); None for older layouts, which keep a name
    per function record."""
    stream.seek(offset)
    header = stream.read(min(size, 64))
    if len(header) < 8:
        return None
    order = "<" if little_endian else ">"
    (magic,) = struct.unpack_from(order + "I", header, 0)
    pointer = header[7]
    if pointer not in (4, 8) or (magic != _PCLNTAB_116 and magic not in _PCLNTAB_118):
        return None
    word = order + ("Q" if pointer == 8 else "I")
    first = 2 if magic == _PCLNTAB_116 else 3  # nfunc, nfiles[, textStart], funcnameOffset, cuOffset
    names_at = struct.unpack_from(word, header, 8 + first * pointer)[0]
    names_end = struct.unpack_from(word, header, 8 + (first + 1) * pointer)[0]
    if not 0 < names_at <= names_end <= size:
        return None
    stream.seek(offset + names_at)
    names = stream.read(names_end - names_at)
    return frozenset(n.decode("utf-8", "replace") for n in names.split(b"\0") if n)
