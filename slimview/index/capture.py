"""Which file bodies the index keeps while it streams a layer past.

Findings need a few file contents (the package database, candidate secrets) and streams
(an engine save, a gzipped tarball) cannot be re-read cheaply, so the index keeps those
bodies as it passes them. The check runs once per file in the hot loop: keep it to set
and suffix lookups on the path.
"""

from __future__ import annotations

import re

from slimview.packages.paths import DATABASE_DIRS, DATABASE_FILES, DPKG_INFO, DPKG_LIST_SUFFIX, DPKG_STATUS_D

# Bump when the lists below change: cached layer indexes kept bodies by the old policy.
POLICY_VERSION = 5
# Package databases (slimview/packages/paths.py), kept whole up to this size.
PACKAGE_DB_MAX = 16 << 20
# Candidate secret and config files, kept up to this size.
SMALL_FILE_MAX = 256 << 10
# Files up to this size are also searched for a private key block, whatever their name
# (a key is a few kB; a bundle with certificates rarely passes 100 kB).
KEY_SCAN_MAX = 256 << 10
KEY_MARKER = b"PRIVATE KEY-----"
# ssh tools and TLS libraries carry the marker as a string constant; a key has a base64 body.
_PEM_KEY = re.compile(rb"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----\r?\n(?:[A-Za-z-]+: [^\n]*\r?\n)*\s*[A-Za-z0-9+/=]{32}")


# Bodies not searched for a key, known by their first bytes: compiled programs (ELF, Python
# bytecode) carry key markers as string constants, and keys live in text files; compressed
# data and gettext catalogues cannot show a PEM block. A third of a Python image's small files.
_NOT_KEY_HEADS = (
    b"\x7fELF",
    b"\x1f\x8b",  # gzip
    b"\x28\xb5\x2f\xfd",  # zstd
    b"\xfd7zXZ\x00",  # xz
    b"\xde\x12\x04\x95",  # gettext .mo, little-endian
    b"\x95\x04\x12\xde",  # and big-endian
)


def not_a_key_file(head: bytes) -> bool:
    """From a body's first 8 bytes: is it a kind of file no private key is searched in?"""
    if head.startswith(_NOT_KEY_HEADS):
        return True
    # CPython bytecode: a 2-byte magic number ending 0x0d or 0x0e, "\r\n", then 32 bits of
    # flags (0-3): the NULs rule out any text file.
    return head[2:4] == b"\r\n" and head[1] in (0x0D, 0x0E) and head[5:8] == b"\x00\x00\x00"


def holds_private_key(body: bytes) -> bool:
    """Does a body that contains KEY_MARKER hold an actual PEM private key block?"""
    return _PEM_KEY.search(body) is not None

SECRET_NAMES = frozenset(
    {
        ".env",
        "id_rsa",
        "id_dsa",
        "id_ecdsa",
        "id_ed25519",
        ".npmrc",
        ".pypirc",
        ".netrc",
        ".git-credentials",
        "credentials",
        ".dockercfg",
        ".htpasswd",
        ".pgpass",
        ".boto",
        "secrets.yaml",
        "secrets.yml",
        "secrets.json",
        "terraform.tfvars",
        "config.json",
        "config",  # ~/.kube/config, .git/config with credentials in a remote URL
        "application_default_credentials.json",
    }
)
SECRET_SUFFIXES = (".pem", ".key", ".p12", ".pfx", ".jks", ".keystore", ".ppk", ".tfvars", ".env")
CONFIG_SUFFIXES = (".json", ".yaml", ".yml", ".ini", ".cfg", ".conf", ".toml", ".properties", ".env", ".xml", ".sh", ".py")
# Trees full of config-like files that ship with distributions and language runtimes.
QUIET_PREFIXES = ("usr/share/", "usr/lib/python3", "usr/local/lib/python3", "usr/lib/node_modules/", "etc/ssl/", "usr/include/")
QUIET_PARTS = ("/site-packages/", "/dist-packages/", "/node_modules/")


def keeps_body(path: str) -> bool:
    """Is a captured body kept (package databases), or only scanned for secrets and dropped?"""
    return path in DATABASE_FILES or path.startswith(DATABASE_DIRS)


def capture_limit(path: str, base: str, size: int) -> int:
    """Bytes of this file's body to keep (0: none); ``base`` is the path's last component.

    Called for every regular file of every layer."""
    if path in DATABASE_FILES or path.startswith(DPKG_STATUS_D):
        return PACKAGE_DB_MAX
    if path.startswith(DPKG_INFO):
        return PACKAGE_DB_MAX if path.endswith(DPKG_LIST_SUFFIX) else 0
    if size > SMALL_FILE_MAX:
        return 0
    if base in SECRET_NAMES or base.startswith(".env") or base.endswith(SECRET_SUFFIXES):
        return SMALL_FILE_MAX
    if base.endswith(CONFIG_SUFFIXES) and not path.startswith(QUIET_PREFIXES) and not any(p in path for p in QUIET_PARTS):
        return SMALL_FILE_MAX
    return 0
