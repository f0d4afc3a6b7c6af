"""Every archive format and layout, written byte-for-byte by slimview.sample.builder.

The same image must index identically however it is stored; the choices a user makes
(which image of a multi-image save, which platform of an index) must pick exactly the
image asked for; tar features real images use (PAX and GNU long names, invalid UTF-8
names) must index correctly; estargz's extra entries are not part of the filesystem.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile

import pytest

from slimview.errors import InputError
from slimview.index import IndexOptions, build_index
from slimview.index.model import Change
from slimview.report.jsondoc import report_json
from slimview.sample.builder import ImageSpec, Layer, oci_layout_files, write_docker_archive, write_oci_archive, write_oci_layout
from slimview.session import analyse
from slimview.source.platform import host_platform, platform_text
from slimview.source.tarstream import EntryType

from indexcheck import canonical_digest


def spec() -> ImageSpec:
    return ImageSpec(
        [
            Layer("base").dir("etc").file("etc/os-release", "ID=test\n").dir("app")
            .file("app/big.bin", b"b" * 4000).hardlink("app/big.link", "app/big.bin")
            .dir("app/cache").file("app/cache/a", b"a" * 300).file("app/cache/b", b"c" * 200)
            .symlink("app/current", "big.bin"),
            Layer("RUN rm -rf /app/cache && chmod 600 /app/big.bin").whiteout("app/cache")
            .file("app/big.bin", b"b" * 4000, mode=0o600),
            Layer("RUN rebuild /app").opaque("app").file("app/new", b"n" * 10),
        ],
        cmd=["/app/new"],
        empty_history={1: ["ENV A=1"], 3: ["CMD [\"/app/new\"]"]},
    )


def expected_digest(tmp_path) -> str:
    path = tmp_path / "reference.tar"
    write_docker_archive(spec(), str(path), ["ref:latest"])
    return canonical_digest(build_index(str(path), IndexOptions(use_cache=False)))


def index(reference, **options):
    return build_index(str(reference), IndexOptions(use_cache=False, **options))


def test_the_reference_image_indexes_as_built(tmp_path):
    path = tmp_path / "reference.tar"
    write_docker_archive(spec(), str(path), ["ref:latest"])
    idx = index(path)
    assert [layer.stats.size for layer in idx.layers] == [8 + 4000 + 300 + 200, 4000, 10]
    # rm -rf hides the cache; the chmod copy does not hide the first big.bin (big.link still
    # names it) but the opaque /app then hides both bodies
    assert idx.hidden_bytes == 300 + 200 + 4000 + 4000
    assert idx.hidden_by_pair() == {(0, 1): 500, (1, 2): 4000, (0, 2): 4000}
    assert set(idx.final) == {"etc", "etc/os-release", "app", "app/new"}
    assert idx.layers[1].changes[idx.layers[1].find("app/big.bin")] == Change.MODIFIED
    assert [layer.instruction for layer in idx.layers] == [
        "base", "RUN rm -rf /app/cache && chmod 600 /app/big.bin", "RUN rebuild /app"
    ]
    assert {h.path for h in idx.hidden} == {"app/cache/a", "app/cache/b", "app/big.bin", "app/big.link"}


@pytest.mark.parametrize("layout", ["legacy", "oci", "skopeo"])
@pytest.mark.parametrize("compression", [None, "gzip", "zstd"])
def test_docker_archive_layouts_and_layer_compressions(tmp_path, layout, compression):
    path = tmp_path / "image.tar"
    write_docker_archive(spec(), str(path), ["img:1"], layout=layout, compression=compression)
    idx = index(path)
    assert idx.source.kind == ("docker-archive-oci" if layout == "oci" else "docker-archive")
    assert {layer.files.compression for layer in idx.layers} == {compression or "none"}
    assert canonical_digest(idx) == expected_digest(tmp_path)


@pytest.mark.parametrize("whole", ["gzip", "zstd"])
@pytest.mark.parametrize("layout", ["legacy", "oci"])
def test_whole_save_compressed(tmp_path, whole, layout):
    path = tmp_path / "image.tar.x"
    write_docker_archive(spec(), str(path), ["img:1"], layout=layout, whole=whole)
    idx = index(path)
    assert all(layer.ref.blob is None for layer in idx.layers)  # streamed, never extracted
    assert canonical_digest(idx) == expected_digest(tmp_path)


@pytest.mark.parametrize("compression", [None, "gzip", "zstd"])
def test_oci_layout_directory_and_archive(tmp_path, compression):
    layout = tmp_path / "layout"
    write_oci_layout(spec(), str(layout), ref="v1", compression=compression)
    archive = tmp_path / "image.oci.tar"
    write_oci_archive(spec(), str(archive), ref="v1", compression=compression)
    reference = expected_digest(tmp_path)
    for path, kind in ((layout, "oci-layout"), (f"{layout}:v1", "oci-layout"), (archive, "oci-archive")):
        idx = index(path)
        assert idx.source.kind == kind
        assert canonical_digest(idx) == reference


def test_compression_is_sniffed_not_trusted_from_names(tmp_path):
    """gzip blobs under a +zstd media type still open: the bytes decide, not the labels."""
    files = oci_layout_files([(spec(), "v1", None)], compression="gzip")
    index_doc = json.loads(files["index.json"])
    manifest_name = "blobs/sha256/" + index_doc["manifests"][0]["digest"][7:]
    manifest = json.loads(files.pop(manifest_name))
    for layer in manifest["layers"]:
        layer["mediaType"] = "application/vnd.oci.image.layer.v1.tar+zstd"
    body = json.dumps(manifest).encode()
    digest = hashlib.sha256(body).hexdigest()
    files["blobs/sha256/" + digest] = body
    index_doc["manifests"][0].update(digest="sha256:" + digest, size=len(body))
    files["index.json"] = json.dumps(index_doc).encode()
    layout = tmp_path / "lying"
    write_layout(layout, files)
    idx = index(layout)
    assert {layer.files.compression for layer in idx.layers} == {"gzip"}
    assert canonical_digest(idx) == expected_digest(tmp_path)


# -- several images in one save --------------------------------------------------------------


def other_spec() -> ImageSpec:
    return ImageSpec([Layer("other").file("other.txt", b"o" * 77)])


@pytest.fixture
def multi(tmp_path):
    path = tmp_path / "multi.tar"
    write_docker_archive(spec(), str(path), ["one:1"], extra_images=[(other_spec(), ["two:2", "deux:2"])])
    return path


def test_multi_image_save_without_a_choice_lists_the_images(multi):
    with pytest.raises(InputError) as err:
        index(multi)
    assert str(err.value) == f"{multi} holds 2 images; pick one with ARCHIVE:TAG or --tag (one:1, two:2 deux:2)"


@pytest.mark.parametrize("how", ["suffix", "option"])
def test_multi_image_save_picks_by_tag(multi, how, tmp_path):
    pick = (lambda tag: index(f"{multi}:{tag}")) if how == "suffix" else (lambda tag: index(multi, tag=tag))
    two = pick("deux:2")
    assert (two.size, set(two.final), two.source.name) == (77, {"other.txt"}, "two:2")
    one = pick("one:1")
    assert canonical_digest(one) == expected_digest(tmp_path)


def test_multi_image_save_with_an_unknown_tag(multi):
    with pytest.raises(InputError) as err:
        index(multi, tag="three:3")
    assert str(err.value) == f"{multi} has no image tagged 'three:3' (it holds: one:1, two:2 deux:2)"


def test_docker_hub_short_names_match(tmp_path):
    path = tmp_path / "hub.tar"
    write_docker_archive(other_spec(), str(path), ["docker.io/library/busybox:latest"], extra_images=[(spec(), ["x:1"])])
    assert index(f"{path}:busybox").size == 77
    assert index(path, tag="busybox:latest").size == 77


# -- multi-platform indexes --------------------------------------------------------------------

AMD64 = {"os": "linux", "architecture": "amd64"}
ARM64 = {"os": "linux", "architecture": "arm64", "variant": "v8"}
S390X = {"os": "linux", "architecture": "s390x"}


def platform_image(arch: str) -> ImageSpec:
    image = ImageSpec([Layer(f"{arch} base").file(f"arch-{arch}", arch * 10)])
    image.architecture = arch
    return image


def write_layout(root, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)


@pytest.fixture(params=["flat", "nested"])
def multiplatform(request, tmp_path):
    """An OCI layout holding one image per platform (nested: behind an image index, as registries serve them)."""
    platforms = [AMD64, ARM64, S390X]
    files = oci_layout_files([(platform_image(p["architecture"]), "", p) for p in platforms], compression="gzip")
    if request.param == "nested":
        inner = json.loads(files["index.json"])
        inner["mediaType"] = "application/vnd.oci.image.index.v1+json"
        # BuildKit adds an attestation manifest with platform unknown/unknown: never an image
        inner["manifests"].append({**inner["manifests"][0], "platform": {"os": "unknown", "architecture": "unknown"}})
        body = json.dumps(inner).encode()
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        files["blobs/sha256/" + digest[7:]] = body
        files["index.json"] = json.dumps({"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.index.v1+json", "digest": digest, "size": len(body),
            "annotations": {"org.opencontainers.image.ref.name": "multi"},
        }]}).encode()
    root = tmp_path / f"multi-{request.param}"
    write_layout(root, files)
    return root


def test_multi_platform_defaults_to_the_host(multiplatform):
    idx = index(multiplatform)
    host = host_platform()["architecture"]
    if host not in ("amd64", "arm64", "s390x"):
        pytest.skip(f"host architecture {host} is not in the test index")
    assert set(idx.final) == {f"arch-{host}"}
    assert idx.source.platform.startswith(f"linux/{host}")


@pytest.mark.parametrize("wanted, arch", [("linux/arm64", "arm64"), ("linux/arm64/v8", "arm64"), ("linux/s390x", "s390x"), ("linux/amd64", "amd64")])
def test_multi_platform_picks_by_platform(multiplatform, wanted, arch):
    idx = index(multiplatform, platform=wanted)
    assert set(idx.final) == {f"arch-{arch}"}
    assert idx.size == len(arch) * 10
    assert idx.source.config["architecture"] == arch


def test_multi_platform_without_the_wanted_platform(multiplatform):
    with pytest.raises(InputError) as err:
        index(multiplatform, platform="linux/riscv64")
    assert str(err.value) == (
        f"{multiplatform} has no image for platform linux/riscv64 (it has: linux/amd64, linux/arm64/v8, linux/s390x); use --platform"
    )


def test_malformed_platform(multiplatform):
    with pytest.raises(InputError, match=r"^malformed platform 'arm64' \(expected os/arch\[/variant\], e\.g\. linux/amd64\)$"):
        index(multiplatform, platform="arm64")


def test_a_single_foreign_platform_image_opens_anywhere(tmp_path):
    root = tmp_path / "arm"
    write_layout(root, oci_layout_files([(platform_image("arm64"), "latest", ARM64)]))
    idx = index(root)
    assert set(idx.final) == {"arch-arm64"} and platform_text(ARM64) == idx.source.platform


# -- tar features: long names, invalid UTF-8, estargz ---------------------------------------


class GnuLayer(Layer):
    """A layer written in GNU tar format (long names as ././@LongLink entries, raw name bytes)."""

    def tar(self) -> bytes:
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT, encoding="utf-8", errors="surrogateescape") as tar:
            for info, data in self.members:
                tar.addfile(info, io.BytesIO(data) if data is not None else None)
        return out.getvalue()


LONG_DIR = "/".join(["a-rather-long-directory-name-" + str(i) for i in range(6)])  # 185 characters
LONG_FILE = LONG_DIR + "/" + "f" * 150 + ".txt"
LONG_TARGET = "../" * 40 + "target"
BAD_UTF8 = b"latin1/caf\xe9-\xff.txt".decode("utf-8", "surrogateescape")


def names_spec(layer_cls) -> ImageSpec:
    return ImageSpec([
        layer_cls("names").file(LONG_FILE, b"L" * 123).symlink("short-link", LONG_TARGET)
        .hardlink("deep-hardlink", LONG_FILE).file(BAD_UTF8, b"u" * 45).file("ünïcode/名前.txt", b"8" * 6),
        layer_cls("remove").whiteout(BAD_UTF8).whiteout(LONG_DIR + "/" + "f" * 150 + ".txt"),
    ])


@pytest.mark.parametrize("layer_cls", [Layer, GnuLayer], ids=["pax", "gnu"])
def test_long_and_undecodable_names_index_correctly(tmp_path, layer_cls):
    path = tmp_path / "names.tar"
    write_docker_archive(names_spec(layer_cls), str(path), ["names:1"])
    raw = open(path, "rb").read()
    assert (b"././@LongLink" in raw) == (layer_cls is GnuLayer)
    for use_cache in (False, True, True):  # the second cached run reads the cache back
        idx = build_index(str(path), IndexOptions(cache_dir=str(tmp_path / "cache"), use_cache=use_cache))
        files = idx.layers[0].files
        assert sorted(files.paths) == sorted([LONG_FILE, "short-link", "deep-hardlink", BAD_UTF8, "ünïcode/名前.txt"])
        assert files.entry(files.paths.index("short-link")).link == LONG_TARGET
        assert files.entry(files.paths.index("deep-hardlink")).link == LONG_FILE
        assert files.sizes[files.paths.index(BAD_UTF8)] == 45
        assert idx.layers[0].stats.size == 123 + 45 + 6
        assert sorted(p for p, _ in idx.layers[1].deleted_paths) == sorted([BAD_UTF8, LONG_FILE])
        # LONG_FILE's body stays visible through deep-hardlink; the undecodable file is hidden
        assert idx.hidden_bytes == 45 and idx.visible_bytes == 123 + 6
        assert idx.notes == []


def test_undecodable_names_in_the_json_report(tmp_path):
    path = tmp_path / "names.tar"
    write_docker_archive(names_spec(GnuLayer), str(path), ["names:1"])
    doc = report_json(analyse(index(path)))
    entry = next(f for f in doc["layers"][0]["files"] if "path_b64" in f)
    assert entry["path"] == "latin1/caf\\xe9-\\xff.txt"
    assert entry["path_b64"] == "bGF0aW4xL2NhZukt/y50eHQ="
    json.dumps(doc, ensure_ascii=True)  # nothing unencodable left in the document


def estargz_layer(layer: Layer) -> bytes:
    """``layer`` as estargz writes it: landmark first, the TOC as the last entry, gzip."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        def add(name, data):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        add(".prefetch.landmark", b"\xf0")
        for info, data in layer.members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
        add("stargz.index.json", json.dumps({"version": 1, "entries": []}).encode() * 20)
    return gzip.compress(out.getvalue(), mtime=0)


