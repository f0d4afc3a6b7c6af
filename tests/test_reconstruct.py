"""Reconstructing Dockerfile instructions from history lines: every builder's dialect,
string in, string out. The lines are what Docker 20.10 (classic builder and BuildKit) and
buildah record; tests/test_reconstruct_engine.py checks them against real builds."""

from __future__ import annotations

import pytest

from slimview.dockerfile.history import parse_history_line
from slimview.dockerfile.values import go_string_list
from slimview.rewrite.base import BaseImage, LocalImage, find_base, from_history, from_labels, match_local
from slimview.rewrite.reconstruct import reconstruct, reconstruct_dockerfile
from slimview.source.model import HistoryEntry, LayerRef, SourceImage


def line(created_by: str, shell=("/bin/sh", "-c"), env=None) -> str:
    return parse_history_line(created_by, shell, env).render()


@pytest.mark.parametrize(
    "created_by, expected",
    [
        # BuildKit
        ("RUN /bin/sh -c apt-get update # buildkit", "RUN apt-get update"),
        ("RUN |2 VERSION=1.0 OTHER= /bin/sh -c echo \"$VERSION\" > /version # buildkit", 'RUN echo "$VERSION" > /version'),
        ("COPY . . # buildkit", "COPY . ."),
        ("COPY --chown=app:app src/ /app/src/ # buildkit", "COPY --chown=app:app src/ /app/src/"),
        ("ADD a.txt /etc/added.txt # buildkit", "ADD a.txt /etc/added.txt"),
        ("WORKDIR /app", "WORKDIR /app"),
        ("EXPOSE map[8000/tcp:{}]", "EXPOSE 8000"),
        ("EXPOSE map[8000/tcp:{} 9000/udp:{}]", "EXPOSE 8000 9000/udp"),
        ('CMD ["python3" "-m" "uvicorn" "app:app"]', 'CMD ["python3", "-m", "uvicorn", "app:app"]'),
        ('ENTRYPOINT ["/bin/sh" "-c"]', 'ENTRYPOINT ["/bin/sh", "-c"]'),
        ('CMD ["echo" "hello world" "it\'s" "a \\"quote\\"" "tab\\there"]',
         'CMD ["echo", "hello world", "it\'s", "a \\"quote\\"", "tab\\there"]'),
        ("ENV A=b", "ENV A=b"),
        ("ENV SINGLE=value with spaces", 'ENV SINGLE="value with spaces"'),
        ("ENV PRICE=$5 Q=\"x\"", 'ENV PRICE="\\$5" Q="\\"x\\""'),
        ("ARG VERSION=1.0", "ARG VERSION=1.0"),
        ("ARG OTHER", "ARG OTHER"),
        ("LABEL org.example.name=probe app version=2", 'LABEL org.example.name="probe app" version=2'),
        ("USER 1000:1000", "USER 1000:1000"),
        ("VOLUME [/data /logs]", 'VOLUME ["/data", "/logs"]'),
        ("SHELL [/bin/bash -o pipefail -c]", 'SHELL ["/bin/bash", "-o", "pipefail", "-c"]'),
        ("STOPSIGNAL SIGTERM", "STOPSIGNAL SIGTERM"),
        ('HEALTHCHECK &{["CMD-SHELL" "curl -f http://localhost/ || exit 1"] "30s" "3s" "0s" \'\\x03\'}',
         "HEALTHCHECK --interval=30s --timeout=3s --retries=3 CMD curl -f http://localhost/ || exit 1"),
        ('HEALTHCHECK &{["CMD" "/bin/check" "--quick"] "0s" "0s" "5s" "1s" \'\\x00\'}',
         'HEALTHCHECK --start-period=5s --start-interval=1s CMD ["/bin/check", "--quick"]'),
        ('HEALTHCHECK &{["NONE"] "0s" "0s" "0s" \'\\x00\'}', "HEALTHCHECK NONE"),
        ("RUN |1 VERSION=1.0 echo plain exec # buildkit",
         '# exec form: the history joins its arguments with spaces, so their boundaries are a guess\n'
         'RUN ["echo", "plain", "exec"]'),
        # the classic builder
        ("/bin/sh -c apt-get update", "RUN apt-get update"),
        ("|1 VERSION=1.0 /bin/sh -c echo $VERSION", "RUN echo $VERSION"),
        ("|1 MSG=two words /bin/sh -c echo \"$MSG\"", 'RUN echo "$MSG"'),
        ("/bin/sh -c #(nop)  ENV APP_HOME=/app", "ENV APP_HOME=/app"),
        ('/bin/sh -c #(nop)  CMD ["python3" "app.py"]', 'CMD ["python3", "app.py"]'),
        ("/bin/sh -c #(nop)  EXPOSE 8000 9000/udp", "EXPOSE 8000 9000/udp"),
        ("/bin/sh -c #(nop) WORKDIR /app", "WORKDIR /app"),
        ("/bin/sh -c #(nop)  LABEL maintainer=a b", 'LABEL maintainer="a b"'),
        ("/bin/sh -c #(nop) COPY file:d8a006482ae06032497452691a2ec7af5b73116f8b5d645cc2feaea6963960b5 in /app/a.txt ",
         "COPY <unknown source: file:d8a006482ae0…> /app/a.txt"),
        ("/bin/sh -c #(nop) COPY dir:e7a2da247d167604f7058a3d7e91b355d7e2a4e34ca5afd7693fe540b208253e in . ",
         "COPY <unknown source: dir:e7a2da247d16…> ."),
        ("/bin/sh -c #(nop) COPY --chown=1000:1000multi:f1fc3e76ac3c3bcda7d5de1e28dd0e5876767a3d3ca7eb83071b4722f7fa8a1d in /opt/ ",
         "COPY --chown=1000:1000 <unknown source: multi:f1fc3e76ac3c…> /opt/"),
        ("/bin/sh -c #(nop) ADD file:5d673d25da3a14ce1f6cf66e4c7fd4f4b85a3759a9d93efb3fd9ff852b5b56e4 in / ",
         "ADD <unknown source: file:5d673d25da3a…> /"),
        ('/bin/sh -c #(nop)  HEALTHCHECK &{["CMD-SHELL" "wget -q -O- http://localhost:8000/ || exit 1"] "30s" "3s" "0s" \'\\x00\'}',
         "HEALTHCHECK --interval=30s --timeout=3s CMD wget -q -O- http://localhost:8000/ || exit 1"),
        # buildah / podman: the Dockerfile's own text after one space
        ('/bin/sh -c #(nop) CMD ["python3", "-m", "http.server"]', 'CMD ["python3", "-m", "http.server"]'),
        ('/bin/sh -c #(nop) ENV GREETING="hello world" B=$A', 'ENV GREETING="hello world" B=$A'),
        ("/bin/sh -c #(nop) EXPOSE 8080", "EXPOSE 8080"),
        ("/bin/sh -c #(nop) COPY dir:0a1b2c3d4e5f60718293a4b5c6d7e8f9 in /srv ", "COPY <unknown source: dir:0a1b2c3d4e5f…> /srv"),
        ('/bin/sh -c #(nop) HEALTHCHECK --interval=5s CMD ["/bin/true"]', 'HEALTHCHECK --interval=5s CMD ["/bin/true"]'),
    ],
)
def test_history_line(created_by, expected):
    assert line(created_by) == expected


