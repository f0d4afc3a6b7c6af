"""What a RUN's shell script does, command by command: apt and apk installs and removals,
pip installs, virtualenvs, ``chown -R``, users, cache cleanup, Node installs and scripts,
Go builds, and other languages' build tools.

A script is cut at two grains. ``split_commands`` gives the steps the rewrite keeps, drops
or moves (cut at ``&&``, ``;`` and newlines; pipelines and ``||`` stay whole, so a kept
step reads as written); ``classify`` says what one step does, by its first simple
command. ``simple_commands`` cuts at every shell operator into word lists, which is how
``package_arguments`` and ``has_flag`` read a RUN for the findings.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

from slimview.dockerfile.instruction import Instruction

# Kinds of command.
APT_UPDATE = "apt-update"
APT_INSTALL = "apt-install"
APT_REMOVE = "apt-remove"
APT_CLEANUP = "apt-cleanup"
APK_ADD = "apk-add"
APK_DEL = "apk-del"
PIP_INSTALL = "pip-install"
CACHE_CLEANUP = "cache-cleanup"
VENV = "venv"
CHOWN = "chown"
ADD_USER = "add-user"
NODE_INSTALL = "node-install"  # npm install/ci, yarn [install|add], pnpm install/add
NODE_SCRIPT = "node-script"  # npm run X, npm test, yarn X, pnpm X, npx X, node FILE
GO_BUILD = "go-build"  # go build, go install
GO_TOOL = "go-tool"  # go mod download, go generate, go test, ...
BUILD = "build"  # another language's build tool (Maven, Cargo, make, ...): no stack of slimview's
OTHER = "other"
# The kinds a stack's builder stage may take over; a stack that does not keeps them as written.
STACK_KINDS = frozenset({PIP_INSTALL, VENV, NODE_INSTALL, NODE_SCRIPT, GO_BUILD, GO_TOOL, BUILD})

_APT_LISTS = ("/var/lib/apt/lists", "/var/cache/apt")
_CACHES = ("/root/.cache", "/tmp/pip", "~/.cache", "$HOME/.cache")
_ENV_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_WRAPPERS = frozenset({"sudo", "env"})
_PYTHON = re.compile(r"^(?:\S*/)?python(?:\d(?:\.\d+)?)?$")
_PIP = re.compile(r"^(?:\S*/)?pip(?:\d(?:\.\d+)?)?$")
# Shell words that end one simple command and start another.
_OPERATORS = frozenset({"&&", "||", ";", "|", "&"})
# Package-manager (apt, apk) options whose value is the next word, not a package.
_OPTIONS_WITH_VALUE = frozenset({"-o", "--option", "-t", "--target-release", "-c", "--config-file", "-X", "--repository", "--virtual"})
_PACKAGE_NAME = re.compile(r"^[A-Za-z0-9.][A-Za-z0-9+._-]*$")
# pip options whose value is the next word.
_PIP_OPTIONS_WITH_VALUE = frozenset(
    {"-r", "--requirement", "-c", "--constraint", "-e", "--editable", "-i", "--index-url", "--extra-index-url",
     "-f", "--find-links", "--target", "-t", "--prefix", "--root", "--src", "--upgrade-strategy", "--platform",
     "--python-version", "--implementation", "--abi", "--no-binary", "--only-binary", "--progress-bar",
     "--trusted-host", "--cert", "--client-cert", "--timeout", "--retries", "--proxy", "--log", "--python",
     "--root-user-action", "--report", "--config-settings", "-C", "--global-option"}
)
# Options the rewrite drops: a virtualenv needs none of them, and --no-cache-dir is added back.
_PIP_DROPPED = frozenset({"--break-system-packages", "--user", "--no-cache-dir", "--root-user-action=ignore"})
_PIP_TOOLING = frozenset({"pip", "setuptools", "wheel"})


@dataclass
class Command:
    """One step of a RUN line."""

    kind: str
    text: str  # as written
    packages: list[str] = field(default_factory=list)  # APT_INSTALL/APT_REMOVE/APK_ADD/APK_DEL: names (with pins)
    pip_args: list[str] = field(default_factory=list)  # PIP_INSTALL: arguments after "install", cleaned
    requirements: list[str] = field(default_factory=list)  # PIP_INSTALL: -r/-c files it reads
    local: list[str] = field(default_factory=list)  # PIP_INSTALL: directories, wheels, archives it installs
    paths: list[str] = field(default_factory=list)  # CHOWN: targets; VENV: the virtualenv
    owner: str = ""  # CHOWN: user[:group]
    tool: str = ""  # NODE_*, GO_*, BUILD: the program (npm, yarn, pnpm, npx, node, go, mvn, cargo, ...)
    script: str = ""  # NODE_SCRIPT: the package.json script (or npx's binary, node's file)
    global_install: bool = False  # NODE_INSTALL: -g / yarn global: a tool, not the project's dependencies


# -- cutting a script ---------------------------------------------------------------------------


def split_commands(script: str) -> list[str]:
    """``a && b; c`` as ["a", "b", "c"], respecting quotes; pipelines and ``||`` stay whole."""
    parts: list[str] = []
    current: list[str] = []
    quote = ""
    depth = 0
    i = 0
    while i < len(script):
        ch = script[i]
        if quote:
            current.append(ch)
            if ch == "\\" and quote == '"' and i + 1 < len(script):
                current.append(script[i + 1])
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
            current.append(ch)
        elif ch == "\\" and i + 1 < len(script):
            # A line continuation is a space; any other escape is kept.
            current.append(" " if script[i + 1] == "\n" else ch + script[i + 1])
            i += 1
        elif ch in "({":
            depth += 1
            current.append(ch)
        elif ch in ")}":
            depth = max(0, depth - 1)
            current.append(ch)
        elif depth == 0 and (script.startswith("&&", i) or ch in ";\n"):
            parts.append("".join(current))
            current = []
            i += 1 if ch in ";\n" else 2
            continue
        else:
            current.append(ch)
        i += 1
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def _tokens(text: str) -> list[str] | None:
    """Shell words of ``text``, operators as words of their own; None when quotes do not balance."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    lexer.commenters = ""  # a "#" inside a word (a URL's #egg=) is no comment
    try:
        return list(lexer)
    except ValueError:
        return None


