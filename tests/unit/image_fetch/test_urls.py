"""URL grammar: what ``validate_url`` refuses, what it reads, and that urllib3 reads the same."""

from __future__ import annotations

import pytest
import urllib3
from covers_core.adapters.image_fetch import FetchCode, FetchError
from covers_core.adapters.image_fetch.urls import Target, validate_url
from hypothesis import given, settings
from hypothesis import strategies as st


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://127.0.0.1:8443\\@cdn.example/a.png", "backslash"),
        ("https://cdn.example\\a.png", "backslash"),
        ("https://user@cdn.example/a.png", "user-info"),
        ("https://cdn.example@127.0.0.1/a.png", "user-info"),
        ("https://cdn.example/a b.png", "whitespace"),
        ("https://cdn.example/a.png\n", "whitespace"),
        ("https://cdn.exa\tmple/a.png", "whitespace"),
        (" https://cdn.example/a.png", "whitespace"),
        ("https://cdn.example/a\x00.png", "control"),
        ("https://cdn.example\u200b/a.png", "control"),  # zero-width space (format character)
        ("https://cdn.example\u3000/a.png", "whitespace"),  # ideographic space
        ("http://cdn.example/a.png", "only https"),
        ("ftp://cdn.example/a.png", "only https"),
        ("file:///etc/passwd", "only https"),
        ("//cdn.example/a.png", "absolute"),
        ("https:/cdn.example/a.png", "absolute"),
        ("https:///a.png", "empty host"),
        ("https://:443/a.png", "empty host"),
        ("https://cdn.example:0/a.png", "outside 1-65535"),
        ("https://cdn.example:65536/a.png", "outside 1-65535"),
        ("https://cdn.example:999999/a.png", "port"),
        ("https://cdn.example:-1/a.png", "port"),
        ("https://cdn.example:+443/a.png", "port"),
        ("https://cdn.example:/a.png", "port"),
        ("https://cdn.example:443:80/a.png", "port"),
        ("https://2130706433/a.png", "numeric host"),
        ("https://0x7f000001/a.png", "numeric host"),
        ("https://0177.0.0.1/a.png", "numeric host"),
        ("https://127.1/a.png", "numeric host"),
        ("https://%31%32%37.0.0.1/a.png", "labels"),
        ("https://cdn.example./a.png", "labels"),
        ("https://cdn..example/a.png", "labels"),
        ("https://\u2603.example/a.png", "IDNA"),
        ("https://[fe80::1%25eth0]/a.png", "IPv6"),
        ("https://[::1/a.png", "IPv6"),
        ("https://[v1.x]/a.png", "IPv6"),
        ("https://cdn.example/\u00e4.png", "non-ASCII"),
        ("", "no URL"),
        ("https://" + "a" * 5000 + ".example/", "longer"),
    ],
)
def test_urls_two_parsers_could_read_differently_are_refused(url: str, reason: str) -> None:
    result = validate_url(url)
    assert isinstance(result, FetchError), result
    assert result.code == FetchCode.REFUSED_URL
    assert reason.lower() in result.message.lower()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://cdn.example/a.png", Target("https", "cdn.example", 443, "/a.png")),
        ("HTTPS://CDN.Example:8443/a.png?x=1#frag", Target("https", "cdn.example", 8443, "/a.png?x=1")),
        ("https://cdn.example", Target("https", "cdn.example", 443, "/")),
        ("https://cdn.example?x", Target("https", "cdn.example", 443, "/?x")),
        ("https://b\u00fccher.example/a.png", Target("https", "xn--bcher-kva.example", 443, "/a.png")),
        ("https://[2606:2800:220:1::1]/a", Target("https", "2606:2800:220:1::1", 443, "/a")),
        ("https://93.184.216.34:443/a", Target("https", "93.184.216.34", 443, "/a")),
        ("https://cdn.example/a@b.png", Target("https", "cdn.example", 443, "/a@b.png")),
    ],
)
def test_plain_urls_are_parsed(url: str, expected: Target) -> None:
    assert validate_url(url) == expected


def test_http_only_in_local_mode() -> None:
    assert validate_url("http://127.0.0.1:8787/a.png", allow_http=True) == Target(
        "http", "127.0.0.1", 8787, "/a.png"
    )


_URL_ALPHABET = st.sampled_from([*"aZ09.-_:@[]/\\?#%+ \t\n\x00", "\u00fc", "\u3002", "\uff0e", "\u200b"])


_PATH_ALPHABET = st.sampled_from([*"aZ09.-_:@[]/?#%+=&"])
_LABEL = st.one_of(
    st.from_regex(r"[a-zA-Z0-9]([a-zA-Z0-9-]{0,6}[a-zA-Z0-9])?", fullmatch=True),
    st.text(alphabet="abcXYZ019-_", min_size=1, max_size=8),
)
_HOSTS = st.one_of(
    st.lists(_LABEL, min_size=1, max_size=3).map(".".join),
    st.ip_addresses().map(lambda a: f"[{a}]" if a.version == 6 else str(a)),
    st.sampled_from(["b\u00fccher.example", "\u2603.com", "xn--bcher-kva.example", "127.1", "0x7f.0.0.1"]),
    st.text(_URL_ALPHABET, max_size=12),
)


@st.composite
def urlish(draw: st.DrawFn) -> str:
    """Mostly well-formed URLs with tricks mixed in (user-info, odd ports, junk characters)."""
    scheme = draw(st.sampled_from(["https", "https", "https", "HTTPS", "http", "ftp", ""]))
    sep = draw(st.sampled_from(["://"] * 6 + [":/", ":\\\\", "//", ""]))
    userinfo = draw(
        st.one_of(st.just(""), st.just(""), st.text(_URL_ALPHABET, max_size=6).map(lambda s: s + "@"))
    )
    port = draw(
        st.one_of(
            st.just(""),
            st.just(""),
            st.integers(-5, 70000).map(lambda p: f":{p}"),
            st.text(_URL_ALPHABET, max_size=4).map(lambda s: ":" + s),
        )
    )
    rest = draw(st.one_of(st.just(""), st.text(_PATH_ALPHABET, max_size=15).map(lambda s: "/" + s)))
    url = scheme + sep + userinfo + draw(_HOSTS) + port + rest
    if draw(st.integers(0, 3)) == 0:  # one junk character anywhere
        at = draw(st.integers(0, len(url)))
        url = url[:at] + draw(_URL_ALPHABET) + url[at:]
    return url


@settings(max_examples=500, deadline=None)
@given(st.one_of(urlish(), urlish(), urlish(), st.text(max_size=60)), st.booleans())
def test_validate_agrees_with_urllib3_or_refuses(url: str, allow_http: bool) -> None:
    result = validate_url(url, allow_http=allow_http)  # anything but a Target/FetchError is a failure
    if isinstance(result, FetchError):
        assert result.code == FetchCode.REFUSED_URL
        return
    assert isinstance(result, Target)
    parsed = urllib3.util.parse_url(url)
    default = 443 if result.scheme == "https" else 80
    assert (parsed.scheme, (parsed.host or "").strip("[]"), parsed.port or default) == (
        result.scheme,
        result.host,
        result.port,
    )
