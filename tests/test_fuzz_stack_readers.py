"""The readers of Node, Go and rpm material under hostile bytes: mutated copies of real inputs
(rpm's own databases, a program written by tests/elfbuild.py, npm and yarn lockfiles) and
generated ones. Each reader either reads them or says it could not, in its documented
way; none raises anything else, and none takes long."""

from __future__ import annotations

import json
import random
import sqlite3
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slimview.elf import read_program
from slimview.packages.npm import package_location, parse_npm_lockfile, yarn_dev_only
from slimview.packages.rpm import HeaderError, parse_header, parse_rpmdb

from elfbuild import Program

DATA = Path(__file__).resolve().parent / "data" / "rpmdb"
FUZZ = settings(derandomize=True, deadline=None, database=None, max_examples=200,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
RPM_ERRORS = (HeaderError, sqlite3.DatabaseError, struct.error)
MANIFEST = {"dependencies": {"a": "^1"}, "devDependencies": {"b": "^2"}}


def mutations(body: bytes, seed: int, count: int = 40):
    rng = random.Random(seed)
    for _ in range(count):
        data = bytearray(body)
        for _ in range(rng.randint(1, 12)):
            at = rng.randrange(len(data))
            data[at] = rng.randrange(256)
        if rng.random() < 0.3:
            data = data[: rng.randrange(len(data))]
        yield bytes(data)


@pytest.mark.parametrize("fixture, path", [("build.sqlite", "var/lib/rpm/rpmdb.sqlite"), ("build.bdb", "var/lib/rpm/Packages")])
def test_mutated_rpm_databases(fixture, path):
    for k, body in enumerate(mutations((DATA / fixture).read_bytes(), seed=len(fixture), count=60)):
        try:
            parse_rpmdb(path, body)
        except RPM_ERRORS:
            pass
        except Exception as exc:  # pragma: no cover - the assertion names the input
            pytest.fail(f"mutation {k} of {fixture}: {exc!r}")


@FUZZ
@given(st.binary(max_size=4096), st.integers(0, 40), st.integers(0, 1 << 20))
def test_generated_rpm_headers(tail, count, data_len):
    blob = struct.pack(">II", count, data_len) + tail
    try:
        parse_header(blob)
    except HeaderError:
        pass


def test_mutated_programs():
    body = Program(interpreter="/lib64/ld-linux-x86-64.so.2", needed=["libc.so.6"], go_version="go1.21.0",
                   debug={".debug_info": 20_000}, symbols=2_400, text=30_000).build()
    for body_k in mutations(body, seed=7, count=80):
        program = read_program(body_k)
        assert program is None or program.size == len(body_k)


@FUZZ
@given(st.binary(max_size=2048))
def test_generated_elf_bodies(tail):
    program = read_program(b"\x7fELF" + tail)  # raises nothing
    assert program is None or program.size == len(tail) + 4


@FUZZ
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=20), children, max_size=5),
                    max_leaves=30))
def test_generated_npm_lockfiles(doc):
    for wrapped in (doc, {"packages": doc}, {"dependencies": doc}, {"packages": {"node_modules/x": doc}}):
        got = parse_npm_lockfile(json.dumps(wrapped).encode())
        assert got is None or isinstance(got, list)


@FUZZ
@given(st.text(max_size=600))
def test_generated_yarn_lockfiles(text):
    for body in (text, "__metadata:\n" + text):
        got = yarn_dev_only(body.encode(), MANIFEST)
        assert got is None or isinstance(got, set)


@FUZZ
@given(st.text(alphabet="node_mules/@.x", max_size=80))
def test_package_locations_are_prefixes(relative):
    location = package_location(relative)
    assert location is None or (relative.startswith(location + "/") and "/node_modules/" in "/" + location)
