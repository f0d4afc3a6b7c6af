"""The stacks a rewrite knows: one module each, with one job: what the stack's builder
stage does and what the runtime takes from it. The shared writer (slimview/rewrite/
writer.py) does the rest the same way for every stack: OS packages, the user, context
copies, kept steps and the command.

- ``python``: pip packages built into a virtualenv in a builder stage;
- ``plain``: no stack of its own (or none slimview knows): one cleaned-up stage.

A stack is chosen from what the original does (``stack_for``); adding one (Node, Go) is a
module here with the ``Stack`` methods and a line in ``stack_for``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from slimview.dockerfile import shell as cmd
from slimview.dockerfile.instruction import Instruction
from slimview.rewrite.ospackages import PackagePlan
from slimview.rewrite.stacks.plain import PLAIN
from slimview.rewrite.stacks.python import PYTHON, installs_python_packages
from slimview.rewrite.target import RewriteSource

if TYPE_CHECKING:
    from slimview.rewrite.writer import StageWriter


class Stack(Protocol):
    """What one stack adds to the shared writer."""

    name: str

    def runtime_base(self, version: str | None, family: str, original: str) -> tuple[str, str] | None:
        """The runtime base the stack prefers and why (for its comment), or None to keep the original's."""

    def packages(self, w: StageWriter) -> PackagePlan:
        """The original's OS packages, split between the builder and the runtime."""

    def builder(self, w: StageWriter) -> list[Instruction]:
        """The builder stage (empty: the stack has none)."""

    def starts_app(self, w: StageWriter, n: int) -> bool:
        """Whether the original's instruction ``n`` is where the runtime needs the builder's output."""

    def artifacts(self, w: StageWriter) -> list[Instruction]:
        """The runtime's instructions taking the builder's output."""

    def copied_from_builder(self, w: StageWriter) -> str | None:
        """The directory the runtime copies from the builder (a virtualenv), if any."""

    def replaces(self, command: cmd.Command) -> bool:
        """Whether the builder does what ``command`` (a step of a RUN) did."""

    def is_manifest(self, name: str, is_dir: bool) -> bool:
        """A dependency manifest: the builder reads it, the program does not."""

    def alternatives(self, w: StageWriter) -> list[str]:
        """Comment lines offering another runtime base, with what it takes."""

    def ignore_patterns(self) -> list[tuple[str, tuple[str, ...]]]:
        """The stack's own .dockerignore groups: (comment, patterns)."""

    def smoke(self, command: list[str]) -> list[str] | None:
        """A command proving the program starts, derived from its ENTRYPOINT + CMD."""


def stack_for(source: RewriteSource, python: str | None) -> Stack:
    """The stack of the stage being rewritten."""
    if python is not None and installs_python_packages(source):
        return PYTHON
    return PLAIN
