"""Platforms as OCI descriptors name them (os/architecture/variant), and the host's."""

from __future__ import annotations

import platform as _platform

from slimview.errors import InputError

_MACHINE_TO_ARCH = {
    "x86_64": ("amd64", ""),
    "amd64": ("amd64", ""),
    "aarch64": ("arm64", "v8"),
    "arm64": ("arm64", "v8"),
    "armv7l": ("arm", "v7"),
    "armv6l": ("arm", "v6"),
    "i686": ("386", ""),
    "i386": ("386", ""),
    "ppc64le": ("ppc64le", ""),
    "s390x": ("s390x", ""),
    "riscv64": ("riscv64", ""),
}


def host_platform() -> dict:
    arch, variant = _MACHINE_TO_ARCH.get(_platform.machine().lower(), (_platform.machine().lower(), ""))
    return {"os": "linux", "architecture": arch, "variant": variant}


def parse_platform(text: str) -> dict:
    """Parse ``os/arch[/variant]`` (e.g. ``linux/arm64/v8``)."""
    parts = text.strip().split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise InputError(f"malformed platform {text!r} (expected os/arch[/variant], e.g. linux/amd64)")
    return {"os": parts[0], "architecture": parts[1], "variant": parts[2] if len(parts) == 3 else ""}


def platform_matches(have: dict, wanted: dict) -> bool:
    if have.get("os") != wanted.get("os") or have.get("architecture") != wanted.get("architecture"):
        return False
    # arm64 images usually omit the v8 variant; only a stated, different variant disqualifies.
    want_variant, have_variant = wanted.get("variant") or "", have.get("variant") or ""
    return not want_variant or not have_variant or want_variant == have_variant


def platform_text(p: dict) -> str:
    parts = [p.get("os") or "", p.get("architecture") or ""]
    if p.get("variant"):
        parts.append(p["variant"])
    return "/".join(parts) if any(parts) else ""


def platform_mismatch(config: dict, wanted_text: str) -> str:
    """Why the image whose config is ``config`` is not one for ``wanted_text`` (os/arch[/variant]);
    "" when it is, or when its config names no platform."""
    wanted = parse_platform(wanted_text)
    have = {k: str(config.get(k) or "") for k in ("os", "architecture", "variant")}
    if have["os"] and have["architecture"] and not platform_matches(have, wanted):
        return f"is an image for {platform_text(have)} only, not {platform_text(wanted)}"
    return ""