def _at_operators(words: list[str]) -> list[list[str]]:
    out: list[list[str]] = [[]]
    for word in words:
        if word in _OPERATORS:
            out.append([])
        else:
            out[-1].append(word)
    return [c for c in out if c]


def simple_commands(script: str) -> list[list[str]]:
    """Every simple command of a shell script as its words: ``a x | b && c`` is [[a, x], [b], [c]].
    Where quotes do not balance, words are split at whitespace."""
    out: list[list[str]] = []
    for step in split_commands(script):
        words = _tokens(step)
        out += _at_operators(step.split() if words is None else words)
    return out


def _unwrapped(words: list[str]) -> list[str]:
    """The command without leading ``NAME=value`` assignments and ``sudo``/``env`` wrappers."""
    start = 0
    while start < len(words) and (_ENV_ASSIGNMENT.match(words[start]) or words[start] in _WRAPPERS):
        start += 1
    return words[start:]


def _operands(words: list[str]) -> list[str]:
    """A package manager's arguments that are no option nor an option's value: verb, packages."""
    out = []
    skip = False
    for word in words:
        if skip:
            skip = False
        elif word in _OPTIONS_WITH_VALUE:
            skip = True
        elif not word.startswith("-"):
            out.append(word)
    return out


# -- what a step does ---------------------------------------------------------------------------


def classify(text: str) -> Command:
    """What one step (one of ``split_commands``) does, by its first simple command."""
    tokens = _tokens(text)
    commands = _at_operators(tokens) if tokens else []
    words = _unwrapped(commands[0]) if commands else []
    if not words:
        return Command(OTHER, text)
    program = words[0].rsplit("/", 1)[-1]
    verbs = [w for w in words[1:] if not w.startswith("-")]
    operands = _operands(words[1:])
    verb = operands[0] if operands else ""
    if program in ("apt-get", "apt"):
        if verb == "update":
            return Command(APT_UPDATE, text)
        if verb == "install":
            return Command(APT_INSTALL, text, packages=operands[1:])
        if verb in ("remove", "purge", "autoremove"):
            return Command(APT_REMOVE, text, packages=operands[1:])
        if verb in ("clean", "autoclean"):
            return Command(APT_CLEANUP, text)
    if program == "apk" and verb == "add":
        return Command(APK_ADD, text, packages=operands[1:])
    if program == "apk" and verb == "del":
        return Command(APK_DEL, text, packages=operands[1:])
    if program == "rm":
        targets = [w for w in words[1:] if not w.startswith("-")]
        if targets and all(t.startswith(_APT_LISTS) for t in targets):
            return Command(APT_CLEANUP, text)
        if targets and all(t.startswith(_CACHES) for t in targets):
            return Command(CACHE_CLEANUP, text)
        if targets and all(t.startswith(_APT_LISTS + _CACHES) for t in targets):
            return Command(APT_CLEANUP, text)
    pip = _pip(words)
    if pip is not None:
        return Command(PIP_INSTALL, text, pip_args=pip[0], requirements=pip[1], local=pip[2])
    if (_PIP.match(words[0]) and verbs[:1] == ["cache"]) or (words[1:3] == ["-m", "pip"] and "cache" in words):
        return Command(CACHE_CLEANUP, text)
    if _PYTHON.match(words[0]) and words[1:3] == ["-m", "venv"] and len(verbs) >= 2:
        return Command(VENV, text, paths=[verbs[-1]])
    if program == "virtualenv" and verbs:
        return Command(VENV, text, paths=[verbs[-1]])
    if program == "chown" and any(w in ("-R", "--recursive") or (w.startswith("-") and not w.startswith("--") and "R" in w) for w in words[1:]):
        targets = [w for w in words[1:] if not w.startswith("-")]
        if len(targets) >= 2:
            return Command(CHOWN, text, owner=targets[0], paths=targets[1:])
    if program in ("useradd", "adduser", "groupadd", "addgroup"):
        return Command(ADD_USER, text)
    return _stack_command(text, program, words) or Command(OTHER, text)


