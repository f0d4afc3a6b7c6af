"""Registry references: ``registry://HOST[:PORT]/REPO[:TAG][@sha256:DIGEST]`` and skopeo's
``docker://[HOST/]REPO…``, parsed by Docker's grammar (distribution/reference).

``registry://`` always names the host. ``docker://`` follows Docker's rule: the first
component is a host only when it holds a dot or a colon or is ``localhost``; otherwise
the image is on Docker Hub (``docker.io``, with ``library/`` for one-component names).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from slimview.errors import InputError

PREFIXES = ("registry://", "docker://")
DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"  # where docker.io's registry API answers

_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_HOST = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")
MAX_NAME = 255  # Docker's limit on a repository name


def is_registry_reference(text: str) -> bool:
    return text.startswith(PREFIXES)


@dataclass(frozen=True)
class RegistryReference:
    """One image in a registry: the host as the user named it, the repository, and a tag
    and/or a manifest digest (the digest wins when both are given, as in Docker)."""

    host: str  # "127.0.0.1:5000", "docker.io"
    repository: str  # "team/app", "library/python"
    tag: str | None
    digest: str | None

    @property
    def api_host(self) -> str:
        """host[:port] where the registry API answers (Docker Hub's differs from its name)."""
        return DOCKER_HUB_API if self.host == DOCKER_HUB else self.host

    @property
    def hostname(self) -> str:
        """The host without its port (and without an IPv6 literal's brackets)."""
        host = self.host
        if host.startswith("["):
            return host[1 : host.index("]")]
        return host.rsplit(":", 1)[0] if ":" in host else host

    @property
    def is_loopback(self) -> bool:
        """Is the registry on this machine (``localhost``, 127.0.0.0/8, ::1)? Docker treats
        such registries as allowed over plain HTTP; so does slimview."""
        return is_loopback_host(self.hostname)

    @property
    def manifest_ref(self) -> str:
        """What goes after ``/manifests/``: the digest when given, else the tag."""
        return self.digest or self.tag or "latest"

    def __str__(self) -> str:
        text = f"{self.host}/{self.repository}"
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def is_loopback_host(hostname: str) -> bool:
    if hostname.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def parse_reference(text: str) -> RegistryReference:
    """Parse a ``registry://`` or ``docker://`` reference; one clear InputError if malformed."""
    prefix = next(p for p in PREFIXES if text.startswith(p))
    rest = text[len(prefix) :]
    first, slash, _ = rest.partition("/")
    if "@" in first:
        # user:password@host: never echo it (it may hold a password).
        raise InputError(f"{prefix}…: credentials do not belong in an image reference; use `docker login` (config.json or a credential helper)")
    name, at, digest = rest.partition("@")
    if at and not _DIGEST.fullmatch(digest):
        raise InputError(f"{text}: malformed digest {digest!r} (expected sha256:<64 hex digits>)")
    tag = None
    last = name.rsplit("/", 1)[-1]
    if ":" in last and "/" in name:
        name, tag = name.rsplit(":", 1)
    elif ":" in last and prefix == "docker://":
        name, tag = name.rsplit(":", 1)  # docker://busybox:1.36 (a Hub image)
    if tag is not None and not _TAG.fullmatch(tag):
        raise InputError(f"{text}: malformed tag {tag!r}")
    host, path = _split_host(name, prefix, text)
    if not path:
        raise InputError(f"{text}: no repository after the registry host (expected {prefix}HOST[:PORT]/REPO[:TAG])")
    if len(path) > MAX_NAME or not all(_COMPONENT.fullmatch(c) for c in path.split("/")):
        raise InputError(f"{text}: malformed repository name {path!r} (lower-case letters, digits and . _ - separators)")
    if not slash and prefix == "registry://":
        raise InputError(f"{text}: expected registry://HOST[:PORT]/REPO[:TAG]")
    return RegistryReference(host, path, tag if at else (tag or "latest"), digest if at else None)


def _split_host(name: str, prefix: str, text: str) -> tuple[str, str]:
    first, slash, rest = name.partition("/")
    if prefix == "docker://" and (not slash or ("." not in first and ":" not in first and first != "localhost")):
        path = name
        if "/" not in path:
            path = "library/" + path
        return DOCKER_HUB, path
    if not _HOST.fullmatch(first):
        raise InputError(f"{text}: malformed registry host {first!r}")
    port = first.rsplit(":", 1)[1] if ":" in first and not first.endswith("]") else ""
    if port and not 0 < int(port) < 65536:
        raise InputError(f"{text}: registry port {port} is out of range")
    host = first.lower()
    if host == "index.docker.io":
        host = DOCKER_HUB
    if host == DOCKER_HUB and "/" not in rest:
        rest = "library/" + rest
    return host, rest
