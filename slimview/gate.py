"""The CI gate: pass or fail an image against dive's rules and slimview's own.

dive's ``.dive-ci`` works unchanged: the same three rules, the same defaults, the same
comparisons (efficiency below the threshold fails; wasted bytes or the user-wasted ratio
above it fails), the same byte syntax ("20MB", "20 MiB") and "disabled". slimview adds
rules about what the findings name (caches, build tools, secrets…). Settings come from
defaults, then ``.dive-ci``, then ``.slimview-ci.yaml`` (both looked up in the working
directory) — or from one ``--config`` file instead — and finally from command-line flags.
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

from slimview.display import human_bytes
from slimview.errors import InputError
from slimview.findings import Analysis
from slimview.findings.details import RootUserDetails, SecretDetails, ToolPackagesDetails, ToolPathsDetails
from slimview.findings.model import Finding, FindingKind
from slimview.index.waste import dive_user_wasted_ratio
from slimview.packages.classify import BuildRole

PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"
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
    Rule("lowestEfficiency", "dive", "0.9", parse_ratio,
         "Fail when dive's efficiency score is below this ratio (0-1).", "--lowest-efficiency"),
    Rule("highestWastedBytes", "dive", DISABLED, parse_bytes,
         "Fail when dive's wasted bytes exceed this (e.g. 20MB).", "--highest-wasted-bytes"),
    Rule("highestUserWastedPercent", "dive", "0.1", parse_ratio,
         "Fail when wasted bytes exceed this ratio (0-1) of the bytes above the base layer.", "--highest-user-wasted-percent"),
    Rule("maxImageBytes", "slimview", DISABLED, parse_bytes,
         "Fail when the image stores more than this.", "--max-image-bytes"),
    Rule("maxAvoidableBytes", "slimview", DISABLED, parse_bytes,
         "Fail when fixing the findings would save more than this.", "--max-avoidable-bytes"),
    Rule("maxAvoidablePercent", "slimview", DISABLED, parse_ratio,
         "Fail when the avoidable bytes exceed this ratio (0-1) of the image.", "--max-avoidable-percent"),
    Rule("maxCacheBytes", "slimview", DISABLED, parse_bytes,
         "Fail when package-manager caches, temporary files and logs in the final image exceed this.", "--max-cache-bytes"),
    Rule("maxHiddenBytes", "slimview", DISABLED, parse_bytes,
         "Fail when bytes stored and then deleted or overwritten by a later layer exceed this.", "--max-hidden-bytes"),
    Rule("maxJunkBytes", "slimview", DISABLED, parse_bytes,
         "Fail when build-context junk copied into the image exceeds this.", "--max-junk-bytes"),
    Rule("maxDuplicateBytes", "slimview", DISABLED, parse_bytes,
         "Fail when duplicate files could save more than this.", "--max-duplicate-bytes"),
    Rule("buildTools", "slimview", "allowed", _choice("allowed", "forbidden", DISABLED),
         "forbidden: fail when build tools (compilers, -dev headers, make, git…) are in the image.", "--build-tools"),
    Rule("allowedBuildTools", "slimview", "", _names,
         "Packages buildTools: forbidden lets through (comma-separated).", "--allow-build-tool"),
    Rule("secrets", "slimview", "fail", _choice("fail", "allowed", DISABLED),
         "fail (default): fail when any layer holds a secret.", "--secrets"),
    Rule("allowedSecrets", "slimview", "", _names,
         "Paths (globs) whose secrets do not fail the gate (comma-separated).", "--allow-secret"),
    Rule("runAsRoot", "slimview", "allowed", _choice("allowed", "forbidden", DISABLED),
         "forbidden: fail when the image runs as root.", "--run-as-root"),
]
RULE_BY_KEY = {rule.key: rule for rule in RULES}
# Settings that tune another rule rather than being checked themselves.
PARAMETERS = frozenset({"allowedBuildTools", "allowedSecrets"})


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
        if value.strip().lower() == DISABLED or key in PARAMETERS:
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


@dataclass
class GateResult:
    image: str
    results: list[RuleResult]
    config_files: list[str]

    @property
    def passed(self) -> bool:
        return all(r.status != FAIL for r in self.results)

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)


def _kind_rule(key: str, findings: list[Finding], kind: FindingKind, limit: int, what: str) -> RuleResult:
    chosen = [f for f in findings if f.kind == kind]
    return _bytes_rule(key, sum(f.bytes for f in chosen), limit, what, chosen)


def _exact_bytes(n: int) -> str:
    return human_bytes(n) if n < 1000 else f"{human_bytes(n)} ({n:,} B)"


def _bytes_rule(key: str, measured: int, limit: int, what: str, culprits: Sequence[Finding] = ()) -> RuleResult:
    value, threshold = _exact_bytes(measured), _exact_bytes(limit)
    if measured <= limit:
        return RuleResult(key, PASS, value, threshold)
    top = "; ".join(f"{human_bytes(f.bytes)} {f.title}" for f in sorted(culprits, key=lambda f: -f.bytes)[:3])
    paths = [p.path for f in culprits for p in f.paths[:20]]
    return RuleResult(key, FAIL, value, threshold, f"too many bytes: {what}" + (f"; largest: {top}" if top else ""), paths)


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
        else:
            continue
        paths += [p.path for p in f.paths[:20]]
    allowed_text = f"allowed: {', '.join(allowed)}" if allowed else "none allowed"
    if not offending:
        return RuleResult("buildTools", PASS, "no build tools", f"forbidden ({allowed_text})")
    offending.sort(key=lambda t: -t[1])
    names = ", ".join(f"{n} {human_bytes(b)}" for n, b in offending[:8]) + (" …" if len(offending) > 8 else "")
    return RuleResult(
        "buildTools", FAIL, f"{len(offending)} build-only package(s)", f"forbidden ({allowed_text})",
        f"build tools in the runtime image: {names}", paths,
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
        f"secrets ship in the image (values not shown): {listed}", [f.paths[0].path for f in found],
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
                          f"{_exact_bytes(dive.wasted_bytes)} wasted while the layers above the base hold 0 bytes "
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


def evaluate(analysis: Analysis, settings: Settings) -> list[RuleResult]:
    """Every rule's result, in the order of RULES; disabled rules are skipped."""
    results = []
    for rule in RULES:
        if rule.key in PARAMETERS:
            continue
        if settings.values[rule.key].strip().lower() == DISABLED:
            results.append(RuleResult(rule.key, SKIP, message="disabled"))
        else:
            results.append(_EVALUATORS[rule.key](analysis, settings.parsed(rule.key), settings))
    return results


