"""The entry point: the final image's package database, whichever manager wrote it."""

from __future__ import annotations

from collections.abc import Callable

from slimview.index.model import ImageIndex
from slimview.packages.apk import read_apk
from slimview.packages.dpkg import read_dpkg
from slimview.packages.model import PackageDatabase
from slimview.packages.rpm import read_rpm

# A reader returns the database its manager keeps in the image, or None when there is none.
Reader = Callable[[ImageIndex], PackageDatabase | None]
# Tried in order; the first database found is the image's.
READERS: tuple[Reader, ...] = (read_dpkg, read_apk, read_rpm)


def read_database(index: ImageIndex) -> PackageDatabase | None:
    """The final image's package database (dpkg, else apk, else rpm), or None when it has none."""
    for reader in READERS:
        db = reader(index)
        if db is not None:
            return db
    return None
