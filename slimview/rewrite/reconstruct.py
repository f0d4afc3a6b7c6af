"""Turn an image's history back into the Dockerfile that built it.

Each builder writes its own dialect into ``history[].created_by``:

- the classic builder: ``/bin/sh -c apt-get update`` for RUN (``|2 A=1 B=2 /bin/sh -c …``
  with build args), ``/bin/sh -c #(nop)  ENV A=b`` for metadata steps (Go-formatted:
  ``CMD ["a" "b"]``, ``VOLUME [/data]``), and ``/bin/sh -c #(nop) COPY file:<hash> in /dst``
  where the copied sources survive only as a content hash;
- BuildKit: ``RUN /bin/sh -c … # buildkit``, ``COPY . . # buildkit``, ``WORKDIR /app``,
  ``EXPOSE map[8000/tcp:{}]``, ``HEALTHCHECK &{["CMD-SHELL" "…"] "30s" …}``;
- buildah and podman: the classic shapes, but metadata steps keep the Dockerfile's own
  text (``/bin/sh -c #(nop) CMD ["a", "b"]``, one space after ``#(nop)``).

Everything here is a pure function of the history strings. What the history does not
record is marked, never invented: ``COPY <unknown source: file:d8a006482ae0…> /dst``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from slimview.rewrite.base import BaseImage
from slimview.rewrite.model import Instruction, render_instructions
from slimview.source.model import HistoryEntry, SourceImage

DEFAULT_SHELL = ("/bin/sh", "-c")

KEYWORDS = frozenset(
    {"ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "HEALTHCHECK", "LABEL", "MAINTAINER",
     "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR"}
)

BUILDKIT_SUFFIX = " # buildkit"
HASH_SHOWN = 12  # hex digits of an unrecoverable source hash kept in the output

_NOP = re.compile(r"^(?P<shell>.*?) ?#\(nop\) (?P<formatted> ?)(?P<rest>.*)$", re.S)
_BUILD_ARGS = re.compile(r"^\|(?P<count>\d+) ")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_LABEL_KEY = re.compile(r"^[A-Za-z0-9_.\-/]+=")
_HASHED_SOURCE = re.compile(
    r"^(?:(?P<flags>--\S*?)\s*)?(?P<kind>file|dir|multi):(?P<hash>[0-9a-f]{8,}) in (?P<dest>.+?)\s*$", re.S
)
_SAFE_VALUE = re.compile(r"^[A-Za-z0-9_./:,@%+=~-]*$")


# -- Go-formatted values ------------------------------------------------------------------------

_GO_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
               "\\": "\\", '"': '"', "'": "'"}


def _go_unquote(body: str) -> str:
    """The value of a Go quoted literal's body (strconv.Quote escapes)."""
    out = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\" or i + 1 == len(body):
            out.append(ch)
            i += 1
            continue
        code = body[i + 1]
        if code in _GO_ESCAPES:
            out.append(_GO_ESCAPES[code])
            i += 2
        elif code in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[code]
            digits = body[i + 2 : i + 2 + width]
            try:
                out.append(chr(int(digits, 16)))
            except (ValueError, OverflowError):  # not an escape Go writes: keep it as it stands
                out.append(body[i : i + 2 + width])
            i += 2 + width
        elif code in "01234567":
            try:
                out.append(chr(int(body[i + 1 : i + 4], 8)))
            except ValueError:  # not an escape Go writes: keep it as it stands
                out.append(body[i : i + 4])
            i += 4
        else:
            out.append(code)
            i += 2
    return "".join(out)


_GO_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"', re.S)
_GO_RUNE = re.compile(r"'((?:[^'\\]|\\.)*)'", re.S)


def go_string_list(text: str) -> list[str] | None:
    """``["a" "b c"]`` (Go's %q of a []string) as a list; None if ``text`` is not one."""
    text = text.strip()
    if not (text.startswith("[") and text.endswith("]")):
        return None
    inner = text[1:-1].strip()
    items = []
    pos = 0
    while pos < len(inner):
        m = _GO_STRING.match(inner, pos)
        if m is None:
            return None
        items.append(_go_unquote(m.group(1)))
        pos = m.end()
        while pos < len(inner) and inner[pos] == " ":
            pos += 1
    return items


