"""The image's own package database, read from the index (stage 2) and classified.

One home for everything slimview knows about OS packages; findings and the rewrite both
use it and neither keeps a copy. Each module has one job:

- ``paths``: where package managers keep their databases (a leaf: the index's capture
  policy imports it, so it imports nothing from slimview);
- ``model``: :class:`Package` and :class:`PackageDatabase`, the one typed model;
- ``dpkg``, ``apk`` and ``rpm``: parse one manager's files and read its database from an index;
- ``history``: what each layer's copy of a database listed (installs, removals, versions);
- ``attribution``: which visible files, and bytes, each package owns;
- ``database``: ``read_database``, the entry point, trying each manager in turn;
- ``osrelease``: the distribution, from ``os-release``;
- ``versions``: which of two versions of a package is newer;
- ``classify``: build roles, Python tooling, shared libraries, by package name;
- ``closure``: walks over dependencies (what the runtime still needs, what a set of
  packages pulls in, which packages are build-only).

A new manager is a new reader module beside ``dpkg``, ``apk`` and ``rpm``, its paths in
``paths``, and one more entry in ``database.READERS``.
"""
