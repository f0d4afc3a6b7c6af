"""HTTP to one registry, the way Docker's client does it, over requests and urllib3.

- TLS is verified against the system's roots plus Docker's per-registry files in
  ``/etc/docker/certs.d/HOST[:PORT]/`` (and podman's ``/etc/containers/certs.d``):
  ``*.crt`` are extra CAs, ``*.cert`` with ``*.key`` a client certificate.
  ``SLIMVIEW_CERTS_D`` (directories separated by ``:``) replaces those two.
- Plain HTTP only to loopback hosts, or to the registry's host with ``--insecure`` (which
  also skips certificate checks there); HTTPS is tried first, as Docker does.
- Authentication answers the registry's challenge: Basic, or a Bearer token from the
  token service it names (scope ``repository:REPO:pull``), with credentials.py's
  credentials; refreshed once when the registry refuses a token (expiry).
- Redirects are followed here, not by requests: ``Authorization`` is sent only to the
  origin it was made for, and no hop may fall back to plain HTTP outside the rule above.
- 429 (honouring Retry-After, capped) and 5xx are retried with backoff (urllib3's Retry).
- Every failure is one RegistryError line; any secret a server echoes back is scrubbed.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import ssl
import threading
from collections.abc import Mapping
from urllib.parse import urlencode, urljoin, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from slimview import __version__
from slimview.errors import RegistryError
from slimview.source.registry.credentials import Credentials, config_path, load_credentials
from slimview.source.registry.reference import RegistryReference, is_loopback_host

USER_AGENT = f"slimview/{__version__}"
CONNECT_TIMEOUT = 10
READ_TIMEOUT = 60
MAX_REDIRECTS = 5
MAX_RETRY_AFTER = 30  # seconds: a registry asking for longer is treated as if it asked for this
MAX_TOKEN_BYTES = 1 << 20
MAX_ERROR_BYTES = 64 << 10
RETRY_STATUSES = (429, 500, 502, 503, 504)
DEFAULT_CERTS_DIRS = ("/etc/docker/certs.d", "/etc/containers/certs.d")
_TOKEN = re.compile(r"[!-~]{1,65536}")  # printable ASCII, no spaces: safe in a header

# What a broken connection raises while a body is read.
READ_ERRORS = (urllib3.exceptions.HTTPError, requests.exceptions.RequestException, http.client.HTTPException, OSError)


class Unreachable(RegistryError):
    """No HTTP answer at all: refused, timed out, or the TLS handshake failed."""

    def __init__(self, message: str, *, speaks_tls: bool = False):
        super().__init__(message)
        self.speaks_tls = speaks_tls  # a TLS server whose certificate we refused: no point in plain HTTP


class _Retry(Retry):
    """urllib3's Retry with Retry-After capped: a registry cannot park us for an hour."""

    def get_retry_after(self, response):
        value = super().get_retry_after(response)
        return None if value is None else min(value, MAX_RETRY_AFTER)


def _retry() -> Retry:
    return _Retry(
        total=8, connect=2, read=2, status=5, other=0,
        status_forcelist=RETRY_STATUSES, backoff_factor=0.5, backoff_max=8,
        allowed_methods=frozenset({"GET", "HEAD", "POST"}), respect_retry_after_header=True, raise_on_status=False,
    )


class _Adapter(HTTPAdapter):
    """A connection pool with our retry policy and, for HTTPS, our TLS context."""

    def __init__(self, ssl_context: ssl.SSLContext | None, pool_size: int):
        self._ssl_context = ssl_context
        super().__init__(pool_connections=2, pool_maxsize=pool_size, max_retries=_retry())

    def init_poolmanager(self, *args, **kwargs):
        if self._ssl_context is not None:
            kwargs["ssl_context"] = self._ssl_context
        super().init_poolmanager(*args, **kwargs)


def certs_dirs() -> list[str]:
    override = os.environ.get("SLIMVIEW_CERTS_D")
    return [d for d in override.split(os.pathsep) if d] if override else list(DEFAULT_CERTS_DIRS)


