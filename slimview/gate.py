"""The CI gate: pass or fail an image against dive's rules and slimview's own.

dive's ``.dive-ci`` works unchanged: the same three rules, the same defaults, the same
comparisons (efficiency below the threshold fails; wasted bytes or the user-wasted ratio
above it fails), the same byte syntax ("20MB", "20 MiB") and "disabled". slimview adds
rules about what the findings name, listed apart from dive's; with no configuration the
ones that catch bloat are on: build tools in the final image, package-manager caches over
10 MB, secrets. Given a baseline (an earlier build, or its saved summary), two more rules
fail an image that grew too much, counting growth that only a new base image brought
only when asked. Settings come from defaults, then ``.dive-ci``, then
``.slimview-ci.yaml`` (both looked up in the working directory) — or from one ``--config``
file instead — and finally from command-line flags.
"""

from __future__ import annotations

import fnmatch
import math
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from slimview.compare import BaseStatus, CauseKind, Comparison
from slimview.display import exact_bytes, human_bytes, signed_bytes
from slimview.errors import InputError
from slimview.findings import Analysis
from slimview.findings.caches import is_package_manager_cache, package_manager_cache
from slimview.findings.details import CacheDetails, DevDependenciesDetails, HiddenDetails, RootUserDetails, SecretDetails, ToolPackagesDetails, ToolPathsDetails
from slimview.findings.model import Finding, FindingKind
from slimview.index.waste import dive_user_wasted_ratio
from slimview.packages.classify import BuildRole

PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"
DIVE, SLIMVIEW = "dive", "slimview"  # where a rule comes from
DISABLED = "disabled"
DIVE_CONFIG = ".dive-ci"
SLIMVIEW_CONFIGS = (".slimview-ci.yaml", ".slimview-ci.yml")


# -- values ------------------------------------------------------------------------------------

_BYTES = re.compile(r"^([0-9][0-9,]*(?:\.[0-9]+)?|\.[0-9]+)\s*([a-z]*)$")
_UNITS = {"": 1, "b": 1}
for _power, _letter in enumerate("kmgtpe", 1):
    _UNITS[_letter] = _UNITS[_letter + "b"] = 1000 ** _power
    _UNITS[_letter + "i"] = _UNITS[_letter + "ib"] = 1024 ** _power


def parse_bytes(text: str) -> int:
    """A byte count the way dive reads one (go-humanize): "20MB" = 20,000,000, "1 GiB", "512k"."""
    m = _BYTES.match(text.strip().lower())
    if not m or m.group(2) not in _UNITS:
        raise ValueError(f"{text!r} is not a byte count (e.g. 20MB, 512 KiB, 1000000)")
    return int(float(m.group(1).replace(",", "")) * _UNITS[m.group(2)])