def test_shell_prefix_follows_shell_instruction():
    assert line("RUN |1 A=1 /bin/sh -eu -c echo hi # buildkit", shell=("/bin/sh", "-eu", "-c")) == "RUN echo hi"
    assert line("/bin/sh -eu -c #(nop)  CMD [\"x\"]", shell=("/bin/sh", "-eu", "-c")) == 'CMD ["x"]'


def test_env_extending_a_variable_is_written_with_a_reference():
    env = {"PATH": "/usr/local/bin:/usr/bin"}
    assert line("ENV PATH=/app/bin:/usr/local/bin:/usr/bin", env=env) == "ENV PATH=/app/bin:$PATH"
    assert line("ENV PATH=/opt/my tools:/app/bin:/usr/local/bin:/usr/bin", env=env) == 'ENV PATH="/opt/my tools:$PATH"'
    assert line("ENV PYTHONPATH=/a", env=env) == "ENV PYTHONPATH=/a"


def test_empty_line_is_no_instruction():
    assert parse_history_line("") is None
    assert parse_history_line("   ") is None


def test_go_string_list():
    assert go_string_list('["a" "b c" "\\u00e9\\x41\\n"]') == ["a", "b c", "éA\n"]
    assert go_string_list("[]") == []
    assert go_string_list("not a list") is None


def _history(*lines: str, empty: set[int] = frozenset(), comments: dict[int, str] | None = None) -> list[HistoryEntry]:
    comments = comments or {}
    return [HistoryEntry(created_by=t, comment=comments.get(i, ""), empty_layer=i in empty) for i, t in enumerate(lines)]


