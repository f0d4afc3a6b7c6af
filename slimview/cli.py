"""The command line: ``slimview [IMAGE]`` opens the TUI; subcommands report, ci, rewrite, verify.

Exit status: 0 ok, 1 a gate or verification failed, 2 usage or input error. Every error a
user can cause is one line on stderr, never a traceback.
"""

from __future__ import annotations

import difflib
import functools
import os
import shlex
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import BinaryIO, NoReturn

import click

from slimview import __version__, session
from slimview.compare import ImageSummary, compare
from slimview.display import human_bytes, plural, printable
from slimview.dockerfile.locate import locate_file
from slimview.errors import SlimviewError
from slimview.findings import Analysis
from slimview.fsutil import atomic_file, ensure_directory, write_atomic
from slimview.gate import RULES, default_config_files, load_settings, render_gate, run_gate
from slimview.index import IndexOptions
from slimview.index.layer import DEFAULT_MAX_ENTRIES
from slimview.report.ci import render_ci_json, render_ci_markdown, render_codequality, render_junit
from slimview.report.diff import TOP, render_diff_markdown, render_diff_text
from slimview.report.diffjson import render_diff_json
from slimview.report.jsondoc import write_json
from slimview.report.markdown import render_markdown
from slimview.report.sarif import render_sarif
from slimview.report.text import render_text
from slimview.rewrite.model import NoRewrite
from slimview.rewrite.summary import render_summary
from slimview.sample import bundled_sample_path
from slimview.source import split_reference
from slimview.source.engine import engine_has_image
from slimview.source.model import Progress, no_progress
from slimview.verify import default_tag, render_table, shown_command
from slimview.verify import verify as run_verify

EXIT_OK, EXIT_FAILED, EXIT_ERROR = 0, 1, 2


class _DefaultToTui(click.Group):
    """``slimview IMAGE`` (or bare ``slimview``) means ``slimview tui IMAGE``."""

    def parse_args(self, ctx, args):
        if not args or (args[0] not in self.commands and args[0] not in ("--help", "-h", "--version")):
            if args and not args[0].startswith("-"):
                refuse_mistyped_command(args[0], [name for name in self.commands if name != "tui"])
            args = ["tui", *args]
        return super().parse_args(ctx, args)


def image_options(f: Callable) -> Callable:
    """The options that say which image to open and how; the command gets them as one
    ``options: IndexOptions`` argument."""

    @functools.wraps(f)
    def command(*args, tag, platform, no_cache, max_entries, verify_layers, insecure, foreign_layers, **kwargs):
        options = IndexOptions(
            tag=tag, platform=platform, use_cache=not no_cache, max_entries=max_entries or DEFAULT_MAX_ENTRIES,
            verify=True if verify_layers else None, insecure=insecure, foreign_layers=foreign_layers,
        )
        return f(*args, options=options, **kwargs)

    for decorate in reversed([
        click.option("--tag", help="Pick this image from an archive or layout that holds several."),
        click.option("--platform", help="Pick this platform (os/arch[/variant]) from a multi-platform index."),
        click.option("--no-cache", is_flag=True, help="Do not read or write the index cache."),
        click.option("--max-entries", type=click.IntRange(min=1), default=None, help="Refuse images with more entries (default 5,000,000)."),
        click.option(
            "--verify", "verify_layers", is_flag=True,
            help="Digest every layer and check it against the config's diff_ids "
            "(default: only layers streamed from a compressed file or a registry).",
        ),
        click.option(
            "--insecure", is_flag=True,
            help="Registry images: allow plain HTTP and unverified TLS to the registry IMAGE names (loopback registries need no flag).",
        ),
        click.option(
            "--allow-foreign-layers", "foreign_layers", is_flag=True,
            help="Registry images: fetch foreign (non-distributable) layers too, from the URLs their manifest gives.",
        ),
    ]):
        command = decorate(command)
    return command


