"""What the stage being rewritten does, instruction by instruction: the WORKDIR in effect,
each RUN's commands, each COPY, the OS packages and pip installs it asks for, its
virtualenv, ``chown -R`` steps, USER and VOLUMEs. Every stack's writer reads this.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

from slimview.dockerfile import shell as cmd
from slimview.dockerfile.values import exec_array
from slimview.rewrite.copies import CopyStep, parse_copy
from slimview.rewrite.target import RewriteSource

ROOT_USERS = ("", "root", "0", "0:0", "root:root")


@dataclass
class Original:
    workdir_at: list[str] = field(default_factory=list)  # WORKDIR in effect at each instruction
    commands: dict[int, list[cmd.Command]] = field(default_factory=dict)  # RUN instruction → its commands
    copies: dict[int, CopyStep] = field(default_factory=dict)
    apt: list[str] = field(default_factory=list)
    apk: list[str] = field(default_factory=list)
    pips: list[tuple[int, cmd.Command]] = field(default_factory=list)
    venv: str | None = None
    chowns: list[cmd.Command] = field(default_factory=list)
    user: str = ""  # the last USER, "" when none
    volumes: list[str] = field(default_factory=list)

    @property
    def runs_as_root(self) -> bool:
        return self.user in ROOT_USERS


def collect(source: RewriteSource) -> Original:
    workdir = "/"
    c = Original()
    for n, ins in enumerate(source.instructions):
        if ins.keyword == "WORKDIR":
            workdir = posixpath.normpath(posixpath.join(workdir, ins.args.strip().strip('"')))
        c.workdir_at.append(workdir)
        if ins.keyword == "RUN" and not ins.exec_form:
            commands = cmd.analyse_run(ins.args)
            c.commands[n] = commands
            for command in commands:
                if command.kind == cmd.APT_INSTALL:
                    c.apt += [p for p in command.packages if p not in c.apt]
                elif command.kind == cmd.APK_ADD:
                    c.apk += [p for p in command.packages if p not in c.apk]
                elif command.kind == cmd.PIP_INSTALL:
                    c.pips.append((n, command))
                elif command.kind == cmd.VENV and c.venv is None:
                    c.venv = posixpath.normpath(posixpath.join(workdir, command.paths[0]))
                elif command.kind == cmd.CHOWN:
                    c.chowns.append(command)
        elif ins.keyword in ("COPY", "ADD"):
            c.copies[n] = parse_copy(ins, workdir)
        elif ins.keyword == "USER":
            c.user = ins.args.strip()
        elif ins.keyword == "VOLUME":
            items = exec_array(ins.args)
            c.volumes += items if items is not None else ins.args.split()
    return c


def requested_packages(source: RewriteSource) -> list[str]:
    """OS packages the stage's RUN lines install (apt or apk), in order."""
    c = collect(source)
    return c.apt + [p for p in c.apk if p not in c.apt]
