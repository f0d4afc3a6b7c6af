"""Tar bombs: small archives that expand into huge trees are refused with a limit message.

Every run is a real CLI process under an address-space cap, and its peak resident memory
is checked: refusing a bomb must not first build the whole bomb in memory. The cap is a
safety net (a regression becomes a MemoryError, reported as 'out of memory', which fails
the message check); the RSS bound is the assertion. No timing is asserted; each run has
a generous timeout as a hang guard.
"""

from __future__ import annotations

import pytest

from hostile import Archive, empty_entries_layer, gzip_layer_diff_id, member, pax, run_cli_measured, tar

CAP = 3 << 30  # address space: Python, the digest thread and the pools fit well within it
# Peak RSS allowed while refusing a bomb: the interpreter and imports take ~45 MB; indexing
# 100,000 entries before the limit trips takes a few MB more. Indexing the whole of the
# 600,000-entry bombs below would take ~280 MB, the deep one over 3 GB.
RSS_BOUND = 150 << 20


def _bomb_archive(path, layers: list[bytes]) -> str:
    return Archive(layers, diff_ids=[gzip_layer_diff_id(b) for b in layers]).write(path)


def _refused(tmp_path, image: str, *args: str) -> tuple[str, int]:
    status, out, err, rss = run_cli_measured(["report", *args, image], tmp_path, address_space=CAP)
    assert "Traceback" not in err, err
    assert status == 2, err
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    return lines[0], rss


def test_600000_empty_entries_over_the_limit(tmp_path):
    image = _bomb_archive(tmp_path / "bomb.tar", [empty_entries_layer(600_000)])
    assert (tmp_path / "bomb.tar").stat().st_size < 8 << 20  # 300 MB of tar in a 6 MB file
    line, rss = _refused(tmp_path, image, "--max-entries", "100000")
    assert line.startswith(f"slimview: error: {image}: layer 0 (")
    assert line.endswith(
        "): more than 100,000 entries, counting whiteouts, implied directories and long paths "
        "(raise --max-entries if this image is real)"
    )
    assert rss < RSS_BOUND, rss


def test_600000_whiteouts_count_as_entries(tmp_path):
    image = _bomb_archive(tmp_path / "wh.tar", [empty_entries_layer(600_000, whiteouts=True)])
    line, rss = _refused(tmp_path, image, "--max-entries", "100000")
    assert "more than 100,000 entries, counting whiteouts" in line
    assert rss < RSS_BOUND, rss


def test_many_layers_each_under_the_limit_add_up(tmp_path):
    layers = [empty_entries_layer(30_000, prefix=f"l{k}-") for k in range(4)]
    image = _bomb_archive(tmp_path / "layers.tar", layers)
    line, rss = _refused(tmp_path, image, "--max-entries", "100000")
    assert line == f"slimview: error: {image}: 120,000 entries in all layers, over the limit of 100,000 (raise --max-entries if this image is real)"
    assert rss < RSS_BOUND, rss


def test_many_layers_streamed_from_a_gzipped_save_stop_early(tmp_path):
    import gzip

    layers = [empty_entries_layer(30_000, prefix=f"l{k}-") for k in range(6)]
    plain = tmp_path / "layers.tar"
    _bomb_archive(plain, layers)
    image = str(tmp_path / "layers.tar.gz")
    with open(image, "wb") as fh:
        fh.write(gzip.compress(plain.read_bytes(), compresslevel=1))
    line, rss = _refused(tmp_path, image, "--max-entries", "100000")
    # Checked after each streamed layer: the fourth one tips it, the rest are never indexed.
    assert line == f"slimview: error: {image}: 120,000 entries in all layers, over the limit of 100,000 (raise --max-entries if this image is real)"
    assert rss < RSS_BOUND, rss


def _deep_entries(count: int, depth: int) -> list[bytes]:
    """``count`` files, each at the end of its own chain of ``depth`` directories."""
    return [pax({"path": f"c{i}/" + "d/" * depth + "f"}) + member("placeholder", b"") for i in range(count)]