def parse_ratio(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number between 0 and 1") from None
    if math.isnan(value) or not 0 <= value <= 1:
        raise ValueError(f"{text!r} is outside the allowed range 0-1")
    return value


def parse_share(text: str) -> float:
    """A fraction that may exceed 1 (a growth of 1.5 is 150 %)."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number (0.1 is 10 %)") from None
    if math.isnan(value) or value < 0:
        raise ValueError(f"{text!r} is negative")
    return value


def _choice(*allowed: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        value = text.strip().lower()
        if value not in allowed:
            raise ValueError(f"{text!r} is not one of {', '.join(allowed)}")
        return value

    return parse


def _names(text: str) -> list[str]:
    return [t for t in re.split(r"[,\s]+", text.strip()) if t]


# -- rules -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    key: str  # the name in .dive-ci / .slimview-ci.yaml
    origin: str  # "dive" or "slimview"
    default: str
    parse: Callable[[str], object]
    help: str
    flag: str  # command-line flag


RULES = [
    Rule("lowestEfficiency", DIVE, "0.9", parse_ratio,
         "Fail when dive's efficiency score is below this ratio (0-1).", "--lowest-efficiency"),
    Rule("highestWastedBytes", DIVE, DISABLED, parse_bytes,
         "Fail when dive's wasted bytes exceed this (e.g. 20MB).", "--highest-wasted-bytes"),
    Rule("highestUserWastedPercent", DIVE, "0.1", parse_ratio,
         "Fail when wasted bytes exceed this ratio (0-1) of the bytes above the base layer.", "--highest-user-wasted-percent"),
    Rule("maxImageBytes", SLIMVIEW, DISABLED, parse_bytes,
         "Fail when the image stores more than this.", "--max-image-bytes"),
    Rule("maxAvoidableBytes", SLIMVIEW, DISABLED, parse_bytes,
         "Fail when fixing the findings would save more than this.", "--max-avoidable-bytes"),
    Rule("maxAvoidablePercent", SLIMVIEW, DISABLED, parse_ratio,
         "Fail when the avoidable bytes exceed this ratio (0-1) of the image.", "--max-avoidable-percent"),
    Rule("maxPackageCacheBytes", SLIMVIEW, "10MB", parse_bytes,
         "Fail when package-manager caches (apt lists and archives, apk, pip, npm… downloads) stored in any layer, "
         "visible or deleted later, exceed this.", "--max-package-cache-bytes"),
    Rule("maxCacheBytes", SLIMVIEW, DISABLED, parse_bytes,
         "Fail when package-manager caches, temporary files and logs in the final image exceed this.", "--max-cache-bytes"),
    Rule("maxHiddenBytes", SLIMVIEW, DISABLED, parse_bytes,
         "Fail when bytes stored and then deleted or overwritten by a later layer exceed this.", "--max-hidden-bytes"),
    Rule("maxJunkBytes", SLIMVIEW, DISABLED, parse_bytes,
         "Fail when build-context junk copied into the image exceeds this.", "--max-junk-bytes"),
    Rule("maxDuplicateBytes", SLIMVIEW, DISABLED, parse_bytes,
         "Fail when duplicate files could save more than this.", "--max-duplicate-bytes"),
    Rule("buildTools", SLIMVIEW, "forbidden", _choice("allowed", "forbidden", DISABLED),
         "forbidden (default): fail when build tools (compilers, -dev headers, make, git…) are in the image.", "--build-tools"),
    Rule("allowedBuildTools", SLIMVIEW, "", _names,
         "Packages buildTools: forbidden lets through (comma-separated).", "--allow-build-tool"),
    Rule("secrets", SLIMVIEW, "fail", _choice("fail", "allowed", DISABLED),
         "fail (default): fail when any layer holds a secret.", "--secrets"),
    Rule("allowedSecrets", SLIMVIEW, "", _names,
         "Paths (globs) whose secrets do not fail the gate (comma-separated).", "--allow-secret"),
    Rule("runAsRoot", SLIMVIEW, "allowed", _choice("allowed", "forbidden", DISABLED),
         "forbidden: fail when the image runs as root.", "--run-as-root"),
    Rule("maxGrowthBytes", SLIMVIEW, DISABLED, parse_bytes,
         "With --baseline: fail when the image grew by more than this.", "--max-growth-bytes"),
    Rule("maxGrowthPercent", SLIMVIEW, "0.1", parse_share,
         "With --baseline: fail when the image grew by more than this share of the baseline's size (0.1 = 10 %).", "--max-growth-percent"),
    Rule("baseImageGrowth", SLIMVIEW, "report", _choice("report", "fail"),
         "With --baseline: growth a new base image brings is only reported (report), or counted by the growth rules (fail).",
         "--base-image-growth"),
]
RULE_BY_KEY = {rule.key: rule for rule in RULES}
# Settings that tune another rule rather than being checked themselves.
PARAMETERS = frozenset({"allowedBuildTools", "allowedSecrets", "baseImageGrowth"})
# Rules about how the image changed since a baseline: evaluated only when there is one.
GROWTH_RULES = frozenset({"maxGrowthBytes", "maxGrowthPercent"})


@dataclass
class Settings:
    values: dict[str, str]  # rule key → configured text
    sources: dict[str, str]  # rule key → where the value came from

    def parsed(self, key: str):
        return RULE_BY_KEY[key].parse(self.values[key])


def _text(value) -> str:
    """A YAML value as the text dive's config reader would see."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(_text(v) for v in value)
    return str(value)


def read_config_file(path: str) -> dict[str, str]:
    """The ``rules:`` of a .dive-ci / .slimview-ci.yaml file, as text values."""
    try:
        with open(path, encoding="utf-8") as fh:
            doc = yaml.safe_load(fh)
    except OSError as exc:
        raise InputError(f"cannot read CI config {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise InputError(f"CI config {path} is not valid YAML{where}") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict) or set(doc) - {"rules"}:
        raise InputError(f"CI config {path}: expected a mapping with one key, 'rules'")
    rules = doc.get("rules") or {}
    if not isinstance(rules, dict):
        raise InputError(f"CI config {path}: 'rules' must be a mapping of rule names to values")
    unknown = sorted(set(map(str, rules)) - set(RULE_BY_KEY))
    if unknown:
        raise InputError(f"CI config {path}: unknown rule(s) {', '.join(unknown)}; known: {', '.join(RULE_BY_KEY)}")
    return {str(k): _text(v) for k, v in rules.items()}


def default_config_files(directory: str = ".") -> list[str]:
    """The config files ``slimview ci`` reads when not given --config: dive's, then slimview's."""
    found = []
    dive = os.path.join(directory, DIVE_CONFIG)
    if os.path.isfile(dive):
        found.append(dive)
    for name in SLIMVIEW_CONFIGS:
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            found.append(path)
            break
    return found


def load_settings(config_files: list[str], overrides: dict[str, str]) -> Settings:
    """Defaults, then each file in order, then ``overrides`` (flags); every value validated."""
    values = {rule.key: rule.default for rule in RULES}
    sources = {rule.key: "default" for rule in RULES}
    for path in config_files:
        for key, value in read_config_file(path).items():
            values[key], sources[key] = value, path
    for key, value in overrides.items():
        values[key], sources[key] = value, "command line"
    for key, value in values.items():
        if value.strip().lower() == DISABLED:
            continue
        try:
            RULE_BY_KEY[key].parse(value)
        except ValueError as exc:
            raise InputError(f"CI rule {key} (from {sources[key]}): {exc}") from None
    return Settings(values, sources)


# -- evaluation ---------------------------------------------------------------------------------


@dataclass
class RuleResult:
    key: str
    status: str  # PASS, FAIL or SKIP
    value: str = ""  # what was measured, for people
    threshold: str = ""  # what it was compared with
    message: str = ""  # why it failed, or why it was skipped
    paths: list[str] = field(default_factory=list)  # image paths behind a failure (for SARIF)
    layers: list[int] = field(default_factory=list)  # layers behind a failure, most bytes first (for Dockerfile lines)

    @property
    def origin(self) -> str:
        return RULE_BY_KEY[self.key].origin


@dataclass
class GateResult:
    image: str
    results: list[RuleResult]
    config_files: list[str]
    comparison: Comparison | None = None  # with the baseline, when one was given

    @property
    def passed(self) -> bool:
        return all(r.status != FAIL for r in self.results)

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)


def _kind_rule(key: str, findings: list[Finding], kind: FindingKind, limit: int, what: str) -> RuleResult:
    chosen = [f for f in findings if f.kind == kind]
    return _bytes_rule(key, sum(f.bytes for f in chosen), limit, what, chosen)


def _layers(findings: Sequence[Finding]) -> list[int]:
    """The layers of ``findings``, most bytes first, each once."""
    ranked = sorted((f for f in findings if f.layer is not None), key=lambda f: -f.bytes)
    return list(dict.fromkeys(f.layer for f in ranked if f.layer is not None))


def _bytes_rule(key: str, measured: int, limit: int, what: str, culprits: Sequence[Finding] = ()) -> RuleResult:
    value, threshold = exact_bytes(measured), exact_bytes(limit)
    if measured <= limit:
        return RuleResult(key, PASS, value, threshold)
    top = "; ".join(f"{human_bytes(f.bytes)} {f.title}" for f in sorted(culprits, key=lambda f: -f.bytes)[:3])
    paths = [p.path for f in culprits for p in f.paths[:20]]
    return RuleResult(key, FAIL, value, threshold, f"too many bytes: {what}" + (f"; largest: {top}" if top else ""), paths, _layers(culprits))


def _package_caches(analysis: Analysis, limit: int, _settings: Settings) -> RuleResult:
    """Package-manager caches stored in any layer: left in the final image (package-cache
    findings) or deleted by a later layer, which still ships them (hidden-bytes findings)."""
    measured: list[tuple[Finding, int]] = []
    for f in analysis.findings:
        d = f.details
        if isinstance(d, CacheDetails) and is_package_manager_cache(d):
            measured.append((f, f.bytes))
        elif isinstance(d, HiddenDetails):
            cached = sum(p.size for p in f.paths if package_manager_cache(p.path) is not None)
            if cached:
                measured.append((f, cached))
    total = sum(n for _f, n in measured)
    value, threshold = exact_bytes(total), exact_bytes(limit)
    if total <= limit:
        return RuleResult("maxPackageCacheBytes", PASS, value, threshold)
    measured.sort(key=lambda fn: -fn[1])
    top = "; ".join(f"{human_bytes(n)} {f.title}" for f, n in measured[:3])
    culprits = [f for f, _n in measured]
    return RuleResult(
        "maxPackageCacheBytes", FAIL, value, threshold, f"package-manager caches stored in the image; largest: {top}",
        [p.path for f in culprits for p in f.paths[:20]], _layers(culprits),
    )


def _ratio_text(x: float) -> str:
    return f"{x:.4f} ({x * 100:.2f} %)"


def _build_tools(analysis: Analysis, allowed: list[str]) -> RuleResult:
    offending: list[tuple[str, int]] = []
    paths: list[str] = []
    for f in analysis.findings:
        d = f.details
        if isinstance(d, ToolPathsDetails):  # found by path rules: nothing to allow by name
            offending.append((f"files under {', '.join(d.categories)} (layer {f.layer})", f.bytes))
        elif isinstance(d, ToolPackagesDetails):
            for p in d.packages:
                if p.category != BuildRole.DEPENDENCY and p.name not in allowed and p.name.split(":")[0] not in allowed:
                    offending.append((p.name, p.bytes))
        elif isinstance(d, DevDependenciesDetails):  # named by the devDependencies that pulled them in
            offending += [(p.name, p.bytes) for p in d.packages if (p.name in d.dev_dependencies or not d.dev_dependencies) and p.name not in allowed]
        else:  # a toolchain image's files are the packages and path rules above; debug information is no build tool
            continue
            continue
        paths += [p.path for p in f.paths[:20]]
    allowed_text = f"allowed: {', '.join(allowed)}" if allowed else "none allowed"
    if not offending:
        return RuleResult("buildTools", PASS, "no build tools", f"forbidden ({allowed_text})")
    offending.sort(key=lambda t: -t[1])
    names = ", ".join(f"{n} {human_bytes(b)}" for n, b in offending[:8]) + (" …" if len(offending) > 8 else "")
    tools = [f for f in analysis.findings if isinstance(f.details, (ToolPathsDetails, ToolPackagesDetails, DevDependenciesDetails))]
    total = sum(b for _n, b in offending)
    return RuleResult(
        "buildTools", FAIL, f"{len(offending)} build-only package(s), {exact_bytes(total)}", f"forbidden ({allowed_text})",
        f"build tools in the runtime image: {names}", paths, _layers(tools),
    )


def _secrets(analysis: Analysis, allowed: list[str]) -> RuleResult:
    def is_allowed(path: str) -> bool:
        return any(fnmatch.fnmatch(path, g.lstrip("/")) for g in allowed)

    found = [f for f in analysis.findings if isinstance(f.details, SecretDetails) and not all(is_allowed(p.path) for p in f.paths)]
    allowed_text = f"allowed: {', '.join(allowed)}" if allowed else "none allowed"
    if not found:
        return RuleResult("secrets", PASS, "no secrets", f"fail ({allowed_text})")
    listed = "; ".join(f"/{f.paths[0].path} in layer {f.layer} ({', '.join(_secret_kinds(f))})" for f in found[:5])
    return RuleResult(
        "secrets", FAIL, f"{len(found)} file(s) with secrets", f"fail ({allowed_text})",
        f"secrets ship in the image (values not shown): {listed}", [f.paths[0].path for f in found], _layers(found),
    )


def _secret_kinds(finding: Finding) -> list[str]:
    return finding.details.secret_kinds if isinstance(finding.details, SecretDetails) else []


def _efficiency(analysis: Analysis, limit: float, _settings: Settings) -> RuleResult:
    dive = analysis.index.dive
    if dive.score < limit:
        return RuleResult("lowestEfficiency", FAIL, _ratio_text(dive.score), f"≥ {limit}",
                          f"image efficiency {_ratio_text(dive.score)} is below {limit}",
                          [p for p, _n, _c in dive.inefficient_paths[:20]])
    return RuleResult("lowestEfficiency", PASS, _ratio_text(dive.score), f"≥ {limit}")


def _wasted_bytes(analysis: Analysis, limit: int, _settings: Settings) -> RuleResult:
    dive = analysis.index.dive
    result = _bytes_rule("highestWastedBytes", dive.wasted_bytes, limit, "paths stored by more than one layer (dive's measure)")
    if result.status == FAIL:
        worst = dive.inefficient_paths[:3]
        result.message += "; largest: " + ", ".join(f"/{p} {human_bytes(n)} in {c} layers" for p, n, c in worst)
        result.paths = [p for p, _n, _c in dive.inefficient_paths[:20]]
    return result


def _ratio_rule(key: str, measured: float, limit: float, what: str) -> RuleResult:
    if measured > limit:
        return RuleResult(key, FAIL, _ratio_text(measured), f"≤ {limit}", f"{what} is {_ratio_text(measured)}, over {limit}")
    return RuleResult(key, PASS, _ratio_text(measured), f"≤ {limit}")


def _user_wasted(analysis: Analysis, limit: float, _settings: Settings) -> RuleResult:
    dive = analysis.index.dive
    ratio = dive_user_wasted_ratio(dive)
    if math.isinf(ratio):  # dive divides by the 0 bytes above the base and fails the rule
        return RuleResult("highestUserWastedPercent", FAIL, "+Inf", f"≤ {limit}",
                          f"{exact_bytes(dive.wasted_bytes)} wasted while the layers above the base hold 0 bytes "
                          "(dive reports +Inf)")
    if math.isnan(ratio):  # 0 / 0: dive's comparison is false, the rule passes
        return RuleResult("highestUserWastedPercent", PASS, "NaN (nothing above the base, nothing wasted)", f"≤ {limit}")
    return _ratio_rule("highestUserWastedPercent", ratio, limit, "the share of wasted bytes in the layers above the base")


def _avoidable_share(analysis: Analysis, limit: float, _settings: Settings) -> RuleResult:
    size = analysis.index.size
    return _ratio_rule("maxAvoidablePercent", analysis.avoidable_bytes / size if size else 0.0, limit,
                       "the share of the image the fixes would save")


def _run_as_root(analysis: Analysis, policy: str, _settings: Settings) -> RuleResult:
    if policy == "allowed":
        return RuleResult("runAsRoot", SKIP, message="running as root allowed")
    root = [f for f in analysis.findings if isinstance(f.details, RootUserDetails)]
    if root:
        return RuleResult("runAsRoot", FAIL, "root", "forbidden", root[0].title)
    return RuleResult("runAsRoot", PASS, analysis.index.source.image_config.get("User", ""), "forbidden")


def _build_tools_rule(analysis: Analysis, policy: str, settings: Settings) -> RuleResult:
    if policy == "allowed":
        return RuleResult("buildTools", SKIP, message="build tools allowed")
    return _build_tools(analysis, settings.parsed("allowedBuildTools"))


def _secrets_rule(analysis: Analysis, policy: str, settings: Settings) -> RuleResult:
    if policy == "allowed":
        return RuleResult("secrets", SKIP, message="secrets explicitly allowed")
    return _secrets(analysis, settings.parsed("allowedSecrets"))


_EVALUATORS: dict[str, Callable[[Analysis, Any, Settings], RuleResult]] = {
    "lowestEfficiency": _efficiency,
    "highestWastedBytes": _wasted_bytes,
    "highestUserWastedPercent": _user_wasted,
    "maxImageBytes": lambda r, limit, _s: _bytes_rule("maxImageBytes", r.index.size, limit, "the image size"),
    "maxAvoidableBytes": lambda r, limit, _s: _bytes_rule(
        "maxAvoidableBytes", r.avoidable_bytes, limit, "the avoidable bytes", [f for f in r.findings if f.bytes]),
    "maxAvoidablePercent": _avoidable_share,
    "maxPackageCacheBytes": _package_caches,
    "maxCacheBytes": lambda r, limit, _s: _kind_rule(
        "maxCacheBytes", r.findings, FindingKind.PACKAGE_CACHE, limit, "caches, temporary files and logs"),
    "maxHiddenBytes": lambda r, limit, _s: _bytes_rule(
        "maxHiddenBytes", r.index.hidden_bytes, limit, "bytes hidden by later layers",
        [f for f in r.findings if f.kind == FindingKind.HIDDEN_BYTES]),
    "maxJunkBytes": lambda r, limit, _s: _kind_rule("maxJunkBytes", r.findings, FindingKind.CONTEXT_JUNK, limit, "build-context junk"),
    "maxDuplicateBytes": lambda r, limit, _s: _kind_rule("maxDuplicateBytes", r.findings, FindingKind.DUPLICATES, limit, "duplicate files"),
    "buildTools": _build_tools_rule,
    "secrets": _secrets_rule,
    "runAsRoot": _run_as_root,
}


def _counts_base(settings: Settings) -> bool:
    return settings.values["baseImageGrowth"].strip().lower() == "fail"


def _growth_causes(c: Comparison) -> str:
    """The largest causes of growth, by instruction, package and path, for a message."""
    parts = []
    for kind, label in ((CauseKind.INSTRUCTION, "by instruction"), (CauseKind.PACKAGE, "packages"), (CauseKind.PATH, "paths")):
        causes = [x for x in c.causes(growth=True, limit=3) if x.kind == kind]
        if not causes:
            continue
        if kind == CauseKind.PATH:
            named = [f"{x.name} {signed_bytes(x.delta)} ({x.detail})" for x in causes]
        elif kind == CauseKind.PACKAGE:
            named = [f"{x.name} {x.detail} {signed_bytes(x.delta)}" for x in causes]
        else:
            named = [f"`{x.name[:80]}` {signed_bytes(x.delta)}" for x in causes]
        parts.append(f"{label}: " + ", ".join(named))
    return "; ".join(parts)


def _growth(c: Comparison, key: str, limit: float, settings: Settings) -> RuleResult:
    """How much the image grew since the baseline against ``limit`` (bytes or a ratio of the
    baseline's size); growth from a new base image counts only with baseImageGrowth: fail."""
    counted = c.size_change if _counts_base(settings) else c.own_change
    base_note = ""
    if c.base.status == BaseStatus.CHANGED and c.base.delta and not _counts_base(settings):
        base_note = f"; {signed_bytes(c.base.delta)} from the new base image ({c.base.before.name} → {c.base.after.name}) not counted"
    if key == "maxGrowthPercent":
        share = counted / c.before.size if c.before.size else (1.0 if counted > 0 else 0.0)
        value, threshold, failed = f"{signed_bytes(counted)} ({share * 100:+.2f} %)", f"≤ {limit}", share > limit
    else:
        value, threshold, failed = f"{signed_bytes(counted)} ({counted:+,} B)", exact_bytes(int(limit)), counted > limit
    if not failed:
        return RuleResult(key, PASS, value + base_note, threshold)
    causes = _growth_causes(c)
    layers = [p.after[0] for p in sorted(c.layers, key=lambda p: -p.delta) if p.after and p.delta > 0]
    paths = [d.path for d in c.files if d.delta > 0][:20]
    message = f"the image grew by {value} since {c.before.name}{base_note}" + (f"; largest: {causes}" if causes else "")
    return RuleResult(key, FAIL, value, threshold, message, paths, layers[:5])


def evaluate(analysis: Analysis, settings: Settings, comparison: Comparison | None = None) -> list[RuleResult]:
    """Every rule's result, in the order of RULES; disabled rules are skipped, and the growth
    rules are left out unless there is a ``comparison`` with a baseline."""
    results = []
    for rule in RULES:
        if rule.key in PARAMETERS or (rule.key in GROWTH_RULES and comparison is None):
            continue
        if settings.values[rule.key].strip().lower() == DISABLED:
            results.append(RuleResult(rule.key, SKIP, message="disabled"))
        elif comparison is not None and rule.key in GROWTH_RULES:
            results.append(_growth(comparison, rule.key, settings.parsed(rule.key), settings))
        else:
            results.append(_EVALUATORS[rule.key](analysis, settings.parsed(rule.key), settings))
    return results


def run_gate(analysis: Analysis, settings: Settings, config_files: list[str], comparison: Comparison | None = None) -> GateResult:
    return GateResult(analysis.index.source.name, evaluate(analysis, settings, comparison), config_files, comparison)


def baseline_line(c: Comparison) -> str:
    """The comparison with the baseline in one line: how much the image grew and whether the base image changed."""
    text = f"{c.before.name} → {c.after.name}: {signed_bytes(c.size_change)} ({c.size_change:+,} B"
    text += f", {c.share * 100:+.1f} %)" if c.before.size else ")"
    if c.base.status == BaseStatus.CHANGED:
        text += f"; base image changed: {c.base.before.name or 'unnamed'} → {c.base.after.name or 'unnamed'}"
        if c.base.delta:
            text += f" ({signed_bytes(c.base.delta)}), {signed_bytes(c.own_change)} not from the base image"
    elif c.base.status == BaseStatus.SAME:
        text += f"; same base image ({c.base.after.name or 'unnamed'})"
    else:
        text += "; base image unknown"
    return text


def render_gate(result: GateResult, locate: Callable[[RuleResult], str] = lambda r: "") -> str:
    """One line per rule (status, name, measured value, threshold, and why), dive's rules
    apart from slimview's, then the verdict. ``locate`` gives where a failed rule's cause is
    written (a Dockerfile line), when it is known."""
    out = [f"slimview ci: {result.image}"]
    out.append("config: " + (", ".join(result.config_files) if result.config_files else "defaults (no .dive-ci or .slimview-ci.yaml)"))
    if result.comparison is not None:
        out.append("baseline: " + baseline_line(result.comparison))
    width = max(len(r.key) for r in result.results)
    for origin, heading in ((DIVE, "dive's rules"), (SLIMVIEW, "slimview's rules (turn any off in .slimview-ci.yaml: `RULE: disabled`)")):
        chosen = [r for r in result.results if r.origin == origin]
        if chosen:
            out.append(f"{heading}:")
        for r in chosen:
            if r.status == SKIP:
                out.append(f"  {r.status}  {r.key:<{width}}  ({r.message})")
                continue
            line = f"  {r.status}  {r.key:<{width}}  {r.value}"
            if r.threshold:
                line += f"  [threshold {r.threshold}]"
            out.append(line)
            if r.status == FAIL and r.message:
                out.append(f"        {'':<{width}}  {r.message}")
            where = locate(r) if r.status == FAIL else ""
            if where:
                out.append(f"        {'':<{width}}  at {where}")
    verdict = "PASS" if result.passed else "FAIL"
    out.append(
        f"Result: {verdict} [Total:{len(result.results)}] [Passed:{result.count(PASS)}] "
        f"[Failed:{result.count(FAIL)}] [Skipped:{result.count(SKIP)}]"
    )
    return "\n".join(out) + "\n"
