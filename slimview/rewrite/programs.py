"""What a program the image built needs at run time, for the Go stack's runtime.

The ELF file itself (static or not, ``DT_NEEDED``, the sections ``-ldflags "-s -w"`` leaves
out, Go's build information) is read by slimview/findings/programs.py, as the findings read
it. This adds, for a Go program, the function names its pclntab lists (Go keeps them,
stripped or not: panics print them). The linker keeps only reachable functions, so the
names say which packages call C (cgo: ``net._Cfunc_getaddrinfo`` is the standard library's
resolver, ``main._Cfunc_x`` the program's own) and what the program reaches for outside
itself: CA certificates (a TLS client: ``crypto/tls.Client``, net/http's Transport), the
time zone database (``time.LoadLocation``), ``/tmp`` (``os.CreateTemp``) or the user
database (``os/user``). A server that only serves TLS links ``crypto/x509`` too, so the
roots loader alone does not mean the program verifies anyone's certificate.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from enum import StrEnum

from slimview.findings.programs import BAD_ELF, Program
from slimview.findings.programs import read_program as read_elf

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

    elf: Program
    functions: frozenset[str] | None  # Go's function names; None when not Go or not readable

    @property
    def path(self) -> str:
        return self.elf.path

    @property
    def size(self) -> int:
        return self.elf.size

    @property
    def strippable(self) -> int:
        """Bytes of the symbol table and DWARF sections."""
        return self.elf.dwarf_bytes + self.elf.symbol_bytes

    @property
    def static(self) -> bool:
        return not self.elf.interpreter and not self.elf.needed

    def cgo_packages(self) -> list[str]:
        """The packages whose functions call C, sorted."""
        names = self.functions or frozenset()
        return sorted({name.split("._C", 1)[0] for name in names if "._Cfunc_" in name or "._C2func_" in name})

    def own_cgo(self) -> list[str]:
        """Packages other than the standard library's that call C: the program needs cgo."""
        return [p for p in self.cgo_packages() if p not in _STD_CGO]

    def other_libraries(self) -> list[str]:
        """Shared libraries beyond the C library's own."""
        return [lib for lib in self.elf.needed if lib not in _LIBC]

    def can_be_static(self) -> bool:
        """Whether ``CGO_ENABLED=0`` builds the same program: a Go program whose functions
        can be read, whose only C is the standard library's (which falls back to pure Go)
        and which loads no library but libc."""
        return self.elf.is_go and self.functions is not None and not self.own_cgo() and not self.other_libraries()

    def needs(self) -> list[Need]:
        names = self.functions or frozenset()
        embedded_zoneinfo = any(name.startswith("time/tzdata.") for name in names)
        return [need for need, marks in _NEEDS.items() if names & marks and not (need == Need.ZONEINFO and embedded_zoneinfo)]


def read_program(path: str, layer: int, body: bytes) -> BuiltProgram | None:
    """The program an ELF body is, or None when it is no executable ELF file (or does not parse)."""
    elf = read_elf(path, layer, body)
    if elf is None:
        return None
    return BuiltProgram(elf, _go_functions(body) if elf.is_go else None)


def _go_functions(body: bytes) -> frozenset[str] | None:
    """A Go program's function names: its pclntab's (Go 1.16+), else its symbol table's."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile
    from elftools.elf.sections import SymbolTableSection

    try:
        elf = ELFFile(io.BytesIO(body))
        pclntab = elf.get_section_by_name(".gopclntab")
        functions = _function_names(pclntab.data(), elf.little_endian) if pclntab is not None else None
        symbols = elf.get_section_by_name(".symtab")
        if functions is None and isinstance(symbols, SymbolTableSection):
            functions = frozenset(s.name for s in symbols.iter_symbols() if s["st_info"]["type"] == "STT_FUNC")
    except (ELFError, *BAD_ELF):
        return None
    return functions


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
