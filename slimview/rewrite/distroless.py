"""Distroless runtimes: when one fits the program, and what a rewrite on one needs.

gcr.io/distroless/python3-debian12 is Debian 12's Python 3.11 (``/usr/bin/python3.11``,
its ENTRYPOINT) with glibc, libstdc++, CA certificates and tzdata, and nothing else: no
shell, no package manager, a passwd file with root, nobody and nonroot only (the
``:nonroot`` tag, since the program runs as a non-root user). A rewrite
suggests it only when every check below passes; ``slimview rewrite --base
gcr.io/distroless/python3-debian12:nonroot`` writes it (the builder then runs on
debian:bookworm-slim, whose Python is the one distroless ships, so the virtualenv's
interpreter link resolves there) and ``slimview verify`` proves it runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from slimview.rewrite.original import ROOT_USERS

if TYPE_CHECKING:
    from slimview.rewrite.writer import StageWriter

PYTHON_IMAGE = "gcr.io/distroless/python3-debian12:nonroot"
PYTHON_VERSION = "3.11"
PYTHON_ENTRYPOINT = ["/usr/bin/python3.11"]
# The builder for a distroless Python runtime: Debian's Python 3.11 at /usr/bin, as there.
PYTHON_BUILDER = "debian:bookworm-slim"
SHELLS = ("sh", "bash", "dash", "ash", "busybox")


def is_distroless(image: str) -> bool:
    """An image with no shell and no package manager: distroless, or scratch."""
    return image == "scratch" or image.split("@", 1)[0].startswith(("gcr.io/distroless/", "cgr.dev/chainguard/static"))


def is_distroless_python(image: str) -> bool:
    return image.split("@", 1)[0].split(":", 1)[0].startswith("gcr.io/distroless/python3")


@dataclass(frozen=True)
class Check:
    """One compatibility check: what was checked and, when it fails, why."""

    what: str
    ok: bool
    why: str = ""


def python_checks(w: StageWriter) -> list[Check]:
    """Whether the program, as the rewrite runs it, fits distroless's Python image."""
    command = w.exec_command()
    program = command[0].rsplit("/", 1)[-1] if command else ""
    shell_runs = bool(w.ledger.kept_runs)
    packages = [p for p in w.packages.runtime if p != "python3"]
    user = w.original.user
    return [
        Check(
            "needs no shell", not shell_runs and program not in SHELLS and bool(command),
            "its command runs a shell" if program in SHELLS else "the runtime stage keeps RUN steps" if shell_runs else "it has no command",
        ),
        Check("no OS packages", not packages, f"{', '.join(packages)} would need apt, which it lacks"),
        Check("glibc", not w.alpine, "the image is built on musl (Alpine)"),
        Check(f"Python {PYTHON_VERSION}", w.facts.python == PYTHON_VERSION, f"it has Python {PYTHON_VERSION}, the image runs {w.facts.python}"),
        Check("CA certificates", True),  # distroless ships /etc/ssl/certs/ca-certificates.crt
        Check(
            "a numeric non-root user", user in ROOT_USERS or user.split(":", 1)[0].isdigit(),
            f"USER {user} is a name its passwd does not have",
        ),
    ]


def python_note(w: StageWriter) -> list[str]:
    """The comment lines offering distroless, or saying in one line why it does not fit."""
    if w.alpine or is_distroless(w.facts.runtime_base):
        return []
    checks = python_checks(w)
    failed = [c.why for c in checks if not c.ok]
    if failed:
        return [f"Not {PYTHON_IMAGE}: {'; '.join(failed)}."]
    passed = ", ".join(c.what for c in checks)
    return [
        f"Alternative: {PYTHON_IMAGE} fits this program ({passed}):",
        f"`slimview verify --base {PYTHON_IMAGE}` writes it, builds it and proves it runs.",
    ]
