"""The smoke command that proves a rewritten image still runs the program: derived from the
image's ENTRYPOINT + CMD, it imports what the program imports without starting it
(``slimview verify`` runs it in the built image).

A network service (the Node and Go stacks', or any image with ``verify --health``) is proved
by running it instead: it must start, answer its health endpoint and stay up (``verify``
runs it with host networking on a free loopback port, given as ``PORT``, with ``HOST``
127.0.0.1, and asks the paths below in turn until one answers 2xx)."""

from __future__ import annotations

import os
import re
import shlex

HEALTH_PATHS = ("/health", "/healthz")
SERVERS = ("uvicorn", "gunicorn", "hypercorn", "daphne", "granian")
_PYTHON = re.compile(r"^python[\d.]*$")
_APP_SPEC = re.compile(r"^(?P<module>[A-Za-z_][\w.]*):(?P<attr>[A-Za-z_]\w*)(?P<call>\(.*\))?$")
_MODULE = re.compile(r"^[A-Za-z_][\w.]*$")

# Imports every module a script or module imports at its top level, without running it.
# The target is a script path, a module name, or "-c" followed by the code itself.
_IMPORTS_OF = (
    "import ast, importlib, importlib.util, sys\n"
    "target = sys.argv[1]\n"
    "if target == '-c':\n"
    "    path, code = '<string>', sys.argv[2]\n"
    "else:\n"
    "    if target.endswith('.py'):\n"
    "        path = target\n"
    "    else:\n"
    "        spec = importlib.util.find_spec(target)\n"
    "        main = spec.submodule_search_locations and importlib.util.find_spec(target + '.__main__')\n"
    "        path = (main or spec).origin\n"
    "    code = open(path, encoding='utf-8').read()\n"
    "tree = ast.parse(code, path)\n"
    "names = [a.name for n in tree.body if isinstance(n, ast.Import) for a in n.names]\n"
    "names += [n.module for n in tree.body if isinstance(n, ast.ImportFrom) and n.level == 0 and n.module]\n"
    "for name in names:\n"
    "    importlib.import_module(name)\n"
    "print('imports ok:', ', '.join(names) or '(none)')\n"
)


def smoke_command(command: list[str], python_app: bool) -> list[str] | None:
    """A command proving the program's imports work, derived from its ENTRYPOINT + CMD.

    ``python -m uvicorn pkg.mod:app`` (or ``uvicorn pkg.mod:app``) imports ``pkg.mod`` and
    reads ``app``; ``python script.py``, ``python -m pkg`` and ``python -c CODE`` import what
    the code imports at its top level, without running it. Other programs: check the
    executable is there.
    """
    if not command:
        return None
    program = os.path.basename(command[0])
    args = command[1:]
    python = command[0] if _PYTHON.match(program) else "python"
    if _PYTHON.match(program):
        if args[:1] == ["-m"] and len(args) >= 2:
            module, rest = args[1], args[2:]
            if module in SERVERS:
                return _server_smoke(python, rest) or [python, "-c", f"import {module}"]
            return [python, "-c", _IMPORTS_OF, module] if _MODULE.match(module) else None
        script = _script(args)
        if script is not None:
            return [python, "-c", _IMPORTS_OF, script]
        if "-c" in args and args.index("-c") + 1 < len(args):
            return [python, "-c", _IMPORTS_OF, "-c", args[args.index("-c") + 1]]
        return [python, "-c", "import sys; print(sys.version)"]
    if program in SERVERS:
        return _server_smoke(python, args) or [python, "-c", f"import {program}"]
    if python_app:
        return None
    return ["sh", "-c", f"command -v {shlex.quote(command[0])}"]


def _script(args: list[str]) -> str | None:
    """The script ``python [options] script.py [args]`` runs, if that is the command's shape."""
    i = 0
    while i < len(args) and args[i].startswith("-"):
        if args[i] in ("-c", "-m"):
            return None  # code or a module, not a script
        i += 2 if args[i] in ("-X", "-W") else 1
    return args[i] if i < len(args) and args[i].endswith(".py") else None


def _server_smoke(python: str, args: list[str]) -> list[str] | None:
    for arg in args:
        m = _APP_SPEC.match(arg)
        if m:
            module, attr = m.group("module"), m.group("attr")
            return [python, "-c", f"import importlib; getattr(importlib.import_module({module!r}), {attr!r}); print('import ok: {module}:{attr}')"]
    return None
