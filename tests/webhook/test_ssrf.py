"""The SSRF guard on its own: what counts as a public destination."""

from __future__ import annotations

import ipaddress

import pytest

from tabellion.webhook.ssrf import (
    ForbiddenDestination,
    address_is_public,
    check_url_syntax,
    resolve_public,
)


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2001:4860:4860::8888", True),
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("172.16.5.4", False),
        ("192.168.0.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("::1", False),
        ("fc00::1", False),
        ("fe80::1", False),
        ("::ffff:127.0.0.1", False),
        ("2002:0a00:0001::1", False),
        # IPv4-mapped, -compatible and -translated, NAT64 and Teredo forms of inner addresses
        ("::ffff:10.0.0.1", False),
        ("::ffff:169.254.169.254", False),
        ("::127.0.0.1", False),
        ("::10.0.0.1", False),
        ("::ffff:0:127.0.0.1", False),
        ("::ffff:0:a9fe:a9fe", False),
        ("64:ff9b::127.0.0.1", False),
        ("64:ff9b::169.254.169.254", False),
        ("64:ff9b::8.8.8.8", True),
        ("::8.8.8.8", True),
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", False),  # Teredo to 127.0.0.1
        # local-use NAT64, site-local, unique-local
        ("64:ff9b:1::a00:1", False),
        ("fec0::1", False),
        ("feff::1", False),
        ("fd12:3456::1", False),
    ],
)
def test_address_is_public(address: str, public: bool) -> None:
    assert address_is_public(ipaddress.ip_address(address)) is public


async def test_localhost_is_refused_by_name() -> None:
    with pytest.raises(ForbiddenDestination, match=r"127\.0\.0\.1|::1"):
        await resolve_public("localhost", 80, allowed=())


async def test_allow_list_exempts_a_host() -> None:
    assert await resolve_public("127.0.0.1", 80, allowed={"127.0.0.1"}) == ["127.0.0.1"]
    assert "127.0.0.1" in await resolve_public("localhost", 80, allowed={"localhost"})


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "http://",
        "https://u:p@example.com/",
        "http://example.com:99999/",
        "http://example.com:0/",
        "https://[2606:4700::1]:0/",
    ],
)
def test_bad_urls(url: str) -> None:
    with pytest.raises(ForbiddenDestination):
        check_url_syntax(url)


def test_default_ports() -> None:
    assert check_url_syntax("https://Example.COM/x") == ("example.com", 443)
    assert check_url_syntax("http://example.com/x") == ("example.com", 80)


@pytest.mark.parametrize(
    "host", ["::ffff:127.0.0.1", "::127.0.0.1", "64:ff9b::a9fe:a9fe", "fec0::1", "fd00::1"]
)
async def test_literal_internal_ipv6_is_refused(host: str) -> None:
    with pytest.raises(ForbiddenDestination, match="private, loopback or link-local"):
        await resolve_public(f"[{host}]", 443, allowed=())


# What the registration endpoint tells the caller (``The URL is refused: <reason>.``): each
# refusal names its own reason.
@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://example.com/a b", "the URL contains spaces or control characters"),
        ("https://example.com/\tx", "the URL contains spaces or control characters"),
        ("https://exa\x00mple.com/", "the URL contains spaces or control characters"),
        ("https://example.com/\x7f", "the URL contains spaces or control characters"),
        ("http://[::1/", "not a valid URL: Invalid IPv6 URL"),
        ("http://example.com:99999/", "not a valid URL: Port out of range 0-65535"),
        ("ftp://example.com/", "the URL must start with https:// or http://"),
        ("example.com/hook", "the URL must start with https:// or http://"),
        ("https:///path", "the URL has no host"),
        ("https://user@example.com/", "credentials in the URL are not accepted; use the signature"),
        (
            "https://:secret@example.com/",
            "credentials in the URL are not accepted; use the signature",
        ),
        ("https://u:p@example.com/", "credentials in the URL are not accepted; use the signature"),
        ("http://example.com:0/", "port 0 is not a port one can call"),
    ],
)
def test_each_refusal_says_why(url: str, reason: str) -> None:
    with pytest.raises(ForbiddenDestination) as refused:
        check_url_syntax(url)
    assert str(refused.value) == reason


def test_explicit_ports_are_kept() -> None:
    assert check_url_syntax("https://example.com:8443/x") == ("example.com", 8443)
    assert check_url_syntax("http://[2606:4700::1]:8080/") == ("2606:4700::1", 8080)


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("8.8.8.8", "8.8.8.8"),
        ("[2001:4860:4860::8888]", "2001:4860:4860::8888"),
        ("[2001:4860:4860:0:0:0:0:8888]", "2001:4860:4860::8888"),
    ],
)
async def test_public_literals_are_accepted(host: str, address: str) -> None:
    assert await resolve_public(host, 443, allowed=()) == [address]


async def test_an_allowed_address_exempts_only_itself() -> None:
    assert await resolve_public("[::1]", 80, allowed={"::1"}) == ["::1"]
    with pytest.raises(ForbiddenDestination) as refused:
        await resolve_public("127.0.0.2", 80, allowed={"127.0.0.1"})
    assert str(refused.value) == (
        "127.0.0.2 resolves to 127.0.0.2, a private, loopback or link-local address"
    )


async def test_a_name_that_does_not_resolve_is_refused() -> None:
    with pytest.raises(ForbiddenDestination) as refused:
        await resolve_public("no-such-host.invalid", 443, allowed=())
    assert str(refused.value) == "no-such-host.invalid does not resolve"


async def test_a_label_the_resolver_cannot_encode_is_refused() -> None:
    host = "a" * 64 + ".example"
    with pytest.raises(ForbiddenDestination) as refused:
        await resolve_public(host, 443, allowed=())
    assert str(refused.value) == f"{host} is not a valid host name"