def _stderr_progress() -> Progress:
    """A one-line progress display on stderr when it is a terminal."""
    if not sys.stderr.isatty():
        return no_progress

    def show(stage: str, done: int, total: int | None) -> None:
        if stage in ("read", "save", "scan", "download"):
            text = f"{stage}: {human_bytes(done)}" + (f" of {human_bytes(total)}" if total else "")
        else:
            text = f"{stage}: {done}" + (f"/{total}" if total else "")
        sys.stderr.write("\r\033[K" + text)
        sys.stderr.flush()

    return show


def load(image: str, options: IndexOptions) -> Analysis:
    """The analysis of IMAGE, with progress on a terminal's stderr."""
    progress = _stderr_progress()
    try:
        return session.load(image, options, progress)
    finally:
        _progress_done(progress)


@contextmanager
def output_stream(output: str | None, force: bool) -> Iterator[BinaryIO]:
    """Where binary output goes: stdout's bytes, or FILE written atomically."""
    if output is None or output == "-":
        if sys.stdout is None:
            raise SlimviewError("standard output is closed (pass -o FILE to write the output to a file)")
        sys.stdout.flush()
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    with atomic_file(output, force=force) as fh:
        yield fh


def emit(text: str | bytes, output: str | None, force: bool) -> None:
    if output is None or output == "-":
        if sys.stdout is None:
            raise SlimviewError("standard output is closed (pass -o FILE to write the output to a file)")
        if isinstance(text, bytes):  # already encoded (JSON is UTF-8 whatever the locale)
            sys.stdout.flush()
            sys.stdout.buffer.write(text)
            sys.stdout.buffer.flush()
            return
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    write_atomic(output, text, force=force)


@click.group(cls=_DefaultToTui, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="slimview")
def cli():
    """Show why a container image is fat, and hand over a smaller, working Dockerfile.

    IMAGE is an engine reference (name:tag, id), a path to a docker save tarball
    (optionally gzipped; PATH:TAG picks one image), an oci-archive, an OCI layout
    directory, or an image in a registry (registry://HOST[:PORT]/REPO:TAG, or skopeo's
    docker://...; no engine needed). With no command, slimview opens the interactive
    explorer (on the bundled sample when no IMAGE is given).
    """


@cli.command()
@click.argument("image", required=False)
@image_options
@click.option("--compare", "baseline", metavar="BASELINE",
              help="First compare IMAGE with BASELINE (an IMAGE, or a summary `slimview ci --json` saved): "
              "the layers aligned and the changed files to walk, as `slimview diff BASELINE IMAGE` reports them.")
def tui(image, options, baseline):
    """Explore layers, files and findings interactively (the default command)."""
    refuse_without_terminal(image)
    if image is None:
        image = bundled_sample_path()
    else:
        split_reference(os.path.expanduser(image))  # a path that does not exist is an error before the screen is taken
    try:  # only here: the core and every other command run without Textual installed
        from slimview.ui.app import make_app
    except ImportError as exc:
        raise SlimviewError(f"the interactive explorer needs Textual ({exc}); `slimview report IMAGE` works without it") from None
    app = make_app(image, options, compare=baseline)
    app.run()
    if app.load_error is not None:  # shown in the explorer; the terminal keeps it once the screen is given back
        raise SlimviewError(app.load_error)
    sys.exit(app.return_code or 0)


def refuse_without_terminal(image: str | None) -> None:
    """The explorer draws on a terminal and reads keys from one: without one (a pipe, a cron
    job, a CI step) it would draw forever for nobody."""
    if sys.stdin is not None and sys.stdout is not None and sys.stdin.isatty() and sys.stdout.isatty():
        return
    command = "slimview report" + (f" {shlex.quote(image)}" if image else "")
    raise SlimviewError(f"the explorer needs a terminal (standard input and output are not one); for a text report run `{command}`")


