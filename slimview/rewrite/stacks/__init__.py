"""The stacks a rewrite knows: one module each, with one job: what the stack's builder
stage does and what the runtime takes from it. The shared writer (slimview/rewrite/
writer.py) does the rest the same way for every stack: OS packages, the user, context
copies, kept steps and the command.

- ``python``: pip packages built into a virtualenv in a builder stage;
- ``node``: npm/yarn/pnpm install, build and prune in a builder; the slim Node image runs
  the production node_modules and the build's output;
- ``go``: the program built in a builder (static when it can be), alone on scratch;
- ``plain``: no language stack: one cleaned-up stage (OS packages, files, shell steps).

A stack is chosen from what the original does (``stack_for``); adding one is a module here
with the ``Stack`` methods and a line in ``stack_for``. An image that builds with another
language's tools (Maven, Cargo, make, ...) has a stack slimview does not know: the plain
rewrite would keep the whole toolchain and claim nothing about it, so there is no rewrite
(``unknown_stack``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from slimview.dockerfile import shell as cmd
from slimview.dockerfile.instruction import Instruction
from slimview.index.model import ImageIndex
from slimview.packages.model import PackageDatabase
from slimview.rewrite.ospackages import PackagePlan
from slimview.rewrite.stacks.go import Go, builds_go
from slimview.rewrite.stacks.node import Node, installs_node_packages
from slimview.rewrite.stacks.plain import PLAIN
from slimview.rewrite.stacks.python import PYTHON, installs_python_packages
from slimview.rewrite.target import RewriteSource

if TYPE_CHECKING:
    from slimview.rewrite.writer import StageWriter


class Stack(Protocol):
    """What one stack adds to the shared writer."""

    name: str
    serves: bool  # its programs are network services: verify runs one and asks its health endpoint

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

    def builder_input(self, w: StageWriter, n: int) -> bool:
        """Whether the original's context copy ``n`` is only the builder's input (the runtime
        takes what the builder made of it)."""

    def command(self, w: StageWriter, ins: Instruction) -> Instruction:
        """The runtime's CMD or ENTRYPOINT for the original's ``ins`` (already in exec form)."""

    def base_user(self, w: StageWriter) -> tuple[str, str] | None:
        """A non-root user the runtime base has, ("1000:1000", "node"), or None to make one."""

    def base_entrypoint(self, runtime_base: str) -> list[str]:
        """The ENTRYPOINT ``runtime_base`` has of its own, when the stack knows it."""


def stack_for(
    source: RewriteSource, python: str | None, index: ImageIndex | None = None, history: RewriteSource | None = None,
    build: set[str] | frozenset[str] = frozenset(), packages: PackageDatabase | None = None,
) -> Stack:
    """The stack of the stage being rewritten; ``index`` and ``history`` (the image and its
    reconstruction), its build-only packages and its package database let Node and Go read
    what the image's build made."""
    if python is not None and installs_python_packages(source):
        return PYTHON
    if installs_node_packages(source):
        return Node.of(source, index, history)
    if builds_go(source):
        return Go.of(source, index, history, build, packages)
    return PLAIN


def unknown_stack(source: RewriteSource) -> cmd.Command | None:
    """The first step building with a language's tools that no stack of slimview's takes."""
    return next(
        (c for ins in source.instructions if ins.keyword == "RUN" and not ins.exec_form for c in cmd.analyse_run(ins.args) if c.kind == cmd.BUILD),
        None,
    )