def exec_array(text: str) -> list[str] | None:
    """An exec-form array written as JSON (Dockerfile, buildah) or by Go (Docker); else None."""
    text = text.strip()
    if text.startswith("["):
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
    return go_string_list(text)


def json_array(items: Sequence[str]) -> str:
    return json.dumps(list(items), ensure_ascii=False)


def quote_value(value: str) -> str:
    """A value for ENV, LABEL or ARG: bare when safe, else double-quoted with \\ escapes.

    The history holds values already expanded, so a ``$`` in them is literal and escaped.
    """
    if value and _SAFE_VALUE.match(value):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return f'"{escaped}"'


def _pairs(text: str, key: re.Pattern) -> list[tuple[str, str]] | None:
    """``A=b c D=e`` as [(A, "b c"), (D, "e")]: a word that is no ``KEY=`` continues the value."""
    pairs: list[list[str]] = []
    for word in text.split(" "):
        if key.match(word):
            name, _, value = word.partition("=")
            pairs.append([name, value])
        elif pairs:
            pairs[-1][1] += " " + word
        else:
            return None
    return [(k, v) for k, v in pairs]


def _assignments(text: str, key: re.Pattern) -> str:
    pairs = _pairs(text, key)
    if pairs is None:
        return text
    return " ".join(f"{k}={quote_value(v)}" for k, v in pairs)


def _env(text: str, env: dict[str, str]) -> str:
    """ENV pairs, writing ``$NAME`` back where a value extends the variable's previous value
    (``PATH=/app/bin:/usr/local/sbin:…`` after a base that set PATH is ``/app/bin:$PATH``).
    ``env`` holds the values in effect and is updated."""
    pairs = _pairs(text, _ASSIGNMENT)
    if pairs is None:
        return text
    out = []
    for name, value in pairs:
        previous = env.get(name, "")
        env[name] = value
        for head, tail in ((value[: -len(previous)], ""), ("", value[len(previous) :])):
            if previous and head + previous + tail == value and (head.endswith(":") or tail.startswith(":")):
                out.append(f"{name}={_around_reference(head, name, tail)}")
                break
        else:
            out.append(f"{name}={quote_value(value)}")
    return " ".join(out)


def _around_reference(head: str, name: str, tail: str) -> str:
    if _SAFE_VALUE.match(head + tail):
        return f"{head}${name}{tail}"
    inner = quote_value(head)[1:-1] if head else ""
    after = quote_value(tail)[1:-1] if tail else ""
    return f'"{inner}${name}{after}"'


def _word_list(text: str) -> list[str] | None:
    """``[/data /logs]`` (Go's %v of a []string, as VOLUME and SHELL are recorded)."""
    text = text.strip()
    if not (text.startswith("[") and text.endswith("]")):
        return None
    return text[1:-1].split()


def _exposed(text: str) -> str:
    """``map[8000/tcp:{} 53/udp:{}]`` as ``8000 53/udp``."""
    text = text.strip()
    if not (text.startswith("map[") and text.endswith("]")):
        return text
    ports = []
    for item in text[4:-1].split():
        port = item.removesuffix(":{}")
        ports.append(port.removesuffix("/tcp"))
    return " ".join(ports)