def refuse_mistyped_command(word: str, commands: list[str]) -> None:
    """``slimview reprot``: a word close to a command that names neither a file nor an engine image."""
    close = difflib.get_close_matches(word, commands, n=1, cutoff=0.6)
    if not close or os.path.lexists(word) or any(c in word for c in "/:@") or engine_has_image(word):
        return
    raise click.UsageError(f"'{word}' is not a command, a file or an image in the local engine; did you mean `slimview {close[0]}`?")


@cli.command()
@click.argument("image", required=False)
@image_options
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown", "sarif"]), default=None, help="Output format (default text).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to FILE instead of stdout.")
@click.option("--force", is_flag=True, help="Overwrite FILE if it exists.")
@click.option("--no-files", is_flag=True, help="JSON: leave out the per-layer file lists.")
def report(image, options, as_json, fmt, output, force, no_files):
    """Print layers, totals, waste and findings (text, JSON, Markdown or SARIF)."""
    if as_json and fmt not in (None, "json"):
        raise click.UsageError("--json conflicts with --format " + fmt)
    fmt = "json" if as_json else (fmt or "text")
    if output and os.path.lexists(output) and not force:
        raise SlimviewError(f"{output} exists; pass --force to overwrite it")
    if image is None:
        image = bundled_sample_path()
    analysis = load(image, options)
    if fmt == "json":  # streamed: a large image's document is hundreds of MB
        with output_stream(output, force) as out:
            write_json(analysis, out, include_files=not no_files)
        return
    text: str
    if fmt == "markdown":
        text = render_markdown(analysis)
    elif fmt == "sarif":
        text = render_sarif(analysis)
    else:
        text = render_text(analysis)
    emit(text, output, force)


def _progress_done(progress: Progress) -> None:
    if progress is not no_progress:
        sys.stderr.write("\r\033[K")


def load_summary(reference: str, options: IndexOptions) -> ImageSummary:
    """The summary of an image or of a saved JSON summary, with progress on a terminal's stderr."""
    progress = _stderr_progress()
    try:
        return session.load_summary(reference, options, progress)
    finally:
        _progress_done(progress)


@cli.command()
@click.argument("before", metavar="BEFORE")
@click.argument("after", metavar="AFTER")
@image_options
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default=None, help="Output format (default text).")
@click.option("--top", type=click.IntRange(min=1), default=TOP, show_default=True, help="Entries per list in text and Markdown.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to FILE instead of stdout.")
@click.option("--force", is_flag=True, help="Overwrite FILE if it exists.")
def diff(before, after, options, as_json, fmt, top, output, force):
    """Compare two images: layers aligned, what grew and shrank and why.

    BEFORE and AFTER are any IMAGE (engine, archive, layout, registry), or a summary saved
    by `slimview ci --json` (a path ending in .json). Sizes are AFTER minus BEFORE.
    """
    if as_json and fmt not in (None, "json"):
        raise click.UsageError("--json conflicts with --format " + fmt)
    fmt = "json" if as_json else (fmt or "text")
    if output and os.path.lexists(output) and not force:
        raise SlimviewError(f"{output} exists; pass --force to overwrite it")
    comparison = compare(load_summary(before, options), load_summary(after, options))
    if fmt == "json":
        text = render_diff_json(comparison)
    elif fmt == "markdown":
        text = render_diff_markdown(comparison, top=top)
    else:
        text = render_diff_text(comparison, top=top)
    emit(text, output, force)


def gate_options(f):
    """One flag per CI rule (see slimview/gate.py); dive's own flag spellings work too."""
    dive_spelling = {"lowestEfficiency", "highestWastedBytes", "highestUserWastedPercent"}
    for rule in reversed(RULES):
        names = [rule.flag] + ([f"--{rule.key}"] if rule.key in dive_spelling else [])
        many = rule.key in ("allowedBuildTools", "allowedSecrets")
        f = click.option(*names, rule.key, multiple=many, default=None, metavar="NAME" if many else "VALUE",
                         help=rule.help + ("" if many else f" [default: {rule.default}]"))(f)
    return f