def run_gate(analysis: Analysis, settings: Settings, config_files: list[str]) -> GateResult:
    return GateResult(analysis.index.source.name, evaluate(analysis, settings), config_files)


def render_gate(result: GateResult) -> str:
    """One line per rule (status, name, measured value, threshold, and why), then the verdict."""
    out = [f"slimview ci: {result.image}"]
    out.append("config: " + (", ".join(result.config_files) if result.config_files else "defaults (no .dive-ci or .slimview-ci.yaml)"))
    width = max(len(r.key) for r in result.results)
    for r in result.results:
        if r.status == SKIP:
            out.append(f"  {r.status}  {r.key:<{width}}  ({r.message})")
            continue
        line = f"  {r.status}  {r.key:<{width}}  {r.value}"
        if r.threshold:
            line += f"  [threshold {r.threshold}]"
        out.append(line)
        if r.status == FAIL and r.message:
            out.append(f"        {'':<{width}}  {r.message}")
    verdict = "PASS" if result.passed else "FAIL"
    out.append(
        f"Result: {verdict} [Total:{len(result.results)}] [Passed:{result.count(PASS)}] "
        f"[Failed:{result.count(FAIL)}] [Skipped:{result.count(SKIP)}]"
    )
    return "\n".join(out) + "\n"
