"""What a program the image built needs at run time, for the Go stack's runtime.

The ELF file (static or not, ``DT_NEEDED``, the sections ``-ldflags "-s -w"`` leaves out,
Go's build information, the packages that call C and what the program reaches for, from
its function names) is read by slimview/elf.py when the index passes it. This judges, from
that record, whether ``CGO_ENABLED=0`` builds the same program.
"""

from __future__ import annotations

from dataclasses import dataclass

from slimview.elf import Program

# Libraries that are glibc's or musl's own: a Go program linking only these links them for
# the standard library's cgo (the resolver, os/user), which has a pure-Go fallback.
_LIBC = frozenset({
    "libc.so.6", "libpthread.so.0", "libdl.so.2", "libresolv.so.2", "libm.so.6", "librt.so.1",
    "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1", "ld-linux-armhf.so.3", "ld-linux.so.2",
    "libc.musl-x86_64.so.1", "libc.musl-aarch64.so.1",
})
# Standard-library packages that call C when cgo is on, each with a pure-Go fallback.
_STD_CGO = frozenset({"net", "os/user", "runtime/cgo", "plugin", "runtime/race"})


@dataclass(frozen=True)
class BuiltProgram:
    """A program the build made, as far as the runtime image is concerned."""

    path: str
    elf: Program

    @property
    def strippable(self) -> int:
        """Bytes of the symbol table and DWARF sections."""
        return self.elf.dwarf_bytes + self.elf.symbol_bytes

    def own_cgo(self) -> list[str]:
        """Packages other than the standard library's that call C: the program needs cgo."""
        return [p for p in self.elf.cgo_packages if p not in _STD_CGO]

    def other_libraries(self) -> list[str]:
        """Shared libraries beyond the C library's own."""
        return [lib for lib in self.elf.needed if lib not in _LIBC]

    def can_be_static(self) -> bool:
        """Whether ``CGO_ENABLED=0`` builds the same program: a Go program whose functions
        can be read, whose only C is the standard library's (which falls back to pure Go)
        and which loads no library but libc."""
        return self.elf.is_go and self.elf.go_functions and not self.own_cgo() and not self.other_libraries()