@cli.command()
@click.argument("image")
@image_options
@click.option("--config", "config_file", type=click.Path(dir_okay=False),
              help="Read rules from FILE instead of ./.dive-ci and ./.slimview-ci.yaml.")
@click.option("--baseline", metavar="IMAGE|FILE.json",
              help="An earlier build to compare with (an IMAGE, or the summary `slimview ci --json` saved): "
              "the growth rules fail when IMAGE grew too much since.")
@click.option("--dockerfile", type=click.Path(dir_okay=False, exists=True),
              help="The Dockerfile IMAGE was built from: failed rules and findings point at the line that made their layer.")
@click.option("--sarif", "sarif_file", type=click.Path(dir_okay=False), help="Also write findings and failed rules as SARIF 2.1.0.")
@click.option("--markdown", "markdown_file", type=click.Path(dir_okay=False), help="Also write the result as Markdown for one pull-request comment.")
@click.option("--junit", "junit_file", type=click.Path(dir_okay=False), help="Also write one JUnit XML test case per rule.")
@click.option("--codequality", "codequality_file", type=click.Path(dir_okay=False), help="Also write GitLab Code Quality JSON.")
@click.option("--json", "json_file", type=click.Path(dir_okay=False),
              help="Also write the result and the image's summary as JSON (a later run's --baseline).")
@click.option("--force", is_flag=True, help="Overwrite the output files if they exist.")
@gate_options
def ci(image, options, config_file, baseline, dockerfile, sarif_file, markdown_file, junit_file, codequality_file, json_file, force, **rules):
    """Pass or fail IMAGE against dive's CI rules and slimview's (exit 0 pass, 1 fail, 2 error).

    Reads dive's .dive-ci and slimview's .slimview-ci.yaml from the working directory (or
    the --config file), then the flags below. Every rule prints PASS, FAIL or SKIP with
    the measured value and its threshold. With no configuration, build tools in the image,
    package-manager caches over 10 MB and secrets fail, as well as dive's default rules.
    """
    if config_file is not None and not os.path.isfile(config_file):
        raise SlimviewError(f"CI config {config_file} not found")
    outputs = [f for f in (sarif_file, markdown_file, junit_file, codequality_file, json_file) if f]
    if len(set(map(os.path.abspath, outputs))) < len(outputs):
        raise click.UsageError("each output file must be a different file")
    for path in outputs:
        if os.path.lexists(path) and not force:
            raise SlimviewError(f"{path} exists; pass --force to overwrite it")
    files = [config_file] if config_file else default_config_files()
    overrides = {k: (",".join(v) if isinstance(v, tuple) else str(v)) for k, v in rules.items() if v not in (None, ())}
    settings = load_settings(files, overrides)
    analysis = load(image, options)
    summary = session.summary(analysis) if baseline or json_file else None
    comparison = compare(load_summary(baseline, options), summary) if baseline and summary is not None else None
    located = None
    if dockerfile:
        located = locate_file(dockerfile, analysis.index.source)
        if not located.layers:
            sys.stderr.write(f"slimview: warning: {printable(dockerfile)} does not match the history of {printable(analysis.index.source.name)}; "
                             "results name no Dockerfile lines\n")
    result = run_gate(analysis, settings, files, comparison)
    emit(render_gate(result, lambda r: str(located.first(r.layers) or "") if located else ""), None, False)
    if sarif_file:
        emit(render_sarif(analysis, result, located), sarif_file, force)
    if markdown_file:
        emit(render_ci_markdown(result, analysis, located), markdown_file, force)
    if junit_file:
        emit(render_junit(result, located), junit_file, force)
    if codequality_file:
        emit(render_codequality(result, analysis, located), codequality_file, force)
    if json_file and summary is not None:
        emit(render_ci_json(result, summary, located), json_file, force)
    sys.exit(EXIT_OK if result.passed else EXIT_FAILED)


