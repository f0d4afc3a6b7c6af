"""Find secrets in file bodies, returning only redacted matches.

The index runs this on the bodies it reads past (candidate secret and config files, any
small file holding a private-key block) and keeps only the matches: kind, the variable
that holds the secret, a fingerprint and a line number. Secret values are never kept,
cached or shown; the fingerprint is the first four characters of a long value and a
sha256 prefix, enough to tell two secrets apart.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
from dataclasses import dataclass

from slimview.packages.paths import DATABASE_TREES, OS_RELEASE

PRIVATE_KEY, ENV_FILE = "private-key", "env-file"
# A PEM block with a base64 body (programs that parse keys hold the header text too, not a key).
_KEY = re.compile(
    rb"-----BEGIN ((?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?)-----\r?\n"
    rb"(?:[A-Za-z-]+: [^\n]*\r?\n)*\s*([A-Za-z0-9+/=\r\n]{64,}?)\s*-----END"
)

# Token formats with a recognisable prefix; the group is the secret value. The literal
# prefixes gate each regex: ``bytes in`` runs at memchr speed, a \b-anchored regex tries
# every offset, and most bodies hold none of these.
_TOKENS = [
    ("aws-access-key-id", (b"AKIA", b"ASIA"), re.compile(rb"\b((?:AKIA|ASIA)[0-9A-Z]{16})\b")),
    ("github-token", (b"gh", b"github_pat_"), re.compile(rb"\b(gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b")),
    ("gitlab-token", (b"glpat-",), re.compile(rb"\b(glpat-[A-Za-z0-9_-]{20,})")),
    ("slack-token", (b"xox",), re.compile(rb"\b(xox[abposr]-[A-Za-z0-9-]{10,})")),
    ("stripe-key", (b"_live_", b"_test_"), re.compile(rb"\b((?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,})")),
    ("google-api-key", (b"AIza",), re.compile(rb"\b(AIza[0-9A-Za-z_-]{35})")),
    ("npm-token", (b"npm_",), re.compile(rb"\b(npm_[A-Za-z0-9]{36})\b")),
]
# NAME=value / "name": "value" / name: value, where the name says it holds a credential.
_ASSIGNMENT = re.compile(
    rb"""(?im)^[ \t]*(?:export[ \t]+)?["']?([A-Za-z0-9_.-]*(?:api[_-]?key|apikey|token|secret|passw(?:or)?d|pwd"""
    rb"""|credential|auth[_-]?key|access[_-]?key|private[_-]?key)[A-Za-z0-9_.-]*)["']?[ \t]*[:=][ \t]*(["']?)([^\s"'#,;]+)"""
)
_PLACEHOLDERS = frozenset(
    {"changeme", "change_me", "password", "secret", "example", "placeholder", "dummy", "redacted", "none", "null",
     "true", "false", "required", "optional", "your_token_here", "your-api-key", "xxxxxxxx", "notasecret"}
)
_REFERENCE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+$")  # settings.API_KEY

# Credential files recognised by where they live, with the line that proves a credential.
_CREDENTIAL_FILES = [
    ("aws-credentials", re.compile(r"(?:^|/)\.aws/credentials$"), re.compile(rb"(?im)^\s*aws_secret_access_key\s*=\s*(\S{16,})")),
    ("npm-token", re.compile(r"(?:^|/)\.npmrc$"), re.compile(rb"(?im)(?:_authToken|_auth|_password)\s*=\s*(\S{8,})")),
    ("pypi-password", re.compile(r"(?:^|/)\.pypirc$"), re.compile(rb"(?im)^\s*password\s*[:=]\s*(\S{6,})")),
    ("netrc-password", re.compile(r"(?:^|/)_?\.?netrc$"), re.compile(rb"(?i)\bpassword\s+(\S{6,})")),
    ("git-credentials", re.compile(r"(?:^|/)\.git-credentials$"), re.compile(rb"://[^:/\s]+:([^@\s]{6,})@")),
    ("pgpass", re.compile(r"(?:^|/)\.pgpass$"), re.compile(rb"(?m)^[^#:\n]*:[^:\n]*:[^:\n]*:[^:\n]*:(\S{6,})$")),
    ("kubeconfig", re.compile(r"(?:^|/)\.kube/config$"), re.compile(rb"(?m)^\s*(?:token|client-key-data|password):\s*(\S{16,})")),
]

