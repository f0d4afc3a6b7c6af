"""The order of two versions of one package, by its package manager's rules.

dpkg's (epoch, upstream version, Debian revision; ``~`` sorts before everything) come from
python-debian, Debian's own implementation. apk orders versions by rules of its own
(``_rc``/``_p`` suffixes, ``-rN`` releases) that no maintained Python library implements,
so their order is left unknown rather than guessed.
"""

from __future__ import annotations

from debian.debian_support import version_compare

from slimview.packages.model import Manager


def version_order(manager: str, before: str, after: str) -> int | None:
    """Negative when ``after`` is older than ``before``, positive when newer, 0 when equal;
    None when the manager's order is not known."""
    if manager != Manager.DPKG:
        return None
    return version_compare(after, before)
