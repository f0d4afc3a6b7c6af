"""Registry credentials, found the way the Docker CLI finds them.

``$DOCKER_CONFIG/config.json`` (default ``~/.docker/config.json``): ``credHelpers`` for
this registry, else ``credsStore``, run as ``docker-credential-<name> get``; else the
``auths`` entry. The docker SDK (already a dependency) parses the file and decides which
store and which ``auths`` key apply, Docker Hub's aliases included. The helper is run
here rather than through the SDK's ``Store``, which lets the helper's stderr through to
ours, warns on stderr when it is missing, and has no timeout.

Secrets never leave this module in text: :class:`Credentials` hides them from ``repr``
and every message names only where credentials came from.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field

from slimview.errors import RegistryError

HELPER_PREFIX = "docker-credential-"
HELPER_TIMEOUT = 30  # seconds: a helper waiting on a locked keychain must not hang us
MAX_CONFIG_BYTES = 4 << 20
TOKEN_USERNAME = "<token>"  # what helpers and config.json call an identity (refresh) token


@dataclass(frozen=True)
class Credentials:
    """A username and secret for one registry; ``identity_token`` means the secret is an
    OAuth refresh token (``docker login`` to a registry with an identity provider)."""

    username: str = field(repr=False)
    secret: str = field(repr=False)
    origin: str  # where they came from, for messages: never the values themselves
    identity_token: bool = False

    def basic(self) -> str:
        """The value of a Basic ``Authorization`` header."""
        return "Basic " + base64.b64encode(f"{self.username}:{self.secret}".encode()).decode("ascii")

    def secrets(self) -> list[str]:
        """Every form in which these credentials could show up in text."""
        return [s for s in (self.secret, self.basic()[6:]) if s]


def config_path() -> str:
    """Where the Docker CLI keeps its config: $DOCKER_CONFIG/config.json or ~/.docker/config.json."""
    directory = os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    return os.path.join(directory, "config.json")


def load_credentials(registry: str) -> Credentials | None:
    """Credentials for ``registry`` (``host[:port]`` as the user named it, or ``docker.io``),
    None when the config has none for it."""
    from docker import auth, errors

    path = config_path()
    data = _read_config(path)
    if not data or not any(data.get(k) for k in ("auths", "credsStore", "credHelpers")):
        return None
    try:
        config = auth.load_config(config_dict=data)
    except (errors.InvalidConfigFile, binascii.Error, ValueError, UnicodeDecodeError):
        raise RegistryError(f"{path}: an `auths` entry is malformed (expected base64 of user:password)") from None
    helper = config.get_credential_store(registry)
    if helper:
        found = _from_helper(str(helper), registry if registry != auth.INDEX_NAME else auth.INDEX_URL, path)
        if found is not None:
            return found
    entry = auth.AuthConfig({"auths": config.auths}).resolve_authconfig(registry)
    if not entry:
        return None
    origin = f"the `auths` entry of {path}"
    if entry.get("IdentityToken"):
        return Credentials("", str(entry["IdentityToken"]), origin, identity_token=True)
    if entry.get("username") is None and entry.get("password") is None:
        return None
    return Credentials(str(entry.get("username") or ""), str(entry.get("password") or ""), origin)


def _read_config(path: str) -> dict | None:
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise RegistryError(f"{path}: cannot read the Docker config ({exc.strerror})") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise RegistryError(f"{path}: over {MAX_CONFIG_BYTES >> 20} MiB; not a Docker config")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise RegistryError(f"{path}: not valid JSON") from None
    if not isinstance(data, dict):
        raise RegistryError(f"{path}: not a JSON object")
    auths = data.get("auths")
    if auths is not None and not (isinstance(auths, dict) and all(isinstance(v, dict) for v in auths.values())):
        raise RegistryError(f"{path}: `auths` is not an object of objects")
    for key in ("credsStore",):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise RegistryError(f"{path}: `{key}` is not a string")
    helpers = data.get("credHelpers")
    if helpers is not None and not (isinstance(helpers, dict) and all(isinstance(v, str) for v in helpers.values())):
        raise RegistryError(f"{path}: `credHelpers` is not an object of strings")
    return data


def _from_helper(name: str, server: str, path: str) -> Credentials | None:
    """Run ``docker-credential-<name> get`` for ``server``; None when it has no entry."""
    program = HELPER_PREFIX + name
    if "/" in name or not name:
        raise RegistryError(f"{path}: credential helper name {name!r} is not a plain name")
    exe = shutil.which(program)
    if exe is None:
        raise RegistryError(f"{path} names the credential helper {program}, which is not on PATH")
    try:
        proc = subprocess.run([exe, "get"], input=server.encode(), capture_output=True, timeout=HELPER_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise RegistryError(f"credential helper {program} did not answer within {HELPER_TIMEOUT} s") from None
    except OSError as exc:
        raise RegistryError(f"credential helper {program} could not be run ({exc.strerror})") from None
    if proc.returncode != 0:
        # Helpers say "credentials not found" on stdout or stderr; their other output is
        # never shown (it could hold anything).
        said = (proc.stdout + proc.stderr).decode("utf-8", "replace").lower()
        if "credentials not found" in said or "not found in native keychain" in said:
            return None
        raise RegistryError(f"credential helper {program} failed for {server} (exit status {proc.returncode})")
    try:
        answer = json.loads(proc.stdout)
        username, secret = answer["Username"], answer["Secret"]
        if not isinstance(username, str) or not isinstance(secret, str):
            raise TypeError
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise RegistryError(f"credential helper {program} answered for {server} with something other than its JSON (Username, Secret)") from None
    if not username and not secret:
        return None
    origin = f"credential helper {program}"
    if username == TOKEN_USERNAME:
        return Credentials("", secret, origin, identity_token=True)
    return Credentials(username, secret, origin)