# Test keys that libraries and toolchains ship for their own test suites are not the image
# owner's secrets: Go's standard library keeps one in crypto/tls/example_test.go.
_LIBRARY_TREES = ("/site-packages/", "/dist-packages/", "/node_modules/", "/go/pkg/mod/", "/vendor/")
_LIBRARY_PREFIXES = (
    "usr/lib/python3", "usr/local/lib/python3", "usr/share/doc/", "usr/lib/node_modules/", "usr/share/", "usr/local/go/",
    "usr/lib/go-", "usr/lib/go/", "go/pkg/mod/", "usr/lib/jvm/", "usr/local/lib/node_modules/",
)
_TEST_PARTS = frozenset({"test", "tests", "testdata", "testing", "fixtures", "__tests__", "spec", "examples", "example", "doc", "docs"})
# Test files by name: Go's *_test.go, Python's test_*.py and *_test.py, JavaScript's *.test.js and *.spec.ts.
_TEST_FILE = re.compile(r"(?:_test\.go|_test\.py|\.(?:test|spec)\.[cm]?[jt]sx?)$|^test_[^/]*\.py$")
_PACKAGE_DBS = (*DATABASE_TREES, *OS_RELEASE)
_ENV_TEMPLATES = (".env.example", ".env.sample", ".env.template", ".env.dist")


@dataclass(frozen=True)
class Match:
    kind: str
    name: str  # the variable or key that holds it, when there is one
    fingerprint: str
    line: int


def fingerprint(value: bytes) -> str:
    """A redacted fingerprint: the first 4 characters of a long value, then a sha256 prefix."""
    text = value.decode("utf-8", "surrogateescape")
    head = text[:4] if len(text) >= 16 else ""
    return f"{head}…{hashlib.sha256(value).hexdigest()[:10]}"


def _line(body: bytes, offset: int) -> int:
    return body.count(b"\n", 0, offset) + 1


def _trivial(value: bytes) -> bool:
    text = value.decode("utf-8", "replace").strip("\"'")
    if len(text) < 8 or len(set(text)) < 5:
        return True
    lowered = text.lower()
    if lowered in _PLACEHOLDERS or any(c in text for c in "()[]{}<>$%`") or _REFERENCE.match(text):
        return True
    return lowered.startswith(("your", "change", "example", "<", "xxx"))


def _library_test_file(path: str) -> bool:
    wrapped = "/" + path
    if not (any(t in wrapped for t in _LIBRARY_TREES) or path.startswith(_LIBRARY_PREFIXES)):
        return False
    parts = path.split("/")
    return any(part in _TEST_PARTS for part in parts) or _TEST_FILE.search(parts[-1]) is not None


def _private_keys(body: bytes) -> list[Match]:
    out = []
    for m in _KEY.finditer(body):
        label = m.group(1).decode().lower().replace(" ", "-")
        out.append(Match(PRIVATE_KEY if label == "private-key" else label, "", fingerprint(m.group(2).strip()), _line(body, m.start())))
    return out


_LINE_NAME = re.compile(rb"""^[ \t]*(?:export[ \t]+)?["']?([A-Za-z_][A-Za-z0-9_.-]*)["']?[ \t]*[:=]""")


def _name_on_line(body: bytes, offset: int) -> str:
    """The variable a value is assigned to on its line (STRIPE_KEY=…), if it is one."""
    start = body.rfind(b"\n", 0, offset) + 1
    m = _LINE_NAME.match(body, start, offset)
    return m.group(1).decode("utf-8", "replace") if m else ""


def _tokens(body: bytes) -> list[Match]:
    out = []
    for kind, literals, pattern in _TOKENS:
        if not any(literal in body for literal in literals):
            continue
        for m in pattern.finditer(body):
            if b"EXAMPLE" in m.group(1):  # AWS's documented example key
                continue
            out.append(Match(kind, _name_on_line(body, m.start()), fingerprint(m.group(1)), _line(body, m.start())))
    return out


