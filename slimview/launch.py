"""The ``slimview`` command's entry point: ask the engine for an image's save, then run the CLI.

An engine such as Docker 20.10 writes a whole save to a temporary directory before it
sends the first byte (5 s for the 893 MB sample), and importing the rest of slimview takes
0.3-0.5 s. So for ``slimview report IMAGE`` and ``slimview ci IMAGE`` on an image of a local engine that the cache
does not hold, the save is requested first (slimview/source/enginesave.py) and the rest
is imported while the engine prepares it; the engine source then reads that request's
answer instead of sending its own. Only the standard library and slimview.source are
imported before the request.

The command line is read here only to find IMAGE: click (slimview/cli.py) still parses and
checks all of it. A command line this does not surely understand (another command, an
option it does not know, ``--tag``, ``--platform``, help) asks for nothing early, and the
run is exactly what it would be without this module. A command line click then refuses
(or an existing ``-o`` file without ``--force``) leaves the engine to finish preparing a
save nobody reads: seconds of its work, once, on a user's mistake.
"""

from __future__ import annotations

import glob
import os
import sys

from slimview.errors import InputError
from slimview.fsutil import default_cache_dir
from slimview.source import split_reference
from slimview.source.engine import engine_host
from slimview.source.enginesave import inspect, save_name, start_early, unix_socket
from slimview.source.registry.reference import is_registry_reference

# The options of the commands whose IMAGE is requested early, those that take a value and
# the flags (tests/test_launch.py holds these to each command's own). --tag and --platform
# change which image is meant: not early.
_IMAGE_VALUES = frozenset({"--tag", "--platform", "--max-entries"})
_IMAGE_FLAGS = frozenset({"--no-cache", "--verify", "--insecure", "--allow-foreign-layers"})
_CI_RULES = frozenset({
    "--allow-build-tool", "--allow-secret", "--base-image-growth", "--build-tools", "--highest-user-wasted-percent",
    "--highest-wasted-bytes", "--highestUserWastedPercent", "--highestWastedBytes", "--lowest-efficiency",
    "--lowestEfficiency", "--max-avoidable-bytes", "--max-avoidable-percent", "--max-cache-bytes",
    "--max-duplicate-bytes", "--max-growth-bytes", "--max-growth-percent", "--max-hidden-bytes", "--max-image-bytes",
    "--max-junk-bytes", "--max-package-cache-bytes", "--run-as-root", "--secrets",
})
OPTIONS = {
    "report": (_IMAGE_VALUES | {"--format", "-o", "--output"}, _IMAGE_FLAGS | {"--json", "--force", "--no-files"}),
    "ci": (
        _IMAGE_VALUES | _CI_RULES | {"--config", "--baseline", "--dockerfile", "--sarif", "--markdown", "--junit", "--codequality", "--json"},
        _IMAGE_FLAGS | {"--force"},
    ),
}
NOT_EARLY = frozenset({"--tag", "--platform"})


def main() -> None:
    start_engine_save(sys.argv[1:])
    from slimview.cli import main as cli_main  # the rest of slimview, imported while the engine prepares

    cli_main()


def early_image(argv: list[str]) -> tuple[str, bool] | None:
    """(IMAGE, whether the cache is used) of a ``slimview report`` or ``slimview ci``
    command line, or None."""
    if not argv or argv[0] not in OPTIONS:
        return None
    value_options, flags = OPTIONS[argv[0]]
    image = None
    use_cache = True
    args = iter(argv[1:])
    for arg in args:
        if arg.startswith("-") and arg != "-":
            option, has_value, _ = arg.partition("=")
            if option in value_options and option not in NOT_EARLY:
                if not has_value and next(args, None) is None:
                    return None
            elif option in flags and not has_value:
                use_cache = use_cache and option != "--no-cache"
            else:
                return None
        elif image is None:
            image = arg
        else:
            return None
    return (image, use_cache) if image else None


def start_engine_save(argv: list[str]) -> None:
    """Request the save of the engine image ``argv`` reports on or gates, when the command will need it."""
    found = early_image(argv)
    if found is None:
        return
    image, use_cache = found
    if is_registry_reference(image):
        return
    try:
        reference, _tag, local = split_reference(os.path.expanduser(image))
    except InputError:
        return
    path = unix_socket(engine_host())
    if local or path is None:
        return
    attrs = inspect(path, reference)  # None: no such image or no engine; the CLI will say so
    if attrs is None:
        return
    image_id = str(attrs.get("Id") or "")
    if use_cache and may_be_cached(image_id):
        return
    tags = [t for t in attrs.get("RepoTags") or [] if isinstance(t, str) and t != "<none>:<none>"]
    try:
        start_early(path, save_name(reference, tags, image_id))
    except OSError:
        return


def may_be_cached(image_id: str) -> bool:
    """Does the index cache hold the config of image ``image_id`` (in any of its formats)?

    Only a run that indexed the whole image files its config (index/cache.py), so without
    it a save is certain; with it the engine source decides, after checking every layer.
    """
    name = image_id.removeprefix("sha256:")
    if not name:
        return True
    pattern = os.path.join(glob.escape(default_cache_dir()), "index-v*", "configs", glob.escape(name[:2]), glob.escape(name))
    return bool(glob.glob(pattern))
