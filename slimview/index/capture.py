"""Which file bodies the index keeps while it streams a layer past.

Findings need a few file contents and streams (an engine save, a gzipped tarball) cannot
be re-read cheaply, so the index keeps those bodies as it passes them: package databases
(dpkg, apk, rpm) and a Node project's package.json and lockfiles (which packages are
devDependencies). Programs the image's owner built (ELF executables outside the system's
trees: are they stripped, static, Go?) are read as they pass (slimview/elf.py) and only
that record is kept, not their megabytes. Candidate secret and config files are read,
scanned and dropped. The check runs once per file in the hot loop: keep it to set
and suffix lookups on the path.
"""

from __future__ import annotations

import re
from enum import IntFlag

from slimview.packages.paths import (
    DATABASE_FILES,
    DPKG_INFO,
    DPKG_LIST_SUFFIX,
    DPKG_STATUS_D,
    NODE_LOCKFILES,
    NODE_MANIFEST,
    NODE_MODULES,
    NPM_HIDDEN_LOCKFILE,
    RPM_DATABASES,
)

# Bump when the lists below (or what slimview/elf.py reads) change: cached layer indexes
# kept bodies and program records by the old policy.
POLICY_VERSION = 7
# Package databases (slimview/packages/paths.py), kept whole up to this size.
PACKAGE_DB_MAX = 16 << 20
# rpm's databases hold every package header (file lists, changelogs): larger.
RPMDB_MAX = 64 << 20
# Programs: ELF executables from this size up (smaller ones have little to strip, and
# every file up to it is already read for secrets), read whole up to the maximum.
PROGRAM_MIN = 256 << 10
PROGRAM_MAX = 64 << 20
# Trees package managers, language runtimes and toolchains fill: their programs are not the
# image owner's build (a base image's or a package's, stripped or not by its maker).
SYSTEM_TREES = (
    "usr/bin/", "usr/sbin/", "bin/", "sbin/", "usr/lib/", "usr/lib32/", "usr/lib64/", "usr/libexec/", "lib/",
    "lib32/", "lib64/", "usr/share/", "usr/include/", "usr/src/", "etc/", "var/", "boot/", "proc/", "sys/",
    "dev/", "usr/local/lib/", "usr/local/libexec/", "usr/local/share/", "usr/local/include/", "usr/local/go/",
    "go/pkg/", "opt/conda/",
)
_VENDORED = ("/node_modules/", "/site-packages/", "/dist-packages/", "/.")  # "/." : hidden directories (caches, .git)
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


class BodyUse(IntFlag):
    """What the index does with a body it read (see :func:`capture`)."""

    DROP = 0
    SCAN = 1  # search it for secrets (keep only the redacted matches)
    KEEP = 2  # keep it (unless scanning found a secret in it)
    PROGRAM = 4  # read it as a program: keep what slimview/elf.py reads of an ELF executable


# Where distributions and global installs keep Node packages (Debian's /usr/share/nodejs, npm's
# own /usr/local/lib/node_modules): never a project's.
_NODE_NAMES = frozenset({NODE_MANIFEST, NPM_HIDDEN_LOCKFILE, *NODE_LOCKFILES})
_NODE_SYSTEM = ("usr/share/", "usr/lib/", "usr/local/lib/", "usr/include/", "opt/yarn")


def is_node_project_file(path: str, base: str) -> bool:
    """A Node project's package.json or lockfile (not a dependency's), or npm's hidden
    lockfile at the top of a project's node_modules."""
    if path.startswith(_NODE_SYSTEM) or "-packages/" in path:  # Python's site-packages and dist-packages
        return False
    if base == NPM_HIDDEN_LOCKFILE:
        return path.endswith(f"{NODE_MODULES}/{NPM_HIDDEN_LOCKFILE}") and path.count(NODE_MODULES + "/") == 1
    return (base == NODE_MANIFEST or base in NODE_LOCKFILES) and NODE_MODULES + "/" not in path


def is_program_candidate(path: str, base: str) -> bool:
    """A large file that may be a program the image's owner built: no file extension, not in
    a system, toolchain or vendored tree, not in a hidden directory (caches, .git)."""
    return "." not in base and not path.startswith(SYSTEM_TREES) and not any(v in "/" + path for v in _VENDORED)


# What :func:`capture` answers: the bytes of a body to read, and what to do with them.
_NOTHING = (0, BodyUse.DROP)
_PACKAGE_DB = (PACKAGE_DB_MAX, BodyUse.KEEP)
_RPM_DB = (RPMDB_MAX, BodyUse.KEEP)
_NODE_FILE = (PACKAGE_DB_MAX, BodyUse.SCAN | BodyUse.KEEP)
_PROGRAM = (PROGRAM_MAX, BodyUse.PROGRAM)
_SCANNED = (SMALL_FILE_MAX, BodyUse.SCAN)


def capture(path: str, base: str, size: int) -> tuple[int, BodyUse]:
    """How many bytes of this file's body to read (0: none) and what to do with them;
    ``base`` is the path's last component.

    Called for every regular file of every layer."""
    if path in DATABASE_FILES or path.startswith(DPKG_STATUS_D):
        return _RPM_DB if path in RPM_DATABASES else _PACKAGE_DB
    if path.startswith(DPKG_INFO):
        return _PACKAGE_DB if path.endswith(DPKG_LIST_SUFFIX) else _NOTHING
    if base in _NODE_NAMES and is_node_project_file(path, base):
        return _NODE_FILE
    if size > SMALL_FILE_MAX:
        return _PROGRAM if size >= PROGRAM_MIN and is_program_candidate(path, base) else _NOTHING
    if base in SECRET_NAMES or base.startswith(".env") or base.endswith(SECRET_SUFFIXES):
        return _SCANNED
    if base.endswith(CONFIG_SUFFIXES) and not path.startswith(QUIET_PREFIXES) and not any(p in path for p in QUIET_PARTS):
        return _SCANNED
    return _NOTHING