def _source(history: list[HistoryEntry], layers: list[str], labels: dict | None = None, digest="sha256:ours") -> SourceImage:
    refs = [LayerRef(i, d, "", "", -1, f"layer {i}") for i, d in enumerate(layers)]
    config = {"config": {"Labels": labels or {}}, "history": [
        {"created_by": h.created_by, "comment": h.comment, "empty_layer": h.empty_layer} for h in history
    ]}
    return SourceImage("img", "engine", "app:1", ["app:1"], config, digest, refs)


OFFICIAL_DEBIAN = _history(
    "/bin/sh -c #(nop) ADD file:5d673d25da3a14ce1f6cf66e4c7fd4f4b85a3759a9d93efb3fd9ff852b5b56e4 in / ",
    '/bin/sh -c #(nop)  CMD ["bash"]',
    "RUN /bin/sh -c apt-get update # buildkit",
    "WORKDIR /app",
    "COPY . . # buildkit",
    'CMD ["python3" "app.py"]',
    empty={1, 3, 5},
)


def test_reconstruct_after_a_base_matched_in_the_engine():
    source = _source(OFFICIAL_DEBIAN, ["sha256:base", "sha256:apt", "sha256:copy"])
    debian = LocalImage("sha256:debian", ("debian:bookworm",), ("sha256:base",),
                        (OFFICIAL_DEBIAN[0].created_by, OFFICIAL_DEBIAN[1].created_by), ("PATH=/usr/bin",), 117_000_000)
    other = LocalImage("sha256:other", ("other:1",), ("sha256:elsewhere",), (), (), 1)
    base = find_base(source, [other, debian])
    assert base == BaseImage("debian:bookworm", 1, 2, "engine", ("PATH=/usr/bin",), 117_000_000)
    steps = reconstruct(source.history, len(source.layers), base.history, base.env)
    assert [s.layer for s in steps] == [1, None, 2, None]
    assert reconstruct_dockerfile(source, base) == (
        "# Reconstructed by slimview from the history of app:1.\n"
        "# Base: debian:bookworm (its layer matches that local image).\n"
        "FROM debian:bookworm\n"
        "RUN apt-get update\n"
        "WORKDIR /app\n"
        "COPY . .\n"
        'CMD ["python3", "app.py"]\n'
    )


def test_longest_layer_prefix_wins_and_the_image_itself_is_no_base():
    source = _source(OFFICIAL_DEBIAN, ["sha256:base", "sha256:apt", "sha256:copy"])
    short = LocalImage("sha256:a", ("debian:bookworm",), ("sha256:base",))
    longer = LocalImage("sha256:b", ("apt-ready:1",), ("sha256:base", "sha256:apt"))
    itself = LocalImage("sha256:ours", ("app:1",), ("sha256:base", "sha256:apt", "sha256:copy"))
    untagged = LocalImage("sha256:c0ffee0123456789", (), ("sha256:base", "sha256:apt"))
    base = match_local(source, [short, itself, untagged, longer])
    assert (base.name, base.layers, base.history) == ("apt-ready:1", 2, 3)


def test_base_from_buildah_from_comment():
    history = _history("", "/bin/sh -c apt-get update", comments={0: "Imported from -", 1: "FROM docker.io/library/debian:bookworm"})
    base = from_history(_source(history, ["sha256:base", "sha256:apt"]))
    assert base == BaseImage("debian:bookworm", 1, 1, "history")


def test_base_from_labels_and_unknown():
    source = _source(OFFICIAL_DEBIAN, ["sha256:base", "sha256:apt", "sha256:copy"],
                     labels={"org.opencontainers.image.base.name": "docker.io/library/python:3.12-slim"})
    assert from_labels(source) == BaseImage("python:3.12-slim", 0, None, "label")
    ubuntu = _source(OFFICIAL_DEBIAN, ["sha256:x"], labels={"org.opencontainers.image.ref.name": "ubuntu",
                                                            "org.opencontainers.image.version": "24.04"})
    assert find_base(ubuntu, None).name == "ubuntu:24.04"
    source = _source(OFFICIAL_DEBIAN, ["sha256:base", "sha256:apt", "sha256:copy"])
    unknown = find_base(source, [])
    assert (unknown.name, unknown.how, unknown.known) == ("", "unknown", False)
    assert reconstruct_dockerfile(source, unknown).splitlines()[1:6] == [
        "# Base: unknown (no local image shares these layers and no label names one).",
        "# Which steps are the base's own is unknown: every step is shown, from scratch.",
        "FROM scratch",
        "ADD <unknown source: file:5d673d25da3a…> /",
        'CMD ["bash"]',
    ]


def test_imported_layer_is_marked():
    steps = reconstruct(_history("", comments={0: "Imported from -"}), 1)
    assert steps[0].render() == "# layer 0 has no recorded instruction (Imported from -): its contents cannot be rebuilt from history"