def rewrite_options(f):
    f = click.option(
        "--deep", is_flag=True,
        help="Also trim what the program never loads: test suites, docs and pip in the virtualenv, debug symbols of shared libraries.",
    )(f)
    f = click.option("--base", help="Runtime base image (default: matched to what the image runs, e.g. python:3.11-slim).")(f)
    f = click.option("--context", type=click.Path(file_okay=False), help="The build context of --dockerfile (default: its directory).")(f)
    f = click.option(
        "--dockerfile", type=click.Path(dir_okay=False, exists=True),
        help="Rewrite this Dockerfile, keeping its comments, instead of the one reconstructed from the image.",
    )(f)
    return f


def _no_rewrite(exc: NoRewrite) -> NoReturn:
    """A rewrite that would not build or would change what the image runs: one line, exit 1."""
    sys.stderr.write(f"slimview: no rewrite: {printable(str(exc))}\n")
    sys.exit(EXIT_FAILED)


@cli.command()
@click.argument("image")
@image_options
@rewrite_options
@click.option("-o", "--output-dir", default=".", show_default=True, type=click.Path(file_okay=False), help="Write the files into DIR (made if missing).")
@click.option("--dockerfile-name", default="Dockerfile.slim", show_default=True, help="Name of the rewritten Dockerfile.")
@click.option("--dockerignore-name", default=".dockerignore.slim", show_default=True, help="Name of its .dockerignore.")
@click.option("--reconstruct", "reconstruct_only", is_flag=True, help="Print the Dockerfile reconstructed from the image's history, write nothing.")
@click.option("--force", is_flag=True, help="Overwrite existing files.")
def rewrite(image, options, deep, base, context, dockerfile, output_dir, dockerfile_name, dockerignore_name, reconstruct_only, force):
    """Write a smaller Dockerfile (multi-stage, slim base) and its .dockerignore for IMAGE.

    Exit status 1, and nothing written, when the rewrite would not build or would change
    what the image runs (the reason is one line on stderr).
    """
    if reconstruct_only:
        emit(session.reconstruct(session.open_index(image, options, _stderr_progress())), None, False)
        return
    targets = [os.path.join(output_dir, dockerfile_name), os.path.join(output_dir, dockerignore_name)]
    existing = [t for t in targets if os.path.lexists(t)]
    if existing and not force:
        raise SlimviewError(f"{existing[0]} exists; pass --force to overwrite it")
    if os.path.lexists(output_dir) and not os.path.isdir(output_dir):
        raise SlimviewError(f"{output_dir} exists and is not a directory")
    names = (dockerfile_name, dockerignore_name)
    try:
        done = session.rewrite(load(image, options), dockerfile=dockerfile, context=context, base=base, names=names, deep=deep)
    except NoRewrite as exc:
        _no_rewrite(exc)
    ensure_directory(output_dir)
    write_atomic(targets[0], done.rewrite.dockerfile, force=force)
    write_atomic(targets[1], done.rewrite.dockerignore, force=force)
    sys.stdout.write(f"Wrote {targets[0]} and {targets[1]}.\nOriginal base: {done.base.describe()}\n\n")
    sys.stdout.write(render_summary(done.rewrite))


