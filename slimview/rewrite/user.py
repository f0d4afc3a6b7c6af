"""The user that runs the program, for every stack.

An image that ran as root gets a non-root user (uid 10001, numeric so that Kubernetes'
``runAsNonRoot`` can check it), made with the tools the runtime base has: ``groupadd`` and
``useradd`` (Debian's passwd), busybox's ``addgroup``/``adduser`` (Alpine, busybox), or,
on a base with neither (distroless, scratch), no passwd entry at all: a numeric USER
needs none. ``USER`` goes after the last step that needs root (every RUN of the runtime
stage runs as root, as in the original) and before the command it starts.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from slimview.dockerfile.instruction import Instruction

if TYPE_CHECKING:
    from slimview.rewrite.writer import StageWriter

APP_UID = 10001


class UserTools(StrEnum):
    """How the runtime base makes users."""

    SHADOW = "shadow"  # groupadd, useradd
    BUSYBOX = "busybox"  # addgroup -S, adduser -S
    NONE = "none"  # no tool and maybe no shell: a numeric USER without a passwd entry


def app_user(w: StageWriter) -> str:
    """The ``uid:gid`` that runs the program: a non-root user the runtime base has (the node
    images' node), else the one the rewrite makes."""
    known = w.stack.base_user(w)
    return known[0] if known is not None else f"{APP_UID}:{APP_UID}"


def owner(w: StageWriter) -> str:
    """``--chown`` for the application's files: the original's ``chown -R`` owner, else the
    new user's when the original ran as root, else none (the original's USER owns nothing)."""
    if w.original.chowns:
        return w.original.chowns[0].owner
    return app_user(w) if w.original.runs_as_root else ""


def fix_summary(w: StageWriter) -> str:
    known = w.stack.base_user(w)
    if known is not None:
        return f"runs as {known[1]} (uid {known[0].split(':', 1)[0]}) instead of root"
    return f"runs as uid {APP_UID} instead of root"


def add_user(w: StageWriter) -> str | None:
    """The command making the user (and the VOLUMEs it must write to), or None when the
    runtime base has the user already or no tool for it."""
    tools = w.user_tools
    known = w.stack.base_user(w)
    if known is not None and w.original.volumes and tools != UserTools.NONE:
        uid, _, gid = known[0].partition(":")
        return f"install -d -o {uid} -g {gid or uid} " + " ".join(sorted(set(w.original.volumes)))
    if tools == UserTools.NONE or known is not None:
        return None
    if tools == UserTools.BUSYBOX:
        text = f"addgroup -S -g {APP_UID} app \\\n && adduser -S -D -u {APP_UID} -G app -h /home/app app"
    else:
        text = (
            f"groupadd --system --gid {APP_UID} app \\\n && useradd --system --no-log-init --uid {APP_UID} --gid app"
            " --create-home --home-dir /home/app app"
        )
    if w.original.volumes:
        # A volume starts as a copy of its directory: the user must own it to write there.
        text += f" \\\n && install -d -o {APP_UID} -g {APP_UID} " + " ".join(sorted(set(w.original.volumes)))
    return text


def comment(w: StageWriter, made: bool) -> str:
    note = " (fixes config: runs as root)" if w.facts.runs_as_root_finding else ""
    known = w.stack.base_user(w)
    if known is not None:
        uid = known[0].split(":", 1)[0]
        return f"The {known[1]} user (uid {uid}) of {w.facts.runtime_base} runs the program{note}; numeric, so runAsNonRoot can check it."
    if made:
        return f"A non-root user (uid {APP_UID}) runs the program{note}; a numeric USER suits runAsNonRoot."
    return f"A non-root user (uid {APP_UID}) runs the program{note}: numeric, so it needs no passwd entry ({w.facts.runtime_base} has no useradd)."


def original_user(w: StageWriter, ins: Instruction) -> Instruction:
    """The original's USER; a name the runtime base has a known uid for (distroless's
    nonroot, the node images' node) as that uid."""
    known = w.stack.base_user(w)
    if known is None or ins.args.strip().split(":", 1)[0] != known[1]:
        return ins
    return Instruction("USER", known[0], [*ins.comments, f"{known[1]} by its uid: numeric, so runAsNonRoot can check it."])


def user_instruction(w: StageWriter) -> Instruction:
    return Instruction("USER", app_user(w))


def place_user(instructions: list[Instruction], user: Instruction) -> list[Instruction]:
    """``user`` after the last RUN (the steps before it run as root, as they did) and the
    original's last USER, and before the command the image starts if that comes later;
    else at the end."""
    last = max((i for i, ins in enumerate(instructions) if ins.keyword in ("RUN", "USER")), default=-1)
    starts = next((i for i, ins in enumerate(instructions) if i > last and ins.keyword in ("CMD", "ENTRYPOINT")), len(instructions))
    return [*instructions[:starts], user, *instructions[starts:]]
