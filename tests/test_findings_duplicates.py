"""Identical content at several paths of the final filesystem."""

from findings_util import Pkg, base, findings_of, noise, of_kind, run, status_file


def test_copies_in_several_layers_save_all_but_one(tmp_path):
    lib = noise("openblas", 1_200_000)
    first = run("pip install numpy")
    first.file("usr/local/lib/python3.11/site-packages/numpy.libs/libopenblas.so", lib)
    second = run("pip install onnxruntime scipy")
    second.file("usr/local/lib/python3.11/site-packages/onnxruntime/capi/libopenblas.so", lib)
    second.file("usr/local/lib/python3.11/site-packages/scipy.libs/libopenblas.so", lib)
    second.hardlink("usr/local/lib/python3.11/site-packages/scipy.libs/libopenblas-link.so",
                    "usr/local/lib/python3.11/site-packages/scipy.libs/libopenblas.so")
    (dup,) = of_kind(findings_of(tmp_path, [base(), first, second]), "duplicates")

    assert (dup.bytes, dup.layer, dup.title) == (2_400_000, 2, "3 identical copies of libopenblas.so")
    assert [(p.path, p.size, p.layer) for p in dup.paths] == [
        ("usr/local/lib/python3.11/site-packages/numpy.libs/libopenblas.so", 1_200_000, 1),
        ("usr/local/lib/python3.11/site-packages/onnxruntime/capi/libopenblas.so", 1_200_000, 2),
        ("usr/local/lib/python3.11/site-packages/scipy.libs/libopenblas.so", 1_200_000, 2),
    ]
    assert dup.details.to_json() == {"copies": 3, "file_bytes": 1_200_000, "keep": "usr/local/lib/python3.11/site-packages/numpy.libs/libopenblas.so"}


def test_small_groups_are_summed_into_one_finding_and_tiny_files_ignored(tmp_path):
    layer = run("cp -r /src /opt/a && cp -r /src /opt/b")
    for k in range(3):
        body = noise(f"medium {k}", 400_000)
        layer.file(f"opt/a/m{k}.bin", body).file(f"opt/b/m{k}.bin", body)
    tiny = noise("tiny", 16_383)
    layer.file("opt/a/tiny", tiny).file("opt/b/tiny", tiny)
    (summary,) = of_kind(findings_of(tmp_path, [base(), layer]), "duplicates")

    assert (summary.bytes, summary.layer, summary.title) == (1_200_000, None, "3 more groups of identical files")
    assert len(summary.paths) == 6
    assert [g["copies"] for g in summary.details.to_json()["groups"]] == [2, 2, 2]


def test_groups_below_a_megabyte_in_total_are_not_reported(tmp_path):
    body = noise("half", 999_999)
    layer = run("cp /opt/a /opt/b")
    layer.file("opt/a", body).file("opt/b", body)
    assert of_kind(findings_of(tmp_path, [base(), layer]), "duplicates") == []


def test_copies_a_distribution_package_installed_are_left_alone(tmp_path):
    body = noise("changelog", 2_000_000)
    layer = run("apt-get install -y gcc-12 cpp-12")
    layer.file("usr/share/doc/gcc-12/changelog.gz", body).file("usr/share/doc/cpp-12/changelog.gz", body)
    layer.file("var/lib/dpkg/info/gcc-12.list", b"/usr/share/doc/gcc-12/changelog.gz\n")
    layer.file("var/lib/dpkg/info/cpp-12.list", b"/usr/share/doc/cpp-12/changelog.gz\n")
    layer.file("var/lib/dpkg/status", status_file(Pkg("gcc-12"), Pkg("cpp-12")))
    copied = run("cp /usr/share/doc/gcc-12/changelog.gz /opt/")
    copied.file("opt/changelog.gz", body)
    findings = of_kind(findings_of(tmp_path, [base(), layer]), "duplicates")
    assert findings == []
    (dup,) = of_kind(findings_of(tmp_path, [base(), layer, copied]), "duplicates")
    assert (dup.bytes, dup.layer) == (4_000_000, 2)