@cli.command()
@click.argument("image")
@click.argument("path", required=False)
@image_options
@click.option("-o", "--output-dir", "dest", default=".", show_default=True, type=click.Path(file_okay=False), help="Write into DIR (made if missing).")
@click.option("--layer", "layer_no", type=click.IntRange(min=0), help="The file as layer N stored it; without PATH, layer N as a tar.")
@click.option("--include-secrets", is_flag=True, help="Write files that hold secrets too (left out or refused by default).")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def extract(image, path, options, dest, layer_no, include_secrets, force):
    """Write one file of IMAGE (PATH, as the final image shows it), or a whole layer as a tar
    (--layer N without PATH), into DIR.

    The file keeps its own name (DIR/make); a layer is written as DIR/layer-N.tar, byte for
    byte unless files holding secrets are left out. Nothing is written outside DIR.
    """
    if path is None and layer_no is None:
        raise click.UsageError("name a PATH in the image, or a layer with --layer N")
    progress = _stderr_progress()
    try:
        index = session.open_index(image, options, progress)
        if path is None:
            done = session.extract_layer(index, layer_no, dest, options, force=force, include_secrets=include_secrets, progress=progress)
        else:
            done = session.extract_file(index, path, dest, options, layer=layer_no, force=force, include_secrets=include_secrets, progress=progress)
    finally:
        if progress is not no_progress:
            sys.stderr.write("\r\033[K")
    sys.stdout.write(f"Wrote {done.path} ({done.size:,} bytes) from layer {done.layer}.\n")
    if done.withheld:
        shown = ", ".join(printable("/" + p) for p in done.withheld)
        sys.stdout.write(f"Left out {plural(len(done.withheld), 'file')} holding secrets (--include-secrets keeps them): {shown}\n")


