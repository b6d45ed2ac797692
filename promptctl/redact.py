"""Endpoint URLs as promptctl may show or store them.

A `base_url` (a model entry's, or OPENAI_BASE_URL) can carry credentials:
`http://user:password@host/v1?api-key=X#frag`. They are used for the requests, and
nowhere else: every fingerprint, record, report, cache entry and message names an
endpoint by `redact_url` (scheme, host, port and path), and every text that may quote
the URL (an SDK or HTTP-library error) goes through `scrub` first.

Invariant: `redact_url` never returns a character of the userinfo, the query or the
fragment, even for a URL that is not well formed (an unencoded `?`, `#` or `/` in a
password): when in doubt it drops more, never less.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, unquote, urlsplit

SHORTEST_SCRUBBED = 3  # shorter parts are not secrets, and replacing them garbles text


def is_http_url(url: str) -> bool:
    """An http(s) URL with a host and, if it has one, a port that is a number in range.
    (The parser's own error may quote a password: callers name the URL redacted.)"""
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def redact_url(url: str) -> str:
    """`url` without userinfo, query and fragment: what may be shown and stored."""
    text = url.strip()
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "", text
    head = rest.split("/", 1)[0]
    if "@" in head:  # userinfo, even one with an unencoded `?` or `#` in it
        rest = rest[rest.rindex("@", 0, len(head)) + 1:]
    for mark in "?#":
        rest = rest.split(mark, 1)[0]
    if "@" in rest:  # an unencoded `/` in a password: drop through the last `@`
        rest = rest[rest.rindex("@") + 1:]
    return f"{scheme}{sep}{rest}"


def split_url(url: str) -> tuple[str, list[tuple[str, str]]]:
    """(the URL to send requests to, its query as pairs). The URL keeps its userinfo
    (the HTTP client turns it into basic auth) and loses its query and fragment: an
    SDK that appends paths to a base URL would append them after the query, so the
    query travels as default query parameters instead."""
    parts = urlsplit(url.strip())
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    return parts._replace(query="", fragment="").geturl(), pairs


def url_secrets(url: str | None) -> list[str]:
    """The parts of `url` that must never be shown: userinfo, user, password, query
    and every query value, fragment (raw and percent-decoded), longest first."""
    if not url:
        return []
    text = url.strip()
    shown = redact_url(text)
    found: set[str] = set()
    _, sep, rest = text.partition("://")
    rest = rest if sep else text
    head = rest.split("/", 1)[0]
    cut = rest.rindex("@", 0, len(head)) if "@" in head else -1
    if cut < 0 and "@" in rest and "@" not in shown:
        cut = rest.rindex("@")
    if cut >= 0:
        userinfo = rest[:cut]
        found.add(userinfo)
        found.update(userinfo.split(":", 1))
    for mark in "?#":
        if mark in rest:
            tail = rest.split(mark, 1)[1]
            found.add(tail)
            for sub in tail.split("#", 1):
                found.add(sub)
                found.update(v for _, v in parse_qsl(sub, keep_blank_values=True))
                found.update(chunk.partition("=")[2] for chunk in sub.split("&"))
    found |= {unquote(s) for s in found} | {quote(s, safe="") for s in found}
    secrets = {s for s in found if len(s) >= SHORTEST_SCRUBBED and s not in shown}
    return sorted(secrets, key=len, reverse=True)


def scrub(text: str, url: str | None) -> str:
    """`text` with `url` named by its redacted form and no secret of it left."""
    if not url:
        return text
    text = text.replace(url.strip(), redact_url(url))
    for secret in url_secrets(url):
        text = text.replace(secret, "***")
    return text