def test_deeply_nested_paths_count_their_implied_directories(tmp_path):
    # 3,000 entries, each implying 1,000 directories of up to 2,000 bytes: 3 million
    # directories and 3 GB of names (38 s and 4 GB before the limit counted them).
    image = Archive([tar(*_deep_entries(3_000, 1_000))]).write(tmp_path / "deep.tar")
    line, rss = _refused(tmp_path, image, "--max-entries", "100000")
    assert "more than 100,000 entries, counting whiteouts, implied directories and long paths" in line
    assert rss < RSS_BOUND, rss


def test_deeply_nested_paths_under_the_limit_still_index(tmp_path):
    image = Archive([tar(*_deep_entries(20, 1_000))]).write(tmp_path / "deep.tar")
    status, out, err, rss = run_cli_measured(["report", "--json", image], tmp_path, address_space=CAP)
    assert (status, err) == (0, "")
    assert '"entry_count": 20' in out
    assert rss < RSS_BOUND, rss


def test_a_compressed_quarter_gigabyte_of_zeros_is_streamed_not_held(tmp_path):
    """A decompression bomb that is a valid layer: one 256 MiB file of zeros in 0.3 MB."""
    import zlib

    size = 256 << 20
    from hostile import END, header

    squeeze = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [squeeze.compress(header("zeros", size=size))]
    chunk = bytes(8 << 20)
    for _ in range(size // len(chunk)):
        parts.append(squeeze.compress(chunk))
    parts += [squeeze.compress(END), squeeze.flush()]
    blob = b"".join(parts)
    assert len(blob) < 1 << 20
    image = _bomb_archive(tmp_path / "zeros.tar", [blob])
    status, out, err, rss = run_cli_measured(["report", "--json", image], tmp_path, address_space=CAP)
    assert (status, err) == (0, "")
    assert f'"size_bytes": {size}' in out
    assert rss < RSS_BOUND, rss


@pytest.mark.parametrize("blocks", [1, 4])
def test_global_pax_headers_accumulate_within_the_metadata_limit(blocks, tmp_path):
    records = [pax({f"k{b}.{i:04}": "v" * 100 for i in range(3000)}, global_=True) for b in range(blocks)]
    assert len(records[0]) == 512 + 339_456  # 339,000 bytes of records, padded
    image = Archive([tar(*records, member("a", b"1"))]).write(tmp_path / "g.tar")
    status, _out, err, _rss = run_cli_measured(["report", image], tmp_path, address_space=CAP)
    if blocks == 1:
        assert (status, err) == (0, "")
    else:  # the fourth takes the stream's global metadata past 1 MiB (4 x 339,000 bytes)
        assert status == 2
        assert err.endswith(f": tar metadata at byte {3 * len(records[0])} adds up to over the 1 MiB limit\n"), err


def test_indexes_listing_each_other_over_and_over_are_bounded(tmp_path):
    """index.json lists one nested index 100,000 times, which lists another 100,000 times:
    10^10 manifests if flattened. Each index is read once and the listing stops at the limit."""
    import hashlib
    import json

    def desc(body: bytes, media_type: str) -> dict:
        return {"mediaType": media_type, "digest": "sha256:" + hashlib.sha256(body).hexdigest(), "size": len(body)}

    oci_index = "application/vnd.oci.image.index.v1+json"
    leaf = json.dumps({"schemaVersion": 2, "manifests": [desc(b"absent", "application/vnd.oci.image.manifest.v1+json")]}).encode()
    inner = json.dumps({"schemaVersion": 2, "manifests": [desc(leaf, oci_index)] * 100_000}).encode()
    root = tmp_path / "layout"
    (root / "blobs" / "sha256").mkdir(parents=True)
    for body in (leaf, inner):
        (root / "blobs" / "sha256" / hashlib.sha256(body).hexdigest()).write_bytes(body)
    (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (root / "index.json").write_bytes(json.dumps({"schemaVersion": 2, "manifests": [desc(inner, oci_index)] * 100_000}).encode())
    line, rss = _refused(tmp_path, str(root))
    assert line == f"slimview: error: {root}: its indexes list more than 10,000 manifests; not an image layout"
    assert rss < RSS_BOUND, rss
