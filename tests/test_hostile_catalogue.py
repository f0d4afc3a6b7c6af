"""The hostile-input catalogue: every broken input gives one clear line and exit status 2.

Each case writes a generated input, runs the real CLI (``slimview report``) on it in a
subprocess and the library (``build_index``) in-process, and checks the exact message:
the CLI's single stderr line and the library's SlimviewError text are the same sentence.
Valid-but-strange inputs are in test_hostile_strange.py; bombs in test_hostile_bombs.py.
"""

from __future__ import annotations

import json
import os
import re

import pytest

from slimview.errors import InputError, LimitExceeded, SlimviewError
from slimview.index import IndexOptions, build_index

from hostile import (
    END,
    Archive,
    base256,
    decompress,
    directory,
    error_line,
    garbage,
    gnu_long,
    gzip_bytes,
    hardlink,
    header,
    member,
    one_layer,
    pax,
    run_cli,
    sha,
    simple_archive,
    simple_layer,
    tar,
    zstd_bytes,
)

LAYER = r"layer 0 \([0-9a-f]{12}\)"  # how a layer of an on-disk archive is named in messages


def _write(path, data: bytes) -> str:
    with open(path, "wb") as fh:
        fh.write(data)
    return str(path)


def _flip(data: bytes, at: int, n: int = 16) -> bytes:
    return data[:at] + bytes(b ^ 0x5A for b in data[at : at + n]) + data[at + n :]


# Each case: (tmp_path) -> (IMAGE argument, regex for the message after "slimview: error: ",
# the SlimviewError subclass build_index raises). {p} in the regex is the escaped argument.


def case_missing(tmp):
    return str(tmp / "absent.tar"), r"{p}: no such file or directory", InputError


def case_directory_without_layout(tmp):
    (tmp / "dir").mkdir()
    (tmp / "dir" / "layer.tar").write_bytes(simple_layer())
    return str(tmp / "dir"), r"{p}: is a directory without an OCI layout \(no index\.json\)", InputError


def case_device(tmp):
    return "/dev/null", r"/dev/null: not a regular file or directory", InputError


def case_fifo(tmp):
    os.mkfifo(tmp / "fifo.tar")
    return str(tmp / "fifo.tar"), r"{p}: not a regular file or directory", InputError


def case_empty_file(tmp):
    return _write(tmp / "empty.tar", b""), r"{p}: is empty", InputError


def case_garbage(tmp):
    return _write(tmp / "junk.tar", garbage("junk", 5000)), r"{p}: not a tar archive, OCI layout or compressed save", InputError


def case_truncated_outer_tar_in_data(tmp):
    data = simple_archive().build()
    return _write(tmp / "t.tar", data[:1500]), r"{p}: archive is truncated \(an entry's data runs past the end\)", InputError


def case_truncated_outer_tar_in_header(tmp):
    data = simple_archive().build()
    first = 512 + len(simple_layer())  # the first layer member, then the next header
    return _write(tmp / "t.tar", data[: first + 300]), r"{p}: archive is truncated \(ended inside a tar header\)", InputError


