"""Where package managers keep their databases, and the files that name the distribution.

A leaf module: the index's capture policy (index/capture.py) imports these to keep the
bodies while it streams the layers, so nothing here may import the index. Changing
DATABASE_FILES or the dpkg trees changes that policy: bump its POLICY_VERSION.
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
# rpm 4.16+ (Fedora 33+, RHEL/UBI/Rocky 9): one sqlite database, under /usr/lib/sysimage/rpm
# (Fedora 36+, with /var/lib/rpm a symlink to it) or /var/lib/rpm. Older releases keep a
# Berkeley DB hash file (Packages: RHEL/CentOS 7-8, Amazon Linux 2).
RPM_DIRS = ("usr/lib/sysimage/rpm/", "var/lib/rpm/")
RPM_SQLITE = tuple(d + "rpmdb.sqlite" for d in RPM_DIRS)
RPM_BDB = tuple(d + "Packages" for d in RPM_DIRS)
RPM_DATABASES = (*RPM_SQLITE, *RPM_BDB)

# npm, yarn and pnpm: a project's manifest and lockfiles (outside node_modules), and npm's
# hidden lockfile, which records the tree node_modules holds.
NODE_MANIFEST = "package.json"
NODE_LOCKFILES = frozenset({"package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml"})
NODE_MODULES = "node_modules"
NPM_HIDDEN_LOCKFILE = ".package-lock.json"  # in node_modules/

# The distribution: os-release in the order the specification says to read it.
OS_RELEASE = ("etc/os-release", "usr/lib/os-release")
ALPINE_RELEASE = "etc/alpine-release"
DEBIAN_VERSION = "etc/debian_version"

# Trees that hold only package-manager bookkeeping.
DATABASE_TREES = (DPKG_DIR, APK_DB_DIR, *RPM_DIRS)
# Single files the index keeps whole (see index/capture.py; also dpkg's status.d/ and info/*.list).
DATABASE_FILES = frozenset(
    {DPKG_STATUS, APK_INSTALLED, APK_WORLD, APT_EXTENDED_STATES, *OS_RELEASE, ALPINE_RELEASE, DEBIAN_VERSION, *RPM_DATABASES}
)
