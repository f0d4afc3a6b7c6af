"""Values as the builders print them, and as a Dockerfile writes them.

Docker formats metadata steps with Go: ``CMD ["a" "b"]`` (%q of a []string),
``VOLUME [/data /logs]`` (%v), ``EXPOSE map[8000/tcp:{}]``, ``HEALTHCHECK &{["CMD-SHELL"
"…"] "30s" …}``, and ENV, LABEL and ARG values expanded and unquoted. These functions read
those forms and write the Dockerfile's: JSON arrays, ``--interval=30s`` flags, quoted
values. All are pure functions of strings.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

_SAFE_VALUE = re.compile(r"^[A-Za-z0-9_./:,@%+=~-]*$")
_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_LABEL_KEY = re.compile(r"^[A-Za-z0-9_.\-/]+=")
_GO_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
               "\\": "\\", '"': '"', "'": "'"}
_GO_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"', re.DOTALL)
_GO_RUNE = re.compile(r"'((?:[^'\\]|\\.)*)'", re.DOTALL)


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


def word_list(text: str) -> list[str] | None:
    """``[/data /logs]`` (Go's %v of a []string, as VOLUME and SHELL are recorded); else None."""
    text = text.strip()
    if not (text.startswith("[") and text.endswith("]")):
        return None
    return text[1:-1].split()


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


def labels(text: str) -> str:
    """Printed LABEL pairs (values unquoted, maybe with spaces) with their values quoted."""
    pairs = _pairs(text, _LABEL_KEY)
    if pairs is None:
        return text
    return " ".join(f"{k}={quote_value(v)}" for k, v in pairs)


def env_assignments(text: str, env: dict[str, str]) -> str:
    """Printed ENV pairs, writing ``$NAME`` back where a value extends the variable's previous
    value (``PATH=/app/bin:/usr/local/sbin:…`` after a base that set PATH is ``/app/bin:$PATH``).
    ``env`` holds the values in effect and is updated."""
    pairs = _pairs(text, _ENV_KEY)
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


def exposed_ports(text: str) -> str:
    """``map[8000/tcp:{} 53/udp:{}]`` as ``8000 53/udp``; any other text as it stands."""
    text = text.strip()
    if not (text.startswith("map[") and text.endswith("]")):
        return text
    ports = []
    for item in text[4:-1].split():
        port = item.removesuffix(":{}")
        ports.append(port.removesuffix("/tcp"))
    return " ".join(ports)


def healthcheck(text: str) -> str:
    """``&{["CMD-SHELL" "curl -f x"] "30s" "3s" "0s" '\\x03'}`` as Dockerfile flags and command;
    any other text as it stands."""
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