def case_truncated_gzipped_save(tmp):
    data = gzip_bytes(simple_archive().build())
    return (
        _write(tmp / "t.tar.gz", data[: len(data) // 2]),
        r"{p}: corrupt or truncated gzip data \(Compressed file ended before the end-of-stream marker was reached\)",
        InputError,
    )


def case_truncated_zstd_save(tmp):
    data = zstd_bytes(simple_archive().build() + garbage("pad", 300_000))
    return (
        _write(tmp / "t.tar.zst", data[: len(data) - 5000]),
        r"{p}: corrupt or truncated zstd data \(zstd data is truncated \(the stream ends inside a frame\)\)",
        InputError,
    )


def case_truncated_layer(tmp):
    layer = simple_layer()
    cut = 4 * 512 + 50  # etc/, etc/hostname and its data, bin/sh's header, then 50 of its 104 bytes
    data = Archive([layer[:cut]], diff_ids=[sha(layer)]).build()
    return _write(tmp / "t.tar", data), rf"{{p}}: {LAYER}: archive is truncated \(inside the data of 'bin/sh'\)", InputError


def case_truncated_gzip_layer(tmp):
    blob = gzip_bytes(simple_layer())
    data = Archive([blob[: len(blob) // 2]], diff_ids=[sha(simple_layer())]).build()
    return (
        _write(tmp / "t.tar", data),
        rf"{{p}}: {LAYER}: corrupt or truncated layer data \(Compressed file ended before the end-of-stream marker was reached\)",
        InputError,
    )


def case_truncated_zstd_layer(tmp):
    blob = zstd_bytes(simple_layer())
    data = Archive([blob[: len(blob) - 7]], diff_ids=[sha(simple_layer())]).build()
    return (
        _write(tmp / "t.tar", data),
        rf"{{p}}: {LAYER}: corrupt or truncated layer data \(zstd data is truncated \(the stream ends inside a frame\)\)",
        InputError,
    )


def case_corrupt_gzip_layer(tmp):
    blob = gzip_bytes(simple_layer())
    data = Archive([_flip(blob, 30)], diff_ids=[sha(simple_layer())]).build()
    return (
        _write(tmp / "t.tar", data),
        # In ISA-L's words (slimview inflates gzip with it): "Error -3 Invalid lookback distance found".
        rf"{{p}}: {LAYER}: corrupt or truncated layer data \(Error -3 [A-Za-z: ]+\)",
        InputError,
    )


def case_corrupt_zstd_layer(tmp):
    blob = zstd_bytes(simple_layer())
    data = Archive([_flip(blob, 20, 20)], diff_ids=[sha(simple_layer())]).build()
    return (
        _write(tmp / "t.tar", data),
        rf"{{p}}: {LAYER}: corrupt or truncated layer data \(zstd decompress error: [A-Za-z ]+\)",
        InputError,
    )


def case_gzip_of_garbage_layer(tmp):
    blob = gzip_bytes(garbage("layer", 5000))
    data = Archive([blob]).build()
    return _write(tmp / "t.tar", data), rf"{{p}}: {LAYER}: not a tar archive \(bad header checksum at byte 0\)", InputError


def case_gzip_of_garbage_file(tmp):
    return _write(tmp / "t.tar.gz", gzip_bytes(garbage("file", 5000))), r"{p}: a gzip stream that does not hold a tar archive", InputError


def case_manifest_missing(tmp):
    data = simple_archive(omit={"manifest.json"}).build()
    return _write(tmp / "t.tar", data), r"{p}: no manifest\.json or index\.json: not a docker save or OCI image", InputError


def case_manifest_not_json(tmp):
    data = simple_archive(manifest=b"[{\"Config\": ").build()
    return _write(tmp / "t.tar", data), r"{p}: manifest\.json is not valid JSON \(JSONDecodeError\)", InputError


def case_manifest_not_a_list(tmp):
    data = simple_archive(manifest={"Config": "x.json", "Layers": []}).build()
    return _write(tmp / "t.tar", data), r"{p}: manifest\.json is not a non-empty list of images", InputError


def case_manifest_nested_too_deeply(tmp):
    data = simple_archive(manifest=b"[" * 100_000 + b"]" * 100_000).build()
    return _write(tmp / "t.tar", data), r"{p}: manifest\.json nests too deeply to be an image's metadata", InputError


def case_manifest_entry_without_layers(tmp):
    data = simple_archive(manifest=[{"Config": "x.json", "Layers": "a/layer.tar"}]).build()
    return _write(tmp / "t.tar", data), r"{p}: manifest\.json entry lacks Config or Layers", InputError


def case_manifest_layer_outside_archive(tmp):
    archive = simple_archive(layer_names=["../l0.tar", "l1/layer.tar"])
    return _write(tmp / "t.tar", archive.build()), r"{p}: manifest names a layer outside the archive: '\.\./l0\.tar'", InputError


def case_config_missing(tmp):
    archive = simple_archive()
    name = archive.parts()[1]
    archive.omit = {name}
    return _write(tmp / "t.tar", archive.build()), rf"{{p}}: image config '{name}' is missing from the archive", InputError


def case_config_not_matching_digest(tmp):
    archive = simple_archive(config_name="0" * 64 + ".json")
    return (
        _write(tmp / "t.tar", archive.build()),
        r"{p}: image config does not match its name 0{64}\.json \(archive corrupt or altered\)",
        InputError,
    )


def case_config_not_json(tmp):
    archive = simple_archive(config=b"not json {")
    return _write(tmp / "t.tar", archive.build()), r"{p}: image config is not valid JSON \(JSONDecodeError\)", InputError


def case_config_not_utf8(tmp):
    archive = simple_archive(config=b'{"os": "\xff\xfe"}')
    return _write(tmp / "t.tar", archive.build()), r"{p}: image config is not valid JSON \(UnicodeDecodeError\)", InputError


def case_config_without_diff_ids(tmp):
    archive = simple_archive(config={"os": "linux", "rootfs": {"type": "layers"}})
    return _write(tmp / "t.tar", archive.build()), r"{p}: image config has no rootfs\.diff_ids list", InputError


def case_config_field_of_the_wrong_type(tmp):
    archive = simple_archive()
    config = json.loads(archive.parts()[0])
    config["config"]["User"] = 5  # fuzzing: crashed the findings with AttributeError
    archive.config = config
    return _write(tmp / "t.tar", archive.build()), r"{p}: image config field config\.User is not a string", InputError


def case_config_history_not_a_list(tmp):
    archive = simple_archive()
    config = json.loads(archive.parts()[0])
    config["history"] = True  # fuzzing: TypeError in the history
    archive.config = config
    return _write(tmp / "t.tar", archive.build()), r"{p}: image config field history is not a list of objects", InputError


def case_manifest_repo_tags_not_strings(tmp):
    archive = simple_archive()
    _config, config_name, names, _ids, _manifest = archive.parts()
    archive.manifest = [{"Config": config_name, "RepoTags": [{"tag": "x"}], "Layers": names}]
    return _write(tmp / "t.tar", archive.build()), r"{p}: manifest\.json RepoTags is not a list of strings", InputError


def case_sparse_pax_header_with_an_empty_size(tmp):
    data = one_layer(pax({"GNU.sparse.realsize": "", "GNU.sparse.major": "1"}), member("s", b"0\n" + bytes(510)))
    return _write(tmp / "t.tar", data), rf"{{p}}: {LAYER}: tar entry 's' has a malformed PAX number", InputError


def case_layer_listed_but_absent(tmp):
    archive = simple_archive(layer_names=["l0/layer.tar", "l1/layer.tar"], omit={"l1/layer.tar"})
    return _write(tmp / "t.tar", archive.build()), r"{p}: layer 'l1/layer\.tar' is missing from the archive", InputError


def case_layer_listed_but_absent_streamed(tmp):
    archive = simple_archive(layer_names=["l0/layer.tar", "l1/layer.tar"], omit={"l1/layer.tar"})
    return (
        _write(tmp / "t.tar.gz", gzip_bytes(archive.build())),
        r"{p}: layer 1 \('l1/layer\.tar'\) is listed in the manifest but absent from the archive",
        InputError,
    )


def case_fewer_layers_than_diff_ids(tmp):
    archive = simple_archive()
    archive.diff_ids = [sha(t) for t in archive.layers] + [sha(b"another")]
    return (
        _write(tmp / "t.tar", archive.build()),
        r"{p}: the manifest lists 2 layers but the config's rootfs\.diff_ids has 3",
        InputError,
    )


def case_more_layers_than_diff_ids(tmp):
    archive = simple_archive()
    archive.diff_ids = [sha(archive.layers[0])]
    return (
        _write(tmp / "t.tar", archive.build()),
        r"{p}: the manifest lists 2 layers but the config's rootfs\.diff_ids has 1",
        InputError,
    )


def case_layer_not_matching_diff_id(tmp):
    # Layers streamed from a compressed archive are always digested (blobs read in place
    # only with --verify, see test_cli_report.py), so swapped diff_ids are caught by a plain run.
    archive = simple_archive()
    real = [sha(t) for t in archive.layers]
    archive.diff_ids = [real[1], real[0]]
    return (
        _write(tmp / "t.tar.gz", gzip_bytes(archive.build())),
        rf"{{p}}: layer 0 does not match the image config: its content is {real[0]} but rootfs\.diff_ids\[0\] is {real[1]} \(archive corrupt or altered\)",
        InputError,
    )


def case_entry_escaping_with_dotdot(tmp):
    data = one_layer(directory("etc"), member("etc/../../../etc/passwd", b"root::0:0::/:/bin/sh\n"))
    return (
        _write(tmp / "t.tar", data),
        rf"{{p}}: {LAYER}: entry 'etc/\.\./\.\./\.\./etc/passwd' escapes the image root with '\.\.' \(archive corrupt or crafted\)",
        InputError,
    )


def case_absolute_entry(tmp):
    # An absolute name is read as the engine applies it (kaniko, buildpacks write them):
    # rooted at the layer. One that climbs out of the root even so is refused.
    data = one_layer(member("/../etc/cron.d/evil", b"* * * * * root sh\n"))
    return (
        _write(tmp / "t.tar", data),
        rf"{{p}}: {LAYER}: entry '/\.\./etc/cron\.d/evil' escapes the image root with '\.\.' \(archive corrupt or crafted\)",
        InputError,
    )


def case_nul_in_name(tmp):
    data = one_layer(pax({"path": "bin/ls\0.txt"}), member("placeholder", b"x"))
    return _write(tmp / "t.tar", data), rf"{{p}}: {LAYER}: entry name 'bin/ls\\x00\.txt' contains a NUL byte", InputError


def case_10000_character_path_pax(tmp):
    data = one_layer(pax({"path": "d/" * 4999 + "ff"}), member("placeholder", b"x"))
    return (
        _write(tmp / "t.tar", data),
        rf"{{p}}: {LAYER}: entry name is 10000 characters, over the 4096-byte path limit",
        LimitExceeded,
    )


def case_10000_character_path_gnu(tmp):
    data = one_layer(gnu_long("x" * 10000), member("placeholder", b"x"))
    return (
        _write(tmp / "t.tar", data),
        rf"{{p}}: {LAYER}: entry name is 10000 characters, over the 4096-byte path limit",
        LimitExceeded,
    )


def case_hard_link_escaping(tmp):
    data = one_layer(hardlink("etc/shadow", "../../../etc/shadow"))
    return (
        _write(tmp / "t.tar", data),
        rf"{{p}}: {LAYER}: hard link 'etc/shadow': entry '\.\./\.\./\.\./etc/shadow' escapes the image root with '\.\.' \(archive corrupt or crafted\)",
        InputError,
    )


def case_bad_header_checksum(tmp):
    data = one_layer(member("a", b"1"), member("b", b"2", chksum=0o1234))
    return _write(tmp / "t.tar", data), rf"{{p}}: {LAYER}: not a tar archive \(bad header checksum at byte 1024\)", InputError


def case_malformed_pax_record(tmp):
    bad = member("PaxHeader", b"999 path=x\n", typeflag=b"x")
    data = one_layer(bad, member("a", b"1"))
    return _write(tmp / "t.tar", data), rf"{{p}}: {LAYER}: tar has a malformed PAX header \(record overruns\)", InputError


def case_out_of_range_uid(tmp):
    data = one_layer(pax({"uid": str(1 << 70)}), member("a", b"1"))
    return _write(tmp / "t.tar", data), rf"{{p}}: {LAYER}: tar entry 'a' has an out-of-range size, uid or gid", InputError


def case_out_of_range_sparse_size(tmp):
    data = one_layer(member("big", b"1", typeflag=b"S", magic=b"ustar  \0", extra={483: base256(1 << 80, 12)}))
    return _write(tmp / "t.tar", data), rf"{{p}}: {LAYER}: tar entry 'big' has an out-of-range size, uid or gid", InputError


def case_metadata_over_limit(tmp):
    records = [(f"SCHILY.xattr.user.k{i}", "v" * 1000) for i in range(1100)]
    data = one_layer(pax(records), member("a", b"1"))
    return _write(tmp / "t.tar", data), rf"{{p}}: {LAYER}: tar metadata at byte 0 adds up to over the 1 MiB limit", LimitExceeded


def case_global_metadata_over_limit(tmp):
    blocks = [pax({f"comment{i}": "c" * 500_000}, global_=True) for i in range(3)]
    data = one_layer(*blocks, member("a", b"1"))
    return (
        _write(tmp / "t.tar", data),
        rf"{{p}}: {LAYER}: tar metadata at byte {len(blocks[0]) + len(blocks[1])} adds up to over the 1 MiB limit",
        LimitExceeded,
    )


def case_truncated_outer_tar_streamed(tmp):
    data = gzip_bytes(simple_archive().build()[:1500])
    return _write(tmp / "t.tar.gz", data), r"{p}: [0-9a-f]{64}/layer\.tar: archive is truncated \(inside a nested archive\)", InputError


def _oci_layout(tmp, mutate) -> str:
    from slimview.sample.builder import ImageSpec, Layer, oci_layout_files

    spec = ImageSpec([Layer("RUN a").file("a.txt", b"hello\n")])
    files = oci_layout_files([(spec, "latest", None)], compression="gzip")
    mutate(files)
    root = tmp / "layout"
    for name, data in files.items():
        if data is None:
            continue
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return str(root)


def case_oci_index_not_json(tmp):
    def mutate(files):
        files["index.json"] = b"{manifests"

    return _oci_layout(tmp, mutate), r"{p}: index\.json is not valid JSON \(JSONDecodeError\)", InputError


def case_oci_manifest_missing(tmp):
    def mutate(files):
        index = json.loads(files["index.json"])
        files["blobs/sha256/" + index["manifests"][0]["digest"][7:]] = None

    return _oci_layout(tmp, mutate), r"{p}: none of the listed image manifests is present in the layout", InputError


def case_oci_malformed_digest(tmp):
    def mutate(files):
        index = json.loads(files["index.json"])
        index["manifests"][0]["digest"] = "sha256:../../../etc/passwd"
        files["index.json"] = json.dumps(index).encode()

    return _oci_layout(tmp, mutate), r"malformed digest 'sha256:\.\./\.\./\.\./etc/passwd' \(expected sha256:<64 hex>\)", InputError


def case_oci_descriptor_of_the_wrong_type(tmp):
    def mutate(files):
        index = json.loads(files["index.json"])
        index["manifests"][0]["mediaType"] = []  # fuzzing: TypeError (unhashable) in the selection
        files["index.json"] = json.dumps(index).encode()

    return _oci_layout(tmp, mutate), r"{p}: index\.json has a malformed descriptor", InputError


def case_oci_layer_blob_is_a_directory(tmp):
    def mutate(files):
        index = json.loads(files["index.json"])
        manifest = json.loads(files["blobs/sha256/" + index["manifests"][0]["digest"][7:]])
        blob = "blobs/sha256/" + manifest["layers"][0]["digest"][7:]
        files[blob] = None
        files[blob + "/x"] = b"not a blob"  # the blob's name is a directory

    return _oci_layout(tmp, mutate), r"{p}: layer blob 'blobs/sha256/[0-9a-f]{64}' is not a regular file", InputError


CASES = {name[len("case_") :]: fn for name, fn in sorted(globals().items()) if name.startswith("case_")}


@pytest.mark.parametrize("name", sorted(CASES))
def test_cli_gives_one_line_and_exit_2(name, tmp_path):
    image, pattern, _cls = CASES[name](tmp_path)
    proc = run_cli(["report", image], tmp_path, timeout=60)
    message = error_line(proc)
    assert re.fullmatch(pattern.replace("{p}", re.escape(image)), message), message


@pytest.mark.parametrize("name", sorted(CASES))
def test_library_raises_only_slimview_errors(name, tmp_path):
    image, pattern, cls = CASES[name](tmp_path)
    with pytest.raises(SlimviewError) as caught:
        build_index(image, IndexOptions(cache_dir=str(tmp_path / "cache")))
    assert type(caught.value) is cls, repr(caught.value)
    assert re.fullmatch(pattern.replace("{p}", re.escape(image)), str(caught.value)), str(caught.value)
    leftovers = [f for _r, _d, fs in os.walk(tmp_path / "cache") for f in fs if f.startswith(".tmp-")]
    assert leftovers == []


@pytest.mark.parametrize("name", ["new\nline.tar", "esc\x1b]0;title\x07.tar", "bad\udcff.tar"])
def test_names_with_control_characters_stay_one_escaped_line(name, tmp_path):
    path = tmp_path / name
    path.write_bytes(b"x" * 600)
    proc = run_cli(["report", str(path)], tmp_path)
    shown = str(path).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    shown = "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in shown)
    assert error_line(proc) == f"{shown}: not a tar archive, OCI layout or compressed save"
    assert "\x1b" not in proc.stderr and "\x07" not in proc.stderr


def test_the_catalogue_covers_the_issue(tmp_path):
    """Every kind of broken input the issue names has at least one case here."""
    named = {
        "not a file": "device", "directory without layout": "directory_without_layout", "empty": "empty_file",
        "truncated outer tar": "truncated_outer_tar_in_data", "truncated layer": "truncated_layer",
        "corrupt gzip": "corrupt_gzip_layer", "corrupt zstd": "corrupt_zstd_layer", "gzip of garbage": "gzip_of_garbage_file",
        "manifest missing": "manifest_missing", "manifest not JSON": "manifest_not_json", "manifest wrong shape": "manifest_not_a_list",
        "config missing": "config_missing", "config digest": "config_not_matching_digest", "layers absent": "layer_listed_but_absent",
        "fewer layers": "more_layers_than_diff_ids", "more layers": "fewer_layers_than_diff_ids", "..": "entry_escaping_with_dotdot",
        "absolute": "absolute_entry", "NUL": "nul_in_name", "10,000-character path": "10000_character_path_pax",
    }
    assert set(named.values()) <= set(CASES)


def test_decompress_helper_is_honest():
    """The generators' own helper must give back exactly what was compressed."""
    layer = simple_layer()
    assert decompress(gzip_bytes(layer)) == layer
    assert decompress(zstd_bytes(layer)) == layer
    assert tar(header("x")) == header("x") + END
