"""Package-manager caches, temporary files and logs left in the final filesystem."""

import pytest

from slimview.findings.caches import classify

from findings_util import base, findings_of, noise, of_kind, paths_and_sizes, run


@pytest.mark.parametrize(
    "path, key, root",
    [
        ("var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease", "apt_lists", "var/lib/apt/lists"),
        ("var/cache/apt/archives/make_4.3-4.1_amd64.deb", "apt_archives", "var/cache/apt"),
        ("var/cache/apt/pkgcache.bin", "apt_archives", "var/cache/apt"),
        ("var/cache/apk/APKINDEX.1234.tar.gz", "apk", "var/cache/apk"),
        ("root/.cache/pip/http-v2/a/b/c/body", "pip", "root/.cache/pip"),
        ("home/app/.cache/pip/wheels/x.whl", "pip", "home/app/.cache/pip"),
        ("root/.cache/pypoetry/artifacts/x.whl", "poetry", "root/.cache/pypoetry"),
        ("root/.cache/uv/archive-v0/x", "uv", "root/.cache/uv"),
        ("root/.npm/_cacache/content-v2/sha512/ab", "npm", "root/.npm"),
        ("usr/local/share/.cache/yarn/v6/npm-left-pad.tgz", "yarn", "usr/local/share/.cache/yarn"),
        ("root/.local/share/pnpm/store/v3/files/00/ab", "pnpm", "root/.local/share/pnpm/store"),
        ("opt/conda/pkgs/numpy-1.26.0.conda", "conda", "opt/conda/pkgs"),
        ("root/.cache/go-build/00/abc-d", "go", "root/.cache/go-build"),
        ("go/pkg/mod/github.com/x/y@v1/z.go", "go", "go/pkg/mod"),
        ("usr/local/cargo/registry/cache/index/serde.crate", "cargo", "usr/local/cargo/registry"),
        ("root/.m2/repository/org/x/x.jar", "maven", "root/.m2/repository"),
        ("root/.gradle/caches/modules-2/x.jar", "gradle", "root/.gradle/caches"),
        ("usr/local/lib/python3.11/site-packages/pip/_internal/__pycache__/x.pyc", "build_tool_bytecode",
         "usr/local/lib/python3.11/site-packages/pip/_internal/__pycache__"),
        ("tmp/build/x.o", "tmp", "tmp"),
        ("var/log/dpkg.log", "logs", "var/log"),
    ],
)
def test_classify_names_the_cache_and_its_root(path, key, root):
    rule, got_root = classify(path)
    assert (rule.key, got_root) == (key, root)


@pytest.mark.parametrize(
    "path",
    [
        "usr/lib/python3/dist-packages/pip/__pycache__/__init__.cpython-311.pyc",  # installed by dpkg, not a leftover
        "usr/local/lib/python3.11/site-packages/numpy/__pycache__/x.pyc",  # runtime package bytecode
        "root/.cache/pypoetry/virtualenvs/app-py3.11/bin/python",  # poetry's venv is the app
        "root/.cache/huggingface/hub/model.bin",  # data, not a package-manager cache
        "var/cache/apt/archives/lock",
        "app/tmp/x",
        "usr/lib/x86_64-linux-gnu/libc.so.6",
    ],
)
def test_classify_leaves_runtime_material_alone(path):
    assert classify(path) is None


def test_apt_lists_and_archives_are_attributed_to_the_layer_that_added_them(tmp_path):
    update = run("apt-get update")
    update.file("var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease", noise("inrelease", 151_000))
    update.file("var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages.lz4", noise("pk", 1_950_000))
    update.file("var/lib/apt/lists/lock", b"")
    install = run("apt-get install -y make")
    install.file("var/cache/apt/archives/make_4.3-4.1_amd64.deb", noise("deb", 396_000))
    install.file("var/cache/apt/pkgcache.bin", noise("pkgcache", 280_000))
    install.file("var/cache/apt/archives/lock", b"")
    install.file("usr/bin/make", noise("make", 250_000))
    findings = of_kind(findings_of(tmp_path, [base(("etc/os-release", b"ID=debian\n")), update, install]), "package-cache")

    assert [(f.layer, f.details.to_json()["cache"], f.bytes) for f in findings] == [(1, "apt_lists", 2_101_000), (2, "apt_archives", 676_000)]
    lists, archives = findings
    assert paths_and_sizes(lists) == {
        "var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages.lz4": 1_950_000,
        "var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease": 151_000,
    }
    assert lists.details.to_json()["roots"] == ["/var/lib/apt/lists"]
    assert lists.instruction == "RUN /bin/sh -c apt-get update # buildkit"
    assert "`RUN apt-get update`" in lists.title
    assert "rm -rf /var/lib/apt/lists/*" in lists.fix
    assert paths_and_sizes(archives) == {"var/cache/apt/archives/make_4.3-4.1_amd64.deb": 396_000, "var/cache/apt/pkgcache.bin": 280_000}
    assert "apt-get clean" in archives.fix
    assert [f.severity for f in findings] == ["low", "low"]