def _healthcheck(text: str) -> str:
    """``&{["CMD-SHELL" "curl -f x"] "30s" "3s" "0s" '\\x03'}`` as Dockerfile flags and command."""
    text = text.strip()
    if not (text.startswith("&{[") and text.endswith("}")):
        return text
    body = text[2:-1]
    close = _closing_bracket(body)
    if close is None:
        return text
    test = go_string_list(body[: close + 1])
    rest = body[close + 1 :]
    durations = [_go_unquote(m.group(1)) for m in _GO_STRING.finditer(rest)]
    rune = _GO_RUNE.search(rest)
    retries_text = _go_unquote(rune.group(1)) if rune else ""
    retries = ord(retries_text) if len(retries_text) == 1 else 0
    if not test:
        return text
    if test[0] == "NONE":
        return "NONE"
    flags = []
    for name, value in zip(("interval", "timeout", "start-period", "start-interval"), durations):
        if value not in ("0s", ""):
            flags.append(f"--{name}={value}")
    if retries:
        flags.append(f"--retries={retries}")
    if test[0] == "CMD-SHELL" and len(test) == 2:
        command = "CMD " + test[1]
    elif test[0] == "CMD":
        command = "CMD " + json_array(test[1:])
    else:
        return text
    return " ".join([*flags, command])


def _closing_bracket(text: str) -> int | None:
    """Index of the ``]`` closing the Go string list that ``text`` starts with."""
    pos = 1
    while pos < len(text):
        if text[pos] == "]":
            return pos
        m = _GO_STRING.match(text, pos)
        pos = m.end() if m else pos + 1
    return None


def _hashed_copy(keyword: str, text: str) -> str:
    """``file:<hash> in /dst`` (classic builder, buildah) with the source marked unknown."""
    m = _HASHED_SOURCE.match(text)
    if m is None:
        return text.strip()
    flags = (m.group("flags") + " ") if m.group("flags") else ""
    source = f"<unknown source: {m.group('kind')}:{m.group('hash')[:HASH_SHOWN]}…>"
    return f"{flags}{source} {m.group('dest')}"


# -- RUN ------------------------------------------------------------------------------------------


def _strip_build_args(command: str, shell: Sequence[str]) -> str:
    """Drop the ``|N A=1 B=2`` prefix the builders record for build args in effect."""
    m = _BUILD_ARGS.match(command)
    if m is None:
        return command
    rest = command[m.end() :]
    count = int(m.group("count"))
    # Values may hold spaces: for the shell form, the first shell prefix after the
    # assignments ends them; the exec form has only word splitting to go by.
    for prefix in (" ".join(shell), " ".join(DEFAULT_SHELL)):
        at = rest.find(" " + prefix + " ")
        if at >= 0 and rest[:at].count("=") >= count:
            return rest[at + 1 :]
    words = rest.split(" ")
    return " ".join(words[count:])


def _run(command: str, shell: Sequence[str]) -> Instruction:
    command = _strip_build_args(command, shell)
    for prefix in (" ".join(shell) + " ", " ".join(DEFAULT_SHELL) + " "):
        if command.startswith(prefix):
            text = command[len(prefix) :]
            # A newline would end the instruction: continue the line instead.
            return Instruction("RUN", text.replace("\n", " \\\n"))
    return Instruction(
        "RUN",
        json_array(command.split(" ")),
        ["exec form: the history joins its arguments with spaces, so their boundaries are a guess"],
    )


# -- one history line -------------------------------------------------------------------------


def _metadata(keyword: str, text: str, formatted: bool, env: dict[str, str]) -> Instruction:
    """A non-RUN step. ``formatted``: values as Docker prints them (expanded, unquoted).
    ``env``: variables in effect, updated by ENV."""
    text = text.strip()
    if keyword in ("CMD", "ENTRYPOINT"):
        items = exec_array(text)
        return Instruction(keyword, json_array(items) if items is not None else text)
    if keyword in ("SHELL", "VOLUME"):
        items = exec_array(text) if text.startswith('["') else _word_list(text)
        return Instruction(keyword, json_array(items) if items is not None else text)
    if keyword == "EXPOSE":
        return Instruction(keyword, _exposed(text))
    if keyword == "HEALTHCHECK":
        return Instruction(keyword, _healthcheck(text))
    if keyword in ("COPY", "ADD"):
        return Instruction(keyword, _hashed_copy(keyword, text))
    if keyword == "ENV" and formatted:
        return Instruction(keyword, _env(text, env))
    if keyword == "LABEL" and formatted:
        return Instruction(keyword, _assignments(text, _LABEL_KEY))
    if keyword == "ARG" and formatted and "=" in text:
        name, _, value = text.partition("=")
        return Instruction(keyword, f"{name}={quote_value(value)}")
    return Instruction(keyword, text)


