"""Before a rewrite is handed over: would it build, and would it run what the original ran?

A rewrite that fails one of these is not written; ``NoRewrite`` says why in one line:

- a runtime base without a shell (distroless, scratch) cannot run a RUN step, install a
  package or start a shell-form command;
- the runtime base's package manager must be the one the rewrite's install commands use;
- a step the runtime keeps must not call a program whose package moved to the builder
  (``make``, ``gcc``, ``git``);
- an ENTRYPOINT the original inherited from its base is that base's own program: another
  base would run something else (or nothing), unless it is known to have the same one (the
  node images' ``docker-entrypoint.sh``).
"""

from __future__ import annotations

from slimview.dockerfile import shell as cmd
from slimview.dockerfile.values import json_array
from slimview.packages.model import Manager, PackageDatabase
from slimview.rewrite.distroless import SHELLS, is_distroless
from slimview.rewrite.model import NoRewrite
from slimview.rewrite.writer import Facts, Written

_BIN_DIRS = ("usr/local/sbin/", "usr/local/bin/", "usr/sbin/", "usr/bin/", "sbin/", "bin/")


def base_manager(image: str) -> Manager | None:
    """The package manager an image has, by its name, when the name says."""
    name = image.rsplit("/", 1)[-1]
    if "alpine" in name:
        return Manager.APK
    if name.startswith(("debian:", "ubuntu:", "python:", "node:", "golang:", "buildpack-deps:")):
        return Manager.DPKG
    return None


def check(written: Written, facts: Facts, db: PackageDatabase | None) -> None:
    """Raise NoRewrite when ``written`` would not build or would change what the image runs."""
    base = facts.runtime_base
    runs = [ins for ins in written.runtime if ins.keyword == "RUN"]
    if is_distroless(base):
        if written.runtime_packages:
            raise NoRewrite(f"it would not build: {base} has no package manager to install {', '.join(written.runtime_packages)}")
        if runs:
            raise NoRewrite(f"it would not build: {base} has no shell for `RUN {_first_line(runs[0].args)}`")
        if written.exec_command[:1] and written.exec_command[0].rsplit("/", 1)[-1] in SHELLS:
            raise NoRewrite(f"it would not run: {base} has no shell for its command {json_array(written.exec_command)}")
    has, manager = base_manager(base), written.manager
    if has is not None and has != manager and (written.runtime_packages or written.build_packages):
        raise NoRewrite(f"it would not build: {base} has {has.value}, and the image's packages are {manager.value} packages")
    if written.build_packages and db is not None:
        for ins in runs:
            for words in cmd.simple_commands(ins.args):
                package = _owner(words[0], db) if words else None
                if package is not None and package in facts.build_packages:
                    raise NoRewrite(
                        f"it would not build: `{_first_line(ins.args)}` runs {words[0]} from {package}, "
                        "which the rewrite moves to the builder stage"
                    )
    inherited = facts.inherited
    if (
        inherited is not None and inherited.entrypoint and inherited.entrypoint != facts.runtime_entrypoint
        and "ENTRYPOINT" not in {i.keyword for i in written.runtime}
    ):
        raise NoRewrite(
            f"it would change what the image runs: its ENTRYPOINT {json_array(inherited.entrypoint)} comes from "
            f"{facts.original_base or 'its base image'}, which the rewrite replaces with {base} (--base {facts.original_base or 'IMAGE'} keeps it)"
        )


def _owner(program: str, db: PackageDatabase) -> str | None:
    """The package that installed ``program`` (a name found on PATH, or a path)."""
    if "/" in program:
        candidates = [program.lstrip("/")]
    else:
        candidates = [d + program for d in _BIN_DIRS]
    for path in candidates:
        owner = db.owner.get(path)
        if owner is not None:
            return owner.split(":", 1)[0]
    return None


def _first_line(script: str) -> str:
    line = script.split("\n", 1)[0].rstrip(" \\")
    return line if len(line) <= 60 else line[:57] + "..."