def test_estargz_extra_entries_are_not_part_of_the_image(tmp_path):
    plain = ImageSpec([Layer("app").file("app/main", b"m" * 500).file("app/.prefetch.landmark", b"kept")])
    blob = estargz_layer(plain.layers[0])
    diff_id = "sha256:" + hashlib.sha256(gzip.decompress(blob)).hexdigest()
    files = oci_layout_files([(plain, "latest", None)], compression="gzip")
    # swap the ordinary gzip layer for the estargz one, fixing up config and manifest digests
    manifest = json.loads(files.pop("blobs/sha256/" + json.loads(files["index.json"])["manifests"][0]["digest"][7:]))
    config = json.loads(files.pop("blobs/sha256/" + manifest["config"]["digest"][7:]))
    config["rootfs"]["diff_ids"] = [diff_id]
    config_body = json.dumps(config).encode()
    files.pop("blobs/sha256/" + manifest["layers"][0]["digest"][7:])
    sha = lambda b: "sha256:" + hashlib.sha256(b).hexdigest()  # noqa: E731
    manifest["config"].update(digest=sha(config_body), size=len(config_body))
    manifest["layers"][0].update(digest=sha(blob), size=len(blob))
    manifest_body = json.dumps(manifest).encode()
    files["blobs/sha256/" + sha(config_body)[7:]] = config_body
    files["blobs/sha256/" + sha(blob)[7:]] = blob
    files["blobs/sha256/" + sha(manifest_body)[7:]] = manifest_body
    files["index.json"] = json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(manifest_body), "size": len(manifest_body),
    }]}).encode()
    root = tmp_path / "estargz"
    write_layout(root, files)
    idx = index(root)
    assert idx.layers[0].files.paths == ["app/main", "app/.prefetch.landmark"]  # only the root-level extras go
    assert idx.size == 504
    assert index(root, verify=True).layers[0].files.tar_digest == diff_id  # --verify digests the whole tar