def parse_history_line(
    created_by: str, shell: Sequence[str] = DEFAULT_SHELL, env: dict[str, str] | None = None
) -> Instruction | None:
    """The Dockerfile instruction that ``created_by`` records; None for an empty line.

    ``shell`` is the SHELL in effect (RUN lines start with it); ``env`` the variables in
    effect (ENV values that extend one are written with ``$NAME``), updated by ENV lines.
    """
    env = {} if env is None else env
    line = created_by.strip()
    if not line:
        return None
    if line.endswith(BUILDKIT_SUFFIX):
        line = line[: -len(BUILDKIT_SUFFIX)]
    keyword, _, rest = line.partition(" ")
    if keyword in KEYWORDS:  # BuildKit writes the keyword itself
        if keyword == "RUN":
            return _run(rest, shell)
        return _metadata(keyword, rest, True, env)
    nop = _NOP.match(line)
    if nop is not None:
        keyword, _, rest = nop.group("rest").partition(" ")
        keyword = keyword.upper()
        if keyword in KEYWORDS:
            # The classic builder prints metadata steps after two spaces, Go-formatted;
            # buildah after one space, as written in the Dockerfile.
            formatted = bool(nop.group("formatted")) or keyword in ("COPY", "ADD")
            return _metadata(keyword, rest, formatted, env)
        return Instruction("", "", [f"unrecognised history step: {line}"])
    return _run(line, shell)


# -- a whole history ------------------------------------------------------------------------------


def entry_layers(history: Sequence[HistoryEntry], layer_count: int) -> list[int | None]:
    """The layer each history entry made (None for metadata-only entries).

    Aligned from the top, as SourceImage.layer_history does, when history describes
    fewer layers than the image has.
    """
    made = sum(1 for h in history if not h.empty_layer)
    layer = layer_count - made
    out: list[int | None] = []
    for h in history:
        if h.empty_layer:
            out.append(None)
        else:
            out.append(layer if layer >= 0 else None)
            layer += 1
    return out


def reconstruct(
    history: Sequence[HistoryEntry], layer_count: int, start: int = 0, base_env: Sequence[str] = ()
) -> list[Instruction]:
    """Instructions for ``history[start:]``.

    ``start``: the entries that belong to the base image; ``base_env``: its ENV
    (``NAME=value`` strings), so that ``ENV PATH=/app/bin:$PATH`` comes back as written.
    """
    layers = entry_layers(history, layer_count)
    shell: Sequence[str] = DEFAULT_SHELL
    env = dict(item.partition("=")[::2] for item in base_env)
    out: list[Instruction] = []
    for entry, layer in list(zip(history, layers))[start:]:
        instruction = parse_history_line(entry.created_by, shell, env)
        if instruction is None:
            what = f"layer {layer}" if layer is not None else "a step"
            note = f" ({entry.comment})" if entry.comment else ""
            instruction = Instruction("", "", [f"{what} has no recorded instruction{note}: its contents cannot be rebuilt from history"])
        if instruction.keyword == "SHELL":
            shell = exec_array(instruction.args) or shell
        instruction.layer = layer
        out.append(instruction)
    return out


def reconstruct_dockerfile(source: SourceImage, base: BaseImage) -> str:
    """The Dockerfile that built ``source``: a header saying where it came from, FROM, the steps.

    When the base's share of the history is unknown, every step is shown, FROM scratch.
    """
    cut = base.history is not None
    steps = reconstruct(source.history, len(source.layers), base.history or 0, base.env)
    header = [f"Reconstructed by slimview from the history of {source.name}.", f"Base: {base.describe()}"]
    if not cut:
        header.append("Which steps are the base's own is unknown: every step is shown, from scratch.")
    return render_instructions([Instruction("", "", header), Instruction("FROM", base.name if cut else "scratch"), *steps])