def test_pip_caches_of_every_user_are_found_and_a_modified_file_counts_for_its_layer(tmp_path):
    first = run("pip install -r requirements.txt")
    first.file("root/.cache/pip/http-v2/1/body", noise("root pip", 700_000))
    second = run("su app -c 'pip install --user httpx'")
    second.file("home/app/.cache/pip/http-v2/2/body", noise("app pip", 300_000))
    second.file("root/.cache/pip/http-v2/1/body", noise("root pip again", 650_000))  # rewritten: layer 2's bytes now
    findings = of_kind(findings_of(tmp_path, [base(), first, second]), "package-cache")

    assert len(findings) == 1
    (pip,) = findings
    assert (pip.layer, pip.bytes) == (2, 950_000)
    assert pip.details.to_json()["roots"] == ["/home/app/.cache/pip", "/root/.cache/pip"]
    assert "--no-cache-dir" in pip.fix


def test_a_cache_deleted_by_a_later_layer_is_hidden_bytes_not_a_cache_finding(tmp_path):
    pip = run("pip install x")
    pip.file("root/.cache/pip/http-v2/1/body", noise("pip", 400_000))
    cleanup = run("rm -rf /root/.cache")
    cleanup.whiteout("root/.cache")
    findings = findings_of(tmp_path, [base(), pip, cleanup])

    assert of_kind(findings, "package-cache") == []
    (hidden,) = of_kind(findings, "hidden-bytes")
    assert (hidden.bytes, hidden.details.to_json()["contents"]) == (400_000, [{"label": "pip cache", "bytes": 400_000}])


def test_tmp_and_log_leftovers_need_a_megabyte_to_be_worth_a_finding(tmp_path):
    small = run("make")
    small.file("tmp/build.log", noise("small", 999_999))
    small.file("var/log/installer.log", noise("log", 500_000))
    big = run("make install")
    big.file("tmp/src/a.o", noise("a.o", 600_000))
    big.file("tmp/src/b.o", noise("b.o", 400_000))
    findings = of_kind(findings_of(tmp_path, [base(), small, big]), "package-cache")

    assert [(f.layer, f.details.to_json()["cache"], f.bytes) for f in findings] == [(2, "tmp", 1_000_000)]
    assert "--mount=type=tmpfs" in findings[0].fix


def test_pip_bytecode_in_site_packages_is_a_leftover_but_dpkg_installed_bytecode_is_not(tmp_path):
    pip = run("pip install numpy")
    pip.file("usr/local/lib/python3.11/site-packages/pip/_internal/__pycache__/main.cpython-311.pyc", noise("pip pyc", 120_000))
    pip.file("usr/local/lib/python3.11/site-packages/setuptools/__pycache__/dist.cpython-311.pyc", noise("st pyc", 80_000))
    pip.file("usr/local/lib/python3.11/site-packages/numpy/__pycache__/version.cpython-311.pyc", noise("np pyc", 50_000))
    pip.file("usr/lib/python3/dist-packages/pip/__pycache__/__init__.cpython-311.pyc", noise("deb pyc", 90_000))
    (finding,) = of_kind(findings_of(tmp_path, [base(), pip]), "package-cache")

    assert (finding.details.to_json()["cache"], finding.bytes) == ("build_tool_bytecode", 200_000)
    assert "PYTHONDONTWRITEBYTECODE" in finding.fix