def _assignments(body: bytes, path: str) -> list[Match]:
    # In source code a real secret is a string literal; an unquoted value is an expression.
    code = path.endswith(".py")
    out = []
    for m in _ASSIGNMENT.finditer(body):
        quote, value = m.group(2), m.group(3)
        if (code and not quote) or _trivial(value):
            continue
        name = m.group(1).decode("utf-8", "replace")
        out.append(Match("credential-assignment", name, fingerprint(value), _line(body, m.start())))
    return out


def _credential_file(path: str, body: bytes) -> list[Match]:
    out = []
    for kind, where, proof in _CREDENTIAL_FILES:
        if where.search(path):
            for m in proof.finditer(body):
                if not _trivial(m.group(1)):
                    out.append(Match(kind, "", fingerprint(m.group(1)), _line(body, m.start())))
    if path.endswith(".json"):
        out.extend(_json_credentials(body))
    return out


_CREDENTIAL_KEY = re.compile(
    r"(?i)(?:api[_-]?key|apikey|token|secret|passw(?:or)?d|pwd|credential|auth[_-]?key|access[_-]?key|private[_-]?key)"
)


def _json_assignments(doc, out: list[Match], depth: int = 0) -> None:
    """Credential-named keys with string values anywhere in a JSON document (minified
    files put everything on one line, out of reach of the line-based rule)."""
    if depth > 32:
        return
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    for key, value in items:
        if isinstance(value, str):
            raw = value.encode("utf-8", "surrogateescape")
            if isinstance(key, str) and _CREDENTIAL_KEY.search(key) and not _trivial(raw):
                out.append(Match("credential-assignment", key, fingerprint(raw), 1))
        else:
            _json_assignments(value, out, depth + 1)


def _json_credentials(body: bytes) -> list[Match]:
    """Docker registry auths and Google service-account or user credentials in JSON files."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return []
    out: list[Match] = []
    _json_assignments(doc, out)
    if not isinstance(doc, dict):
        return out
    for registry, entry in (doc.get("auths") or {}).items() if isinstance(doc.get("auths"), dict) else ():
        if isinstance(entry, dict):
            for field in ("auth", "identitytoken", "password"):
                value = entry.get(field)
                if isinstance(value, str) and len(value) >= 8:
                    out.append(Match("docker-registry-auth", str(registry), fingerprint(value.encode()), 1))
    kind = doc.get("type")
    if kind == "service_account" and isinstance(doc.get("private_key"), str):
        out.append(Match("gcloud-service-account-key", str(doc.get("client_email", "")), fingerprint(doc["private_key"].encode()), 1))
    elif kind == "authorized_user" and isinstance(doc.get("refresh_token"), str):
        out.append(Match("gcloud-user-credentials", "", fingerprint(doc["refresh_token"].encode()), 1))
    return out


def scan(path: str, body: bytes) -> list[Match]:
    """Every secret in one file body, deduplicated by (kind, fingerprint)."""
    if path.startswith(_PACKAGE_DBS):
        return []
    base = posixpath.basename(path)
    matches = _credential_file(path, body) + _tokens(body)
    if not _library_test_file(path):
        matches += _private_keys(body)
    is_env = base == ".env" or (base.startswith(".env.") and base not in _ENV_TEMPLATES)
    if is_env or base.endswith((".env", ".json", ".yaml", ".yml", ".ini", ".cfg", ".conf", ".toml", ".properties",
                                ".xml", ".sh", ".py", ".tfvars")) or base in ("credentials", "secrets"):
        matches += _assignments(body, path)
    # One secret found twice (a Stripe key assigned to API_TOKEN) is one match: the specific
    # kind, with the variable name the generic rule saw.
    by_value: dict[str, Match] = {}
    for m in matches:
        kept = by_value.get(m.fingerprint)
        if kept is None:
            by_value[m.fingerprint] = m
        elif kept.kind == "credential-assignment" and m.kind != kept.kind:
            by_value[m.fingerprint] = Match(m.kind, m.name or kept.name, m.fingerprint, min(m.line, kept.line))
        elif not kept.name and m.name:
            by_value[m.fingerprint] = Match(kept.kind, m.name, kept.fingerprint, kept.line)
    return sorted(by_value.values(), key=lambda m: (m.line, m.kind))


def env_holds_secret(assignment: str) -> bool:
    """Does an image's ``ENV`` entry (``NAME=value``) look like a credential, as it would in a .env file?"""
    return bool(scan(".env", assignment.encode("utf-8", "surrogateescape")))