def test_entry_types_and_modes(tmp_path):
    path = tmp_path / "types.tar"
    layer = Layer("types").dir("d", mode=0o1777, uid=5, gid=6).file("d/x", b"x", mode=0o4755, uid=1000, gid=2000)
    info = tarfile.TarInfo("dev/null")
    info.type, info.devmajor, info.devminor, info.mode = tarfile.CHRTYPE, 1, 3, 0o666
    layer.members.append((info, None))
    fifo = tarfile.TarInfo("run/fifo")
    fifo.type = tarfile.FIFOTYPE
    layer.members.append((fifo, None))
    write_docker_archive(ImageSpec([layer]), str(path), ["t:1"])
    files = index(path).layers[0].files
    got = {e.path: (e.type, e.size, e.mode, e.uid, e.gid) for e in files}
    assert got == {
        "d": (EntryType.DIR, 0, 0o1777, 5, 6),
        "d/x": (EntryType.FILE, 1, 0o4755, 1000, 2000),
        "dev/null": (EntryType.CHAR, 0, 0o666, 0, 0),
        "run/fifo": (EntryType.FIFO, 0, 0o644, 0, 0),
    }
    assert os.path.getsize(path) > 0


@pytest.mark.parametrize("layout", ["legacy", "oci"])
def test_an_untagged_image_of_a_multi_image_save_is_picked_by_its_id(tmp_path, layout):
    path = tmp_path / "untagged.tar"
    write_docker_archive(spec(), str(path), ["one:1"], layout=layout, extra_images=[(other_spec(), [])])
    with tarfile.open(path) as tar:
        config = json.load(tar.extractfile("manifest.json"))[1]["Config"]
    image_id = "sha256:" + os.path.basename(config).removesuffix(".json")
    with pytest.raises(InputError) as err:
        index(path)
    assert str(err.value) == f"{path} holds 2 images; pick one with ARCHIVE:TAG or --tag (one:1, untagged #2 ({image_id[:19]}))"
    for chosen in (index(path, tag=image_id), index(f"{path}:{image_id[:19]}")):
        assert (chosen.size, chosen.source.config_digest) == (77, image_id)


def test_an_oci_layout_with_several_untagged_images_asks_which(tmp_path):
    root = tmp_path / "two"
    write_layout(root, oci_layout_files([(spec(), "", None), (other_spec(), "", None)]))
    digests = [m["digest"] for m in json.loads((root / "index.json").read_text())["manifests"]]
    with pytest.raises(InputError) as err:
        index(root)
    listed = ", ".join(sorted(f"untagged ({d[:19]})" for d in digests))
    assert str(err.value) == f"{root} holds 2 images; pick one with ARCHIVE:TAG or --tag ({listed})"
    assert index(f"{root}:{digests[1][:19]}").size == 77
    assert index(root, tag=digests[0]).size == spec_size()


def spec_size() -> int:
    return 8 + 4000 + 300 + 200 + 4000 + 10
