"""The dive figures slimview computes with little memory (index/waste.py) equal dive's
algorithm written plainly (dive_model.py), on layers built to hit every case both handle:
duplicates, directory and file whiteouts (of present, implied and missing paths),
opaque directories with and without entries, estargz extras, entries below a path that
is deleted, recreated or replaced by a file."""

from __future__ import annotations

from dive_model import dive_efficiency_model
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slimview.index.layer import LayerFiles
from slimview.index.waste import dive_efficiency
from slimview.source.tarstream import EntryType

NAMES = st.sampled_from(["a", "b", "c", "d"])
PATHS = st.lists(NAMES, min_size=1, max_size=4).map("/".join)


@st.composite
def layer(draw) -> LayerFiles:
    files = LayerFiles()
    for path in draw(st.lists(PATHS, max_size=14)):
        kind = draw(st.sampled_from([EntryType.FILE, EntryType.FILE, EntryType.DIR, EntryType.SYMLINK]))
        files.paths.append(path)
        files.types.append(kind)
        files.sizes.append(draw(st.integers(0, 300)) if kind == EntryType.FILE else 0)
        files.modes.append(0o644)
        files.uids.append(0)
        files.gids.append(0)
        files.hashes += bytes(16)
    files.whiteouts.extend(draw(st.lists(PATHS, max_size=3)))
    files.opaque_dirs.extend(draw(st.lists(PATHS | st.just(""), max_size=2)))
    if draw(st.booleans()):
        files.estargz_extras.append(("stargz.index.json", draw(st.integers(0, 50))))
    return files


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layers=st.lists(layer(), min_size=1, max_size=5))
def test_lean_figures_equal_dives_algorithm(layers):
    assert dive_efficiency(layers) == dive_efficiency_model(layers)


def test_a_path_of_the_first_layer_no_later_layer_names_gets_no_record():
    """What makes it lean: the first layer's paths are counted into the totals, not kept."""
    from slimview.index.waste import _counted_again

    base = LayerFiles(paths=["a/x", "a/y"])
    top = LayerFiles(paths=["a/y"], whiteouts=["b"])
    assert _counted_again([base, top], {"b"}) == {"a/y", "b"}
