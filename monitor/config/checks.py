"""Checks of single values that several tables share: URLs, CSS, listen addresses.

Each ``*_problem`` function returns why a value cannot be used, or None; the table
readers turn a reason into a located problem. Pure (selectolax only parses a selector).
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import parse_qsl, urlsplit

from selectolax.lexbor import LexborHTMLParser, SelectolaxError

__all__ = [
    "SOURCE_ID",
    "css_problem",
    "is_loopback",
    "parse_listen",
    "query_secret_problem",
    "slug",
    "url_problem",
]

SOURCE_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,79}$")


# What str.isspace calls whitespace (re's \s is the same Unicode property), in one C scan.
_WHITESPACE = re.compile(r"\s")


def url_problem(url: str) -> str | None:
    if _WHITESPACE.search(url):
        return f"{url!r} contains whitespace; encode spaces as %20"
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError on a port that is not a number in range
    except ValueError as exc:
        return f"{url!r} is not a valid URL: {exc}"
    if parts.username is not None or parts.password is not None:
        # Never echo it: the point is that a password must not be written anywhere.
        return (
            "the URL carries a user name or password, which would be stored in the log "
            "and shown in the web view; send credentials as a header instead, e.g. "
            'headers = { Authorization = "${PAGE_TOKEN}" }'
        )
    if not parts.scheme:
        return (
            f"{url!r} has no scheme; only http:// and https:// URLs can be watched "
            f"(did you mean 'https://{url}'?)"
        )
    if parts.scheme.lower() not in ("http", "https"):
        return f"only http:// and https:// URLs can be watched; got {parts.scheme!r}"
    if not parts.hostname:
        return f"{url!r} has no host"
    return None


# Query parameters that carry credentials by name, compared lower-case with "-" as "_".
_SECRET_PARAMETERS = frozenset(
    [
        "access_key",
        "access_token",
        "api_key",
        "apikey",
        "auth",
        "auth_token",
        "authorization",
        "client_secret",
        "code_verifier",
        "credential",
        "id_token",
        "jwt",
        "key",
        "pass",
        "passwd",
        "password",
        "private_token",
        "pwd",
        "refresh_token",
        "secret",
        "secret_key",
        "session",
        "session_id",
        "sessionid",
        "sid",
        "sig",
        "signature",
        "token",
        "x_amz_credential",
        "x_amz_security_token",
        "x_amz_signature",
        "x_goog_credential",
        "x_goog_signature",
    ]
)
_SECRET_SUFFIXES = ("_token", "_secret", "_password", "_signature", "_apikey", "_api_key")


def query_secret_problem(raw: object, url: str) -> str | None:
    """Why a source URL's query must not be used: it carries a credential.

    The URL is stored in the hash-chained log (which cannot be edited afterwards)
    and shown in the web view and alerts, so a token in it would be published for
    good — the reason ``user:pw@`` URLs are refused. ``raw`` is the value as written,
    before ``${VAR}`` was replaced.
    """
    advice = (
        "which would be stored in the log for good and shown in the web view; send "
        'credentials as a header instead, e.g. headers = { Authorization = "Bearer ${TOKEN}" }'
    )
    written = str(raw).replace("$${", "")
    after_path = min((i for i in (written.find("?"), written.find("#")) if i >= 0), default=-1)
    if after_path >= 0 and "${" in written[after_path:]:
        return f"the URL's query takes a value from the environment, {advice}"
    for name, _ in parse_qsl(urlsplit(url).query, keep_blank_values=True):
        folded = name.strip().lower().replace("-", "_")
        if folded in _SECRET_PARAMETERS or folded.endswith(_SECRET_SUFFIXES):
            return f"the URL's query parameter {name[:40]!r} looks like a credential, {advice}"
    return None


def css_problem(selector: str) -> str | None:
    try:
        LexborHTMLParser("<p></p>").css(selector)
    except SelectolaxError:
        return f"{selector!r} is not a valid CSS selector"
    return None


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-._")[:80]


def parse_listen(text: str) -> tuple[str, int]:
    """``"HOST:PORT"`` (``"[::1]:8080"`` for IPv6) → (host, port); ValueError with a reason."""
    host, _, port = text.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(
            f"expected HOST:PORT like '127.0.0.1:8080' or '0.0.0.0:8080' "
            f"(port 1-65535), got {text!r}"
        )
    return host, int(port)


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP addresses: only this machine can connect."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
