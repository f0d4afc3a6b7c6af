"""What a program the image built needs at run time, read from its ELF file with pyelftools.

For the Go stack's runtime: whether the program is static or loads shared libraries
(``PT_INTERP``, ``DT_NEEDED``), the bytes ``-ldflags "-s -w"`` leaves out (symbol table and
DWARF), and, for a Go program, the function names its pclntab lists (Go keeps them, stripped
or not: panics print them). The linker keeps only reachable functions, so the names say
which packages call C (cgo: ``net._Cfunc_getaddrinfo`` is the standard library's resolver,
``main._Cfunc_x`` the program's own) and what the program reaches for outside itself: CA
certificates (a TLS client: ``crypto/tls.Client``, net/http's Transport), the time zone
database (``time.LoadLocation``), ``/tmp`` (``os.CreateTemp``) or the user database
(``os/user``). A server that only serves TLS links ``crypto/x509`` too, so the roots
loader alone does not mean the program verifies anyone's certificate.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from enum import StrEnum

from slimview.index.capture import ELF_MAGIC

_DEBUG_PREFIXES = (".debug_", ".zdebug_")
_SYMBOL_SECTIONS = frozenset({".symtab", ".strtab"})
# pclntab magic numbers: Go 1.16-1.17, 1.18-1.19, 1.20 on (1.2-1.15 keep names per function).
_PCLNTAB_116 = 0xFFFFFFFA
_PCLNTAB_118 = (0xFFFFFFF0, 0xFFFFFFF1)
# Libraries that are glibc's or musl's own: a Go program linking only these links them for
# the standard library's cgo (the resolver, os/user), which has a pure-Go fallback.
_LIBC = frozenset({
    "libc.so.6", "libpthread.so.0", "libdl.so.2", "libresolv.so.2", "libm.so.6", "librt.so.1",
    "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1", "ld-linux-armhf.so.3", "ld-linux.so.2",
    "libc.musl-x86_64.so.1", "libc.musl-aarch64.so.1",
})
# Standard-library packages that call C when cgo is on, each with a pure-Go fallback.
_STD_CGO = frozenset({"net", "os/user", "runtime/cgo", "plugin", "runtime/race"})
# Errors a malformed ELF body makes pyelftools (or the struct reads) raise, besides ELFError.
_BAD_ELF = (ValueError, struct.error, IndexError, KeyError, AssertionError, UnicodeDecodeError, EOFError)


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
class BuiltProgram:
    """A program's ELF file, as far as the runtime image is concerned."""

    path: str
    size: int
    interpreter: str  # the dynamic loader it names ("" when static)
    needed: tuple[str, ...]  # DT_NEEDED libraries
    strippable: int  # bytes of the symbol table and DWARF sections
    functions: frozenset[str] | None  # Go's function names; None when not Go or not readable

    @property
    def static(self) -> bool:
        return not self.interpreter and not self.needed

    @property
    def is_go(self) -> bool:
        return self.functions is not None

    def cgo_packages(self) -> list[str]:
        """The packages whose functions call C, sorted."""
        names = self.functions or frozenset()
        return sorted({name.split("._C", 1)[0] for name in names if "._Cfunc_" in name or "._C2func_" in name})

    def own_cgo(self) -> list[str]:
        """Packages other than the standard library's that call C: the program needs cgo."""
        return [p for p in self.cgo_packages() if p not in _STD_CGO]

    def other_libraries(self) -> list[str]:
        """Shared libraries beyond the C library's own."""
        return [lib for lib in self.needed if lib not in _LIBC]

    def can_be_static(self) -> bool:
        """Whether ``CGO_ENABLED=0`` builds the same program: a Go program whose only C is the
        standard library's (which falls back to pure Go) and which loads no library but libc."""
        return self.is_go and not self.own_cgo() and not self.other_libraries()

    def needs(self) -> list[Need]:
        names = self.functions or frozenset()
        embedded_zoneinfo = any(name.startswith("time/tzdata.") for name in names)
        return [need for need, marks in _NEEDS.items() if names & marks and not (need == Need.ZONEINFO and embedded_zoneinfo)]


def read_program(path: str, body: bytes) -> BuiltProgram | None:
    """The program an ELF body is, or None when it is no executable ELF file (or does not parse)."""
    if not body.startswith(ELF_MAGIC):
        return None
    # Imported here: only images whose stack reads a program need pyelftools (~30 ms).
    from elftools.common.exceptions import ELFError
    from elftools.elf.dynamic import DynamicSection
    from elftools.elf.elffile import ELFFile
    from elftools.elf.sections import SymbolTableSection
    from elftools.elf.segments import InterpSegment

    try:
        elf = ELFFile(io.BytesIO(body))
        if elf.header.e_type not in ("ET_EXEC", "ET_DYN"):
            return None
        interpreter = next((s.get_interp_name() for s in elf.iter_segments() if isinstance(s, InterpSegment)), "")
        needed: list[str] = []
        strippable = 0
        pclntab = b""
        symbols = None
        for section in elf.iter_sections():
            if isinstance(section, DynamicSection):
                needed = [str(getattr(tag, "needed", "")) for tag in section.iter_tags("DT_NEEDED")]
            elif section.name == ".gopclntab":
                pclntab = section.data()
            elif isinstance(section, SymbolTableSection) and section.name == ".symtab":
                symbols = section
            if (section.name.startswith(_DEBUG_PREFIXES) or section.name in _SYMBOL_SECTIONS) and section["sh_type"] != "SHT_NOBITS":
                strippable += section["sh_size"]
        functions = _function_names(pclntab, elf.little_endian) if pclntab else None
        if functions is None and symbols is not None and elf.get_section_by_name(".go.buildinfo") is not None:
            functions = frozenset(s.name for s in symbols.iter_symbols() if s["st_info"]["type"] == "STT_FUNC")
    except (ELFError, *_BAD_ELF):
        return None
    return BuiltProgram(path, len(body), interpreter, tuple(needed), strippable, functions)


def _function_names(pclntab: bytes, little_endian: bool) -> frozenset[str] | None:
    """The function names of a Go 1.16+ pclntab (its funcnametab: NUL-separated names);
    None for older layouts, which keep a name per function record."""
    if len(pclntab) < 8:
        return None
    order = "<" if little_endian else ">"
    (magic,) = struct.unpack_from(order + "I", pclntab, 0)
    pointer = pclntab[7]
    if pointer not in (4, 8) or (magic != _PCLNTAB_116 and magic not in _PCLNTAB_118):
        return None
    word = order + ("Q" if pointer == 8 else "I")
    first = 2 if magic == _PCLNTAB_116 else 3  # nfunc, nfiles[, textStart], funcnameOffset, cuOffset
    names_at = struct.unpack_from(word, pclntab, 8 + first * pointer)[0]
    names_end = struct.unpack_from(word, pclntab, 8 + (first + 1) * pointer)[0]
    if not 0 < names_at <= names_end <= len(pclntab):
        return None
    return frozenset(n.decode("utf-8", "replace") for n in pclntab[names_at:names_end].split(b"\0") if n)
