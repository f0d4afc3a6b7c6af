"""Wasted deletions and overwrites, grouped by the instruction that stored and the one that hid."""

from findings_util import Pkg, base, findings_of, install, noise, of_kind, paths_and_sizes, run, status_file, step

LIBC = Pkg("libc6", {"usr/lib/x86_64-linux-gnu/libc.so.6": 1_900_000}, priority="required")


def test_deleted_files_are_grouped_by_storing_and_hiding_instruction(tmp_path):
    update = run("apt-get update")
    update.file("var/lib/apt/lists/a_Packages.lz4", noise("packages", 1_900_000))
    update.file("var/lib/apt/lists/a_InRelease", noise("inrelease", 150_000))
    download = run("curl -o /opt/model.bin https://example.invalid/model.bin")
    download.file("opt/model.bin", noise("model", 300_000))
    cleanup = run("rm -rf /var/lib/apt/lists/* /opt/model.bin")
    cleanup.whiteout("var/lib/apt/lists/a_Packages.lz4").whiteout("var/lib/apt/lists/a_InRelease").whiteout("opt/model.bin")
    findings = of_kind(findings_of(tmp_path, [base(), update, download, cleanup]), "hidden-bytes")

    assert [(f.layer, f.details.to_json()["hidden_by"], f.bytes) for f in findings] == [(1, 3, 2_050_000), (2, 3, 300_000)]
    lists, model = findings
    assert lists.title == "`RUN apt-get update` stored files that `RUN rm -rf /var/lib/apt/lists/* /opt/model.bin` deleted (apt package lists)"
    assert paths_and_sizes(lists) == {"var/lib/apt/lists/a_Packages.lz4": 1_900_000, "var/lib/apt/lists/a_InRelease": 150_000}
    assert {p.layer for p in lists.paths} == {1}
    assert lists.details.to_json()["reason"] == "deleted"
    assert (lists.details.to_json()["deleted_bytes"], lists.details.to_json()["overwritten_bytes"]) == (2_050_000, 0)
    assert lists.details.to_json()["contents"] == [{"label": "apt package lists", "bytes": 2_050_000}]
    assert "into layer 1's instruction" in lists.fix and "rm -rf /var/lib/apt/lists/*" in lists.fix
    assert model.title == "`RUN curl -o /opt/model.bin https://example.invalid/model.bin` stored files that `RUN rm -rf /var/lib/apt/lists/* /opt/model.bin` deleted"
    assert model.details.to_json()["contents"] == [{"label": "other files", "bytes": 300_000}]


def test_chown_in_a_later_layer_is_called_out_as_a_metadata_copy(tmp_path):
    copy = step("COPY . /app")
    copy.file("app/model.onnx", noise("model", 400_000)).file("app/main.py", noise("main", 20_000))
    chown = run("chown -R 1000:1000 /app")
    chown.file("app/model.onnx", noise("model", 400_000), uid=1000, gid=1000)
    chown.file("app/main.py", noise("main", 20_000), uid=1000, gid=1000)
    (finding,) = of_kind(findings_of(tmp_path, [base(), copy, chown]), "hidden-bytes")

    assert (finding.layer, finding.bytes, finding.details.to_json()["reason"]) == (2, 420_000, "metadata-only")
    assert finding.title == "`RUN chown -R 1000:1000 /app` stored 2 file(s) from layer 1 again only to change owner or mode"
    assert "COPY --chown" in finding.fix
    assert finding.details.to_json()["stored_in"] == 1


def test_identical_restores_and_new_content_are_told_apart(tmp_path):
    first = run("build.sh")
    first.file("opt/a.bin", noise("a", 200_000)).file("opt/b.bin", noise("b", 150_000))
    second = run("build.sh --again")
    second.file("opt/a.bin", noise("a", 200_000))  # same bytes, same owner and mode
    second.file("opt/b.bin", noise("b changed", 150_000))
    findings = of_kind(findings_of(tmp_path, [base(), first, second]), "hidden-bytes")

    assert sorted((f.details.to_json()["reason"], f.bytes) for f in findings) == [("overwritten", 150_000), ("same-content", 200_000)]
    same = next(f for f in findings if f.details.to_json()["reason"] == "same-content")
    assert "with unchanged content" in same.title


def test_bookkeeping_rewrites_and_small_amounts_are_not_findings(tmp_path):
    root = base(("var/lib/dpkg/status", noise("status", 500_000)), ("var/cache/debconf/templates.dat", noise("t", 700_000)),
                ("etc/passwd", b"root:x:0:0::/root:/bin/sh\n"), ("opt/small", noise("small", 99_999)))
    layer = run("apt-get install -y curl && useradd app && rm /opt/small")
    layer.file("var/lib/dpkg/status", noise("status 2", 510_000))
    layer.file("var/cache/debconf/templates.dat", noise("t2", 710_000))
    layer.file("etc/passwd", b"root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n")
    layer.whiteout("opt/small")
    assert of_kind(findings_of(tmp_path, [root, layer]), "hidden-bytes") == []


def test_package_upgrades_on_a_stale_base_name_the_packages_and_versions(tmp_path):
    perl_old = Pkg("perl-base", {"usr/bin/perl": 3_800_000}, version="5.36.0-7+deb12u1", priority="required")
    perl_new = Pkg("perl-base", {"usr/bin/perl": 3_810_000}, version="5.36.0-7+deb12u2", priority="required")
    root = base()
    install(root, LIBC, perl_old)
    root.file("var/lib/dpkg/status", status_file(LIBC, perl_old))
    layer = run("apt-get install -y git")
    install(layer, perl_new)
    layer.file("var/lib/dpkg/status", status_file(LIBC, perl_new))
    (finding,) = of_kind(findings_of(tmp_path, [root, layer]), "hidden-bytes")

    assert (finding.layer, finding.bytes, finding.details.to_json()["reason"]) == (1, 3_800_000, "package-upgrade")
    assert finding.details.to_json()["packages"] == [{"name": "perl-base", "bytes": 3_800_000, "from": "5.36.0-7+deb12u1", "to": "5.36.0-7+deb12u2"}]
    assert "up-to-date base image" in finding.fix