def tls_context(netloc: str, skip_verify: bool) -> ssl.SSLContext:
    """The system's roots plus the certs.d files for ``netloc`` (``host`` or ``host:port``)."""
    context = ssl.create_default_context()
    for root in certs_dirs():
        directory = os.path.join(root, netloc)
        try:
            names = sorted(os.listdir(directory))
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as exc:
            raise RegistryError(f"{directory}: cannot read it ({exc.strerror})") from None
        for name in names:
            full = os.path.join(directory, name)
            try:
                if name.endswith(".crt"):
                    context.load_verify_locations(cafile=full)
                elif name.endswith(".cert"):
                    key = full[: -len(".cert")] + ".key"
                    if not os.path.isfile(key):
                        raise RegistryError(f"{full}: a client certificate without its key {os.path.basename(key)}")
                    context.load_cert_chain(full, key)
            except ssl.SSLError as exc:
                raise RegistryError(f"{full}: not a usable PEM certificate or key ({exc.reason or exc.__class__.__name__})") from None
            except OSError as exc:
                raise RegistryError(f"{full}: cannot read it ({exc.strerror})") from None
    if skip_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of ``url``: two URLs may share credentials only if these match."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port or (443 if scheme == "https" else 80)


def _netloc(url: str) -> str:
    """host[:port] as certs.d names it: the port only when it is not the scheme's default."""
    scheme, host, port = origin(url)
    host = f"[{host}]" if ":" in host else host
    return host if port == (443 if scheme == "https" else 80) else f"{host}:{port}"


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """``Bearer realm="…",service="…",scope="…"`` → ("bearer", {realm, service, scope})."""
    scheme, _, rest = header.strip().partition(" ")
    params = requests.utils.parse_dict_header(rest) if rest else {}
    return scheme.lower(), {k.lower(): v for k, v in params.items() if isinstance(v, str)}