@cli.command()
@click.argument("image")
@image_options
@rewrite_options
@click.option("--smoke", "smoke_cmd", help="Command to run in the rewritten image (default: one proving the program's imports work).")
@click.option(
    "--health", metavar="PATH",
    help="Run the rewritten image as a service (PORT set to a free loopback port) and ask PATH (default for Node and Go: /health, /healthz).",
)
@click.option("--build-tag", help="Tag for the rewritten image (default: IMAGE's repository, tag 'slimview').")
@click.option("--legacy-builder", is_flag=True, help="Build with the classic builder instead of BuildKit.")
@click.option(
    "--reference", type=click.Path(dir_okay=False, exists=True),
    help="A hand-written Dockerfile for the same context: built too, and the rewrite must be no larger.",
)
def verify(image, options, deep, base, context, dockerfile, smoke_cmd, health, build_tag, legacy_builder, reference):
    """Build the rewrite over --context, smoke-test it, and compare it with IMAGE.

    Exit status 1 when the build or the smoke command fails (a service: when it does not
    start, answer its health endpoint and stay up), when slimview's report on the
    rewrite finds what the rewrite claims to fix (or anything the original did not have),
    or when the rewrite is larger than the --reference. With --deep, the trimmed rewrite is
    built too, smoke-tested again, and each trim measured.
    """
    if context is None:
        raise click.UsageError("verify needs --context DIR (the build context the rewrite copies from)")
    if health is not None and not health.startswith("/"):
        raise click.UsageError(f"--health takes a path starting with /, not {health!r}")
    if not os.path.isdir(context):
        raise SlimviewError(f"build context {context} is not a directory")
    analysis = load(image, options)
    try:
        rewritten = session.rewrite(analysis, dockerfile=dockerfile, context=context, base=base).rewrite
        trimmed = session.rewrite(analysis, dockerfile=dockerfile, context=context, base=base, deep=True).rewrite if deep else None
    except NoRewrite as exc:
        _no_rewrite(exc)
    out_tag = build_tag or default_tag(analysis.index)
    command = shlex.split(smoke_cmd) if smoke_cmd else None
    result = run_verify(
        analysis, rewritten, context, out_tag, command, buildkit=not legacy_builder, options=options, deep_rewrite=trimmed, reference=reference,
        health=health,
    )
    for built in (*result.built, result.reference):
        if built is not None and not built.build.ok:
            what = "the reference" if built is result.reference else "the --deep rewrite" if built is result.deep else "the rewrite"
            sys.stderr.write(f"slimview: {what} did not build:\n" + "".join(f"  {line}\n" for line in built.build.relevant_lines()))
            sys.exit(EXIT_FAILED)
    measured = [b.measured for b in (*result.built, result.reference) if b is not None and b.measured is not None]
    sys.stdout.write(render_table(result.before, *measured))
    failed = False
    for built in result.built:
        assert built.smoke is not None and built.measured is not None, "a built image is smoke-tested and measured"
        if not built.smoke.ok:
            shown = shown_command(built.smoke.command) if built.smoke.command else "(none)"
            which = " on the --deep rewrite" if built is result.deep else ""
            sys.stderr.write(
                f"slimview: smoke test failed{which}: {shown}\n"
                + "".join(f"  {line}\n" for line in built.smoke.output.splitlines()[-20:])
            )
            failed = True
    if result.trims:
        sys.stdout.write("\n--deep, each trim measured on the two built images:\n")
        rows = [(t.label, human_bytes(t.before), human_bytes(t.after), human_bytes(t.before - t.after)) for t in result.trims]
        widths = [max(len(r[i]) for r in [("", "rewrite", "--deep", "saved"), *rows]) for i in range(4)]
        for row in [("", "rewrite", "--deep", "saved"), *rows]:
            sys.stdout.write("  " + "  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(row)).rstrip() + "\n")
    for note in result.notes:
        sys.stdout.write(f"Note: {note}.\n")
    for problem in result.problems:
        sys.stderr.write(f"slimview: {problem}\n")
    if failed or result.problems:
        sys.exit(EXIT_FAILED)
    sys.stdout.write("\n")
    if result.reference is not None and result.reference.measured is not None:
        sys.stdout.write(f"No larger than the reference {result.reference.measured.name} ({human_bytes(result.reference.measured.size)}).\n")
    sys.stdout.write("slimview's report on the rewrite finds nothing it claims to fix and nothing the original did not have.\n")
    for built in result.built:
        assert built.smoke is not None and built.measured is not None, "a built image is smoke-tested and measured"
        passed = built.smoke.summary or f"smoke test passed: {shown_command(built.smoke.command)}"
        sys.stdout.write(f"Built {built.measured.name}; {passed}\n")


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: maps every error to one line and an exit status."""
    try:
        args = sys.argv[1:] if argv is None else list(argv)
        cli.main(args=args, prog_name="slimview", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        sys.stderr.write("slimview: interrupted\n")
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_ERROR)
    except SlimviewError as exc:
        sys.stderr.write(f"slimview: error: {printable(str(exc))}\n")
        sys.exit(exc.exit_status)
    except KeyboardInterrupt:
        sys.stderr.write("slimview: interrupted\n")
        sys.exit(130)
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): not an error worth a message.
        try:
            sys.stdout = None
        finally:
            os._exit(0)
    except MemoryError:
        sys.stderr.write("slimview: error: out of memory (try --max-entries to refuse huge images)\n")
        sys.exit(EXIT_ERROR)
    except OSError as exc:  # the file system failed (a file vanished mid-run, a disk error): not a bug
        if os.environ.get("SLIMVIEW_DEBUG"):
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        sys.stderr.write(f"slimview: error: {printable(where + (exc.strerror or str(exc)))}\n")
        sys.exit(EXIT_ERROR)
    except Exception as exc:  # a bug: still one line, with a way to get the traceback
        if os.environ.get("SLIMVIEW_DEBUG"):
            raise
        text = printable(f"{exc.__class__.__name__}: {str(exc)[:300]}")
        sys.stderr.write(f"slimview: internal error: {text} (set SLIMVIEW_DEBUG=1 for a traceback)\n")
        sys.exit(EXIT_ERROR)
    _exit_now(EXIT_OK)


def _exit_now(status: int) -> None:
    """Exit without interpreter teardown once all output is written.

    Everything the command wrote went through atomic renames or stdout; what remains is
    the index in memory, and freeing a large one object by object takes longer than
    building the report did.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except BrokenPipeError:
            pass
    os._exit(status)


if __name__ == "__main__":  # pragma: no cover
    main()
