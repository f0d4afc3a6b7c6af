"""No stack of its own: one stage on the original base, its OS packages installed without
leaving caches, its context copies trimmed, a non-root user."""

from __future__ import annotations

from typing import TYPE_CHECKING

from slimview.dockerfile import shell as cmd
from slimview.dockerfile.instruction import Instruction
from slimview.rewrite import dockerignore as di
from slimview.rewrite.ospackages import PackagePlan
from slimview.rewrite.smoke import smoke_command

if TYPE_CHECKING:
    from slimview.rewrite.writer import StageWriter


class Plain:
    name = "plain"
    serves = False

    def runtime_base(self, version: str | None, family: str, original: str) -> tuple[str, str] | None:
        return None

    def packages(self, w: StageWriter) -> PackagePlan:
        return PackagePlan(w.manager, runtime=list(w.requested))

    def builder(self, w: StageWriter) -> list[Instruction]:
        return []

    def starts_app(self, w: StageWriter, n: int) -> bool:
        return False

    def artifacts(self, w: StageWriter) -> list[Instruction]:
        return []

    def copied_from_builder(self, w: StageWriter) -> str | None:
        return None

    def replaces(self, command: cmd.Command) -> bool:
        return False

    def is_manifest(self, name: str, is_dir: bool) -> bool:
        return False

    def alternatives(self, w: StageWriter) -> list[str]:
        return []

    def ignore_patterns(self) -> list[tuple[str, tuple[str, ...]]]:
        return [(di.NOT_RUNTIME_COMMENT, di.NOT_RUNTIME)]

    def smoke(self, command: list[str]) -> list[str] | None:
        return smoke_command(command, False)

    def builder_input(self, w: StageWriter, n: int) -> bool:
        return False

    def command(self, w: StageWriter, ins: Instruction) -> Instruction:
        return ins

    def base_user(self, w: StageWriter) -> tuple[str, str] | None:
        return None

    def base_entrypoint(self, runtime_base: str) -> list[str]:
        return []


PLAIN = Plain()
