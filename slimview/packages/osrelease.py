"""The distribution the image is built on, from its os-release file."""

from __future__ import annotations

from slimview.index.model import ImageIndex
from slimview.packages.paths import OS_RELEASE


def parse_os_release(body: bytes) -> dict[str, str]:
    """``KEY=value`` lines as {KEY: value}, quotes removed."""
    fields = {}
    for line in body.decode("utf-8", "replace").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            fields[key.strip()] = value.strip().strip('"')
    return fields


def os_release(index: ImageIndex) -> dict[str, str]:
    """Fields of the image's os-release file ({} when it has none or it was not kept)."""
    for path in OS_RELEASE:
        body = index.kept_body(path)
        if body is not None:
            return parse_os_release(body)
    return {}


def distribution_family(release: dict[str, str]) -> str:
    """"alpine", "debian" (Debian and its derivatives) or "" for other distributions."""
    if release.get("ID") == "alpine":
        return "alpine"
    return "debian" if "debian" in (release.get("ID", "") + " " + release.get("ID_LIKE", "")) else ""