# Node package managers: the verbs that install the project's dependencies, and npm's
# own commands that are neither installs nor scripts.
_NODE_INSTALL_VERBS = {
    "npm": frozenset({"install", "i", "ci", "add", "isntall", "clean-install", "install-clean"}),
    "yarn": frozenset({"install", "add"}),
    "pnpm": frozenset({"install", "i", "add"}),
}
_NPM_SCRIPT_VERBS = frozenset({"run", "run-script", "rum", "urn"})
_NPM_SCRIPT_ALIASES = {"start": "start", "test": "test", "t": "test", "tst": "test", "restart": "restart", "stop": "stop"}
# yarn's and pnpm's own commands: anything else is a script of package.json.
_YARN_PNPM_COMMANDS = frozenset({
    "cache", "config", "global", "remove", "rm", "upgrade", "up", "update", "why", "list", "ls", "info", "init",
    "link", "unlink", "pack", "publish", "login", "logout", "audit", "outdated", "prune", "dlx", "exec", "import",
    "store", "dedupe", "set", "plugin", "workspaces", "patch", "rebuild", "version", "versions", "bin", "dir",
})
# Their options whose value is the next word.
_NODE_OPTIONS_WITH_VALUE = frozenset({
    "--prefix", "--cache", "--omit", "--include", "--registry", "--loglevel", "--workspace", "-w", "--filter",
    "-F", "--cwd", "-C", "--dir", "--network-timeout", "--modules-folder", "--mutex", "--userconfig",
})
_GO_BUILD_VERBS = frozenset({"build", "install"})
_GO_TOOL_VERBS = frozenset({"mod", "generate", "test", "vet", "get", "env", "work", "fmt", "list", "tool", "clean"})
# Other languages' build tools, by program name, and what they build.
BUILD_TOOLS = {
    "mvn": "Java (Maven)", "mvnw": "Java (Maven)", "gradle": "Java (Gradle)", "gradlew": "Java (Gradle)",
    "javac": "Java", "sbt": "Scala (sbt)", "lein": "Clojure (Leiningen)", "cargo": "Rust (Cargo)", "rustc": "Rust",
    "dotnet": ".NET", "bundle": "Ruby (Bundler)", "gem": "Ruby (RubyGems)", "composer": "PHP (Composer)",
    "mix": "Elixir (Mix)", "rebar3": "Erlang (rebar3)", "cabal": "Haskell (Cabal)", "stack": "Haskell (Stack)",
    "swift": "Swift", "make": "C/C++ (make)", "cmake": "C/C++ (CMake)", "meson": "C/C++ (Meson)",
    "ninja": "C/C++ (Ninja)", "configure": "C/C++ (autotools)", "gcc": "C (gcc)", "cc": "C (cc)", "g++": "C++ (g++)",
    "c++": "C++", "clang": "C (clang)", "clang++": "C++ (clang)",
}