class RegistryTransport:
    """Requests to one registry (and the token service and blob stores it sends us to)."""

    def __init__(self, ref: RegistryReference, *, insecure: bool = False, pool_size: int = 8):
        self.ref = ref
        self.host = ref.api_host
        self.insecure = insecure
        self.base = ""  # scheme://host[:port], chosen by connect()
        self._pool_size = pool_size
        self._session = requests.Session()
        self._session.trust_env = False  # no ~/.netrc: it would replace our Authorization header
        self._session.mount("http://", _Adapter(None, pool_size))
        self._mounted: set[str] = set()
        self._authorization: str | None = None
        self._credentials: Credentials | None = None
        self._credentials_loaded = False
        self._secrets: list[str] = []
        self._lock = threading.Lock()  # one token renewal at a time
        self._mount_lock = threading.Lock()

    def close(self) -> None:
        self._session.close()

    # -- policy ---------------------------------------------------------------------------
    def _own_host(self, url: str) -> bool:
        return origin(url)[1] == self.ref.hostname.lower()

    def _check_url(self, url: str) -> None:
        scheme, host, _port = origin(url)
        if scheme == "https":
            netloc = _netloc(url)
            with self._mount_lock:  # blob threads may meet a new host (a redirect) at once
                if netloc not in self._mounted:
                    skip = self.insecure and self._own_host(url)
                    self._session.mount(f"https://{netloc}/", _Adapter(tls_context(netloc, skip), self._pool_size))
                    self._mounted.add(netloc)
            return
        if scheme != "http":
            raise RegistryError(f"registry {self.host} sent us to a {scheme or 'scheme-less'} URL; only http(s) is followed")
        if not (is_loopback_host(host) or (self.insecure and self._own_host(url))):
            raise RegistryError(
                f"refusing plain HTTP to {host}: only loopback registries, or the registry named with --insecure, are read without TLS"
            )

    def scrub(self, text: str) -> str:
        """``text`` with every secret we hold replaced by ***, on one short line."""
        for secret in self._secrets:
            if secret:
                text = text.replace(secret, "***")
        text = " ".join(text.split())
        return text[:200] + ("…" if len(text) > 200 else "")

    # -- sending --------------------------------------------------------------------------
    def send(
        self, method: str, url: str, headers: Mapping[str, str], *, stream: bool = True, data=None, auth_origin=None
    ) -> requests.Response:
        """One request, following redirects ourselves; ``Authorization`` goes only to ``auth_origin``."""
        for _ in range(MAX_REDIRECTS + 1):
            self._check_url(url)
            hop = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity", **headers}
            if origin(url) != auth_origin:
                hop.pop("Authorization", None)
            try:
                response = self._session.request(
                    method, url, headers=hop, data=data, stream=stream, allow_redirects=False,
                    timeout=(CONNECT_TIMEOUT, READ_TIMEOUT), verify=not (self.insecure and self._own_host(url)),
                    proxies=requests.utils.get_environ_proxies(url),
                )
            except requests.exceptions.SSLError as exc:
                raise Unreachable(_tls_problem(_netloc(url), exc), speaks_tls=_certificate_refused(exc)) from None
            except requests.exceptions.Timeout:
                raise Unreachable(f"{_netloc(url)} did not answer within {READ_TIMEOUT} s") from None
            except requests.exceptions.ConnectionError as exc:
                raise Unreachable(f"cannot connect to {_netloc(url)} ({_connection_problem(exc)})") from None
            except requests.exceptions.RequestException as exc:
                raise RegistryError(f"request to {_netloc(url)} failed ({exc.__class__.__name__})") from None
            if not response.is_redirect:
                return response
            location = response.headers.get("Location", "")
            response.close()
            url = urljoin(url, location)
            if method == "POST" and response.status_code in (301, 302, 303):
                method, data = "GET", None
        raise RegistryError(f"registry {self.host} redirected more than {MAX_REDIRECTS} times")

    def connect(self) -> None:
        """Find the registry (HTTPS, else plain HTTP where allowed) and answer its challenge."""
        try:
            response = self.send("GET", f"https://{self.host}/v2/", {})
            self.base = f"https://{self.host}"
        except Unreachable as tls_failure:
            if tls_failure.speaks_tls or not (self.ref.is_loopback or self.insecure):
                raise
            try:
                response = self.send("GET", f"http://{self.host}/v2/", {})
            except Unreachable:
                raise tls_failure from None
            self.base = f"http://{self.host}"
        with response:
            if response.status_code == 401:
                self._authenticate(response)
            elif response.status_code != 200:
                raise RegistryError(
                    f"{self.host} does not answer like a registry (GET /v2/ answered {response.status_code}{self.error_summary(response)})"
                )

    def get(self, path_or_url: str, headers: Mapping[str, str] | None = None) -> requests.Response:
        """GET a registry path (``/v2/…``) or a full URL, streamed, authorized for the
        registry's origin; a refused token is renewed once."""
        url = self.base + path_or_url if path_or_url.startswith("/") else path_or_url
        own = origin(self.base + "/")
        sent = self._authorization
        response = self._send_authorized(url, headers, sent, own)
        if response.status_code != 401 or origin(response.url) != own:
            return response
        with response, self._lock:
            if self._authorization == sent:  # no other thread renewed it meanwhile
                self._authenticate(response, retrying=sent is not None)
        response = self._send_authorized(url, headers, self._authorization, own)
        if response.status_code == 401 and origin(response.url) == own:
            response.close()
            raise self._refused()
        return response

    def _send_authorized(
        self, url: str, headers: Mapping[str, str] | None, authorization: str | None, own: tuple[str, str, int]
    ) -> requests.Response:
        request_headers = dict(headers or {})
        if authorization:
            request_headers["Authorization"] = authorization
        return self.send("GET", url, request_headers, auth_origin=own)

    # -- reading --------------------------------------------------------------------------
    def read_capped(self, response: requests.Response, cap: int, what: str) -> bytes:
        """The whole body of a small document, refusing more than ``cap`` bytes."""
        limit = f"{cap >> 20} MiB" if cap % (1 << 20) == 0 else f"{cap:,}-byte"
        length = response.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > cap:
            raise RegistryError(f"{what} is {int(length):,} bytes, over the {limit} limit")
        try:
            data = response.raw.read(cap + 1, decode_content=True)
        except READ_ERRORS as exc:
            raise RegistryError(f"{what}: the connection broke while reading it ({exc.__class__.__name__})") from None
        if len(data) > cap:
            raise RegistryError(f"{what} is over the {limit} limit")
        return data

    def error_summary(self, response: requests.Response) -> str:
        """`: CODE message` from a registry's JSON error body, scrubbed; '' when there is none."""
        try:
            body = json.loads(response.raw.read(MAX_ERROR_BYTES, decode_content=True))
            first = body["errors"][0]
            code = str(first.get("code", ""))
            message = str(first.get("message", ""))
        except (*READ_ERRORS, ValueError, LookupError, TypeError, AttributeError):  # only decorates a message
            return ""
        code = code if re.fullmatch(r"[A-Z_]{1,40}", code) else ""
        text = self.scrub(f"{code} {message}".strip())
        return f": {text}" if text else ""

    # -- authentication -------------------------------------------------------------------
    def _creds(self) -> Credentials | None:
        if not self._credentials_loaded:
            self._credentials = load_credentials(self.ref.host)
            self._credentials_loaded = True
            if self._credentials is not None:
                self._secrets.extend(self._credentials.secrets())
        return self._credentials

    def _missing(self, who: str = "") -> RegistryError:
        return RegistryError(
            f"registry {self.ref.host}{who} requires credentials for {self.ref.repository} and none were found "
            f"for {self.ref.host} in {config_path()} (run `docker login {self.ref.host}`)"
        )

    def _refused(self, who: str = "") -> RegistryError:
        creds = self._creds()
        if creds is None:
            return self._missing(who)
        return RegistryError(f"registry {self.ref.host}{who} rejected the credentials from {creds.origin} for {self.ref.repository}")

    def _authenticate(self, response: requests.Response, retrying: bool = False) -> None:
        scheme, params = parse_challenge(response.headers.get("WWW-Authenticate", ""))
        if scheme == "basic":
            creds = self._creds()
            if creds is None or creds.identity_token:
                raise self._missing()
            if retrying and self._authorization == creds.basic():
                raise self._refused()
            self._authorization = creds.basic()
        elif scheme == "bearer":
            token = self._token(params)
            self._secrets.append(token)
            self._authorization = "Bearer " + token
        else:
            raise RegistryError(f"registry {self.host} asks for {scheme or 'unnamed'} authentication, which slimview does not speak")

    def _token(self, params: dict[str, str]) -> str:
        """A Bearer token from the registry's token service, for pulling this repository."""
        realm = params.get("realm", "")
        scheme, realm_host, _port = origin(realm)
        if scheme not in ("http", "https") or not realm_host:
            raise RegistryError(f"registry {self.host} names no usable token service (realm {self.scrub(realm)!r})")
        who = f" (token service {_netloc(realm)})"
        scopes = [f"repository:{self.ref.repository}:pull"]
        if params.get("scope") and params["scope"] not in scopes:
            scopes.append(params["scope"])
        service = params.get("service")
        creds = self._creds()
        headers = {"Accept": "application/json"}
        if creds is not None and creds.identity_token:
            # An OAuth refresh token (docker login with an identity provider) is POSTed.
            form = {"grant_type": "refresh_token", "refresh_token": creds.secret, "client_id": "slimview", "scope": " ".join(scopes)}
            if service:
                form["service"] = service
            response = self.send("POST", realm, headers, data=form)
        else:
            query = ([("service", service)] if service else []) + [("scope", s) for s in scopes]
            if creds is not None:
                headers["Authorization"] = creds.basic()
                query.append(("account", creds.username))
            url = realm + ("&" if "?" in realm else "?") + urlencode(query)
            response = self.send("GET", url, headers, auth_origin=origin(realm))
        with response:
            if response.status_code in (401, 403):
                raise self._refused(who)
            if response.status_code != 200:
                raise RegistryError(f"the token service of registry {self.host}{who} answered {response.status_code}{self.error_summary(response)}")
            body = self.read_capped(response, MAX_TOKEN_BYTES, f"the token from {_netloc(realm)}")
        try:
            doc = json.loads(body)
            token = doc.get("token") or doc.get("access_token")
        except (ValueError, UnicodeDecodeError, AttributeError):
            token = None
        if not isinstance(token, str) or not _TOKEN.fullmatch(token):
            raise RegistryError(f"the token service of registry {self.host}{who} answered without a usable token")
        return token


def _certificate_refused(exc: BaseException) -> bool:
    text = str(exc)
    return "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text


def _tls_problem(netloc: str, exc: BaseException) -> str:
    text = str(exc)
    if _certificate_refused(exc):
        reason = re.search(r"certificate verify failed: ([^(\]'\"]+)", text)
        why = reason.group(1).strip() if reason else "certificate verify failed"
        return (
            f"the TLS certificate of {netloc} is not trusted ({why}); put its CA in "
            f"{os.path.join(certs_dirs()[0], netloc, 'ca.crt')}, or pass --insecure"
        )
    if "WRONG_VERSION_NUMBER" in text or "wrong version number" in text:
        return f"{netloc} does not speak TLS (a plain-HTTP registry is read only on loopback or with --insecure)"
    return f"the TLS handshake with {netloc} failed"


def _connection_problem(exc: BaseException) -> str:
    text = str(exc)
    for needle, said in (
        ("Connection refused", "connection refused"),
        ("Name or service not known", "no such host"),
        ("Temporary failure in name resolution", "no such host"),
        ("Network is unreachable", "network unreachable"),
        ("Connection reset", "connection reset"),
        ("timed out", "timed out"),
    ):
        if needle in text:
            return said
    return "connection failed"
