"""Where package managers keep their databases, and the files that name the distribution.

A leaf module: the index's capture policy (index/capture.py) imports these to keep the
bodies while it streams the layers, so nothing here may import the index. Changing
DATABASE_FILES or DATABASE_DIRS changes that policy: bump its POLICY_VERSION.
"""

from __future__ import annotations

# dpkg: one status file (distroless: one stanza per file under status.d/) and a file list
# per package in info/<name>[:arch].list.
DPKG_DIR = "var/lib/dpkg/"
DPKG_STATUS = "var/lib/dpkg/status"
DPKG_STATUS_D = "var/lib/dpkg/status.d/"
DPKG_INFO = "var/lib/dpkg/info/"
DPKG_LIST_SUFFIX = ".list"
# apt marks the packages it installed only as dependencies here.
APT_EXTENDED_STATES = "var/lib/apt/extended_states"
# apk: every package with its files in one database; what was asked for in the world file.
APK_DB_DIR = "lib/apk/db/"
APK_INSTALLED = "lib/apk/db/installed"
APK_WORLD = "etc/apk/world"

# The distribution: os-release in the order the specification says to read it.
OS_RELEASE = ("etc/os-release", "usr/lib/os-release")
ALPINE_RELEASE = "etc/alpine-release"
DEBIAN_VERSION = "etc/debian_version"

# Trees that hold only package-manager bookkeeping.
DATABASE_TREES = (DPKG_DIR, APK_DB_DIR)
# Single files the index keeps whole, and trees whose files it keeps (see index/capture.py).
DATABASE_FILES = frozenset(
    {DPKG_STATUS, APK_INSTALLED, APK_WORLD, APT_EXTENDED_STATES, *OS_RELEASE, ALPINE_RELEASE, DEBIAN_VERSION}
)
DATABASE_DIRS = (DPKG_INFO, DPKG_STATUS_D)