def _stack_command(text: str, program: str, words: list[str]) -> Command | None:
    """A Node, Go or other language's build step, or None."""
    operands, skip = [], False
    for word in words[1:]:
        if skip:
            skip = False
        elif program in _NODE_INSTALL_VERBS and word in _NODE_OPTIONS_WITH_VALUE:
            skip = True
        elif not word.startswith("-"):
            operands.append(word)
    verb = operands[0] if operands else ""
    if program in _NODE_INSTALL_VERBS:
        is_global = "-g" in words or "--global" in words or verb == "global"
        if (program == "yarn" and not operands) or verb in _NODE_INSTALL_VERBS[program] or (is_global and program == "yarn"):
            named = operands[2:] if verb == "global" else operands[1:]
            return Command(NODE_INSTALL, text, packages=named, tool=program, global_install=is_global)
        script = ""
        if verb in _NPM_SCRIPT_VERBS:
            script = operands[1] if len(operands) > 1 else ""
        elif program == "npm":
            script = _NPM_SCRIPT_ALIASES.get(verb, "")
        elif verb not in _YARN_PNPM_COMMANDS:
            script = verb
        if script:
            return Command(NODE_SCRIPT, text, tool=program, script=script)
        return None
    if program == "npx" and verb:
        return Command(NODE_SCRIPT, text, tool=program, script=verb)
    if program == "node" and verb and not words[1].startswith("-"):
        return Command(NODE_SCRIPT, text, tool=program, script=verb)
    if program == "go":
        if verb in _GO_BUILD_VERBS:
            return Command(GO_BUILD, text, tool=program)
        if verb in _GO_TOOL_VERBS:
            return Command(GO_TOOL, text, tool=program)
        return None
    if program in BUILD_TOOLS and (program != "gem" or verb == "install"):
        return Command(BUILD, text, tool=program)
    return None


def analyse_run(script: str) -> list[Command]:
    """A RUN's shell script, step by step."""
    return [classify(part) for part in split_commands(script)]


def _pip(words: list[str]) -> tuple[list[str], list[str], list[str]] | None:
    """(install arguments, -r/-c files, local projects) of a pip command; None if no ``pip install``."""
    if words and _PYTHON.match(words[0]) and words[1:3] == ["-m", "pip"]:
        words = words[3:]
    elif words and _PIP.match(words[0]):
        words = words[1:]
    else:
        return None
    if not words or words[0] != "install":
        return None
    args: list[str] = []
    requirements: list[str] = []
    local: list[str] = []
    rest = words[1:]
    i = 0
    while i < len(rest):
        word = rest[i]
        if word in _PIP_DROPPED:
            i += 1
            continue
        if word in _PIP_OPTIONS_WITH_VALUE and i + 1 < len(rest):
            value = rest[i + 1]
            args += [word, value]
            if word in ("-r", "--requirement", "-c", "--constraint"):
                requirements.append(value)
            elif word in ("-e", "--editable") and _is_local(value):
                local.append(value)
            i += 2
            continue
        if word.startswith(("--requirement=", "--constraint=")):
            requirements.append(word.split("=", 1)[1])
        elif not word.startswith("-") and _is_local(word):
            local.append(word)
        args.append(word)
        i += 1
    return args, requirements, local


def _is_local(word: str) -> bool:
    return word in (".", "..") or word.startswith(("./", "../", "/")) or word.endswith((".whl", ".tar.gz", ".zip"))


def is_pip_tooling_upgrade(command: Command) -> bool:
    """``pip install -U pip setuptools wheel``: upgrades the installer, installs nothing the app uses."""
    names = [a for a in command.pip_args if not a.startswith("-")]
    return bool(names) and all(re.split(r"[<>=!~\[]", n, maxsplit=1)[0].lower() in _PIP_TOOLING for n in names)


# -- what findings ask of a RUN -----------------------------------------------------------------


def _run_commands(instruction: Instruction, names: tuple[str, ...]) -> list[list[str]]:
    """The simple commands of a RUN that mentions one of ``names`` at all (else none: most
    RUNs name no package manager, and cutting a script costs more than looking)."""
    if instruction.keyword != "RUN" or not any(name in instruction.args for name in names):
        return []
    return simple_commands(instruction.args)


def package_arguments(instruction: Instruction, tools: tuple[str, ...], verbs: tuple[str, ...]) -> list[str]:
    """Package names (without pins) a RUN passes to ``tool verb``, e.g. apt-get install, apk del."""
    names: list[str] = []
    for words in map(_unwrapped, _run_commands(instruction, tools)):
        if len(words) < 2 or words[0].rsplit("/", 1)[-1] not in tools:
            continue
        operands = _operands(words[1:])
        if not operands or operands[0] not in verbs:
            continue
        for word in operands[1:]:
            name = re.split(r"[=:<>]", word, maxsplit=1)[0]
            if "$" not in word and _PACKAGE_NAME.match(name):
                names.append(name)
    return names


def has_flag(instruction: Instruction, *flags: str) -> bool:
    """Whether any command of a RUN has one of ``flags`` among its words."""
    return any(word in flags for words in _run_commands(instruction, flags) for word in words)
