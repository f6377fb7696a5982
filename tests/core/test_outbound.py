"""The SSRF-safe fetcher: which addresses it refuses, and that it only ever connects
to an address it checked. Network tests use a real HTTP server on 127.0.0.1, let
through by ``allow_loopback`` (the test-only switch) where a test needs it."""

from __future__ import annotations

import ipaddress

import pytest

from app.core.outbound import (
    FetchFailure,
    FetchPolicy,
    FetchRefused,
    check_address,
    fetch,
    parse_url,
    refusal_reason,
)
from app.photos.images import sniff
from tests.open311.http_server import Reply, media_server
from tests.support.photos import jpeg

PHOTO = jpeg(seed=7)


def policy(**kw) -> FetchPolicy:
    base = {"max_bytes": 1_000_000, "sniff": sniff, "timeout_s": 5.0}
    base.update(kw)
    return FetchPolicy(**base)


def refused(reason: FetchFailure, *args, **kw) -> FetchRefused:
    with pytest.raises(FetchRefused) as info:
        fetch(*args, **kw)
    assert info.value.reason is reason, info.value
    return info.value


# ---------------------------------------------------------------- address classes
NOT_PUBLIC = [
    "127.0.0.1", "127.255.255.254", "::1",  # loopback
    "10.0.0.1", "10.255.255.255",  # 10/8
    "172.16.0.1", "172.31.255.255",  # 172.16/12
    "192.168.0.1", "192.168.255.255",  # 192.168/16
    "169.254.0.1", "169.254.169.254",  # link-local, the cloud metadata service
    "fc00::1", "fdff:ffff::1",  # fc00::/7
    "fe80::1", "febf::1",  # fe80::/10
    "0.0.0.0", "::",  # unspecified
    "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:8.8.8.8",  # IPv4-mapped: always refused
    "224.0.0.1", "239.255.255.250", "ff02::1",  # multicast
    "240.0.0.1", "255.255.255.255",  # reserved, broadcast
    "100.64.0.1",  # carrier-grade NAT
    "192.0.2.10", "198.51.100.1", "203.0.113.1", "198.18.0.1",  # documentation, benchmarking
    "2002:7f00:1::1", "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # 6to4, Teredo (embed IPv4)
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
]  # fmt: skip
PUBLIC = ["8.8.8.8", "1.1.1.1", "172.15.255.255", "172.32.0.1", "192.169.0.1",
          "2606:4700:4700::1111", "2a00:1450:4001:81b::200e"]  # fmt: skip


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_non_public_addresses_are_refused(address):
    with pytest.raises(FetchRefused) as info:
        check_address(address)
    assert info.value.reason is FetchFailure.disallowed_address


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address):
    assert refusal_reason(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize("address", ["127.0.0.1", "127.3.2.1", "::1"])
def test_allow_loopback_lets_loopback_through(address):
    check_address(address, allow_loopback=True)


@pytest.mark.parametrize(
    "address", ["10.0.0.1", "169.254.169.254", "192.168.1.1", "fe80::1", "::ffff:127.0.0.1"]
)
def test_allow_loopback_lets_nothing_else_through(address):
    with pytest.raises(FetchRefused):
        check_address(address, allow_loopback=True)


# ---------------------------------------------------------------- URLs
@pytest.mark.parametrize(
    "url",
    [
        "http://2130706433/",  # 127.0.0.1 as one decimal number
        "http://017700000001/",  # ... in octal
        "http://0x7f000001/",  # ... in hex
        "http://0x7f.0.0.1/",
        "http://0177.0.0.1/",
        "http://127.1/",
        "http://127.0.1/",
        "http://010.0.0.1/",
        "http://3232235777/",  # 192.168.1.1
    ],
)
@pytest.mark.parametrize("allow_loopback", [False, True])
def test_ambiguous_ip_spellings_are_refused(url, allow_loopback):
    err = refused(
        FetchFailure.disallowed_address, url, policy(allow_loopback=allow_loopback),
        resolver=lambda host, port: pytest.fail("no lookup for an IP spelling"),
    )  # fmt: skip
    assert "ambiguous" in err.detail


@pytest.mark.parametrize(
    "url", ["ftp://example.com/a.jpg", "file:///etc/passwd", "gopher://example.com/", "data:,x"]
)
def test_only_http_and_https(url):
    refused(FetchFailure.scheme, url, policy())


@pytest.mark.parametrize(
    "url",
    [
        "http://user:secret@example.com/a.jpg",
        "http:///a.jpg",
        "http://[fe80::1%25eth0]/a.jpg",
        "http://example.com:0/",
        "http://exa mple.com/",
        "",
    ],
)
def test_malformed_urls(url):
    with pytest.raises(FetchRefused) as info:
        fetch(url, policy(), resolver=lambda h, p: pytest.fail("no lookup"))
    assert info.value.reason in (FetchFailure.bad_url, FetchFailure.disallowed_address)


def test_parse_url_defaults_ports():
    assert parse_url("https://Example.COM./x?y=1").port == 443
    target = parse_url("http://example.com/a/b.jpg?size=large")
    assert (target.host, target.port, target.path) == ("example.com", 80, "/a/b.jpg?size=large")


def test_loopback_literal_refused_by_default_without_connecting():
    with media_server({"/a.jpg": Reply(body=PHOTO, headers={"Content-Type": "image/jpeg"})}) as srv:
        refused(FetchFailure.disallowed_address, srv.url("/a.jpg"), policy())
        refused(FetchFailure.disallowed_address, f"http://[::1]:{srv.port}/a.jpg", policy())
        assert srv.hits == []


@pytest.mark.parametrize(
    "addresses", [["10.0.0.5"], ["93.184.216.34", "10.0.0.5"], ["169.254.169.254"], ["::1"]]
)
def test_a_name_resolving_to_any_private_address_is_refused(addresses):
    refused(
        FetchFailure.disallowed_address,
        "http://media.example/a.jpg",
        policy(),
        resolver=lambda host, port: addresses,
    )


def test_localhost_by_name_is_refused():
    refused(FetchFailure.disallowed_address, "http://localhost/a.jpg", policy())


def test_unresolvable_names_fail_cleanly():
    def nxdomain(host, port):
        raise OSError("Name or service not known")

    refused(FetchFailure.resolve_failed, "http://nope.invalid/a.jpg", policy(), resolver=nxdomain)


# ---------------------------------------------------------------- fetching
def test_fetches_a_photo_from_an_allowed_server():
    with media_server({"/a.jpg": Reply(body=PHOTO, headers={"Content-Type": "image/jpeg"})}) as srv:
        got = fetch(srv.url("/a.jpg"), policy(allow_loopback=True))
    assert got.data == PHOTO and got.redirects == 0 and str(got.kind) == "jpeg"
    _path, headers = srv.hits[0]
    assert headers["Accept-Encoding"] == "identity"


def test_connects_to_the_checked_address_without_a_second_lookup():
    """DNS rebinding: a second answer (private) must never be used."""
    calls = []

    def rebinding(host, port):
        calls.append(host)
        return ["127.0.0.1"] if len(calls) == 1 else ["10.0.0.1"]

    with media_server({"/a.jpg": Reply(body=PHOTO, headers={"Content-Type": "image/jpeg"})}) as srv:
        got = fetch(f"http://media.test:{srv.port}/a.jpg", policy(allow_loopback=True),
                    resolver=rebinding)  # fmt: skip
    assert got.data == PHOTO
    assert calls == ["media.test"]
    assert srv.hits[0][1]["Host"] == f"media.test:{srv.port}"


@pytest.mark.parametrize(
    "location",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/a.jpg",
        "http://[::ffff:127.0.0.1]/a.jpg",
        "http://2130706433/a.jpg",
        "file:///etc/passwd",
    ],
)
def test_redirects_into_private_space_are_refused(location):
    with (
        media_server({"/r": Reply(302, headers={"Location": location})}) as srv,
        pytest.raises(FetchRefused) as info,
    ):
        fetch(srv.url("/r"), policy(allow_loopback=True))
    assert info.value.reason in (FetchFailure.disallowed_address, FetchFailure.scheme)
    assert [p for p, _ in srv.hits] == ["/r"]


def test_redirects_are_followed_up_to_the_limit():
    routes = {
        "/r1": Reply(301, headers={"Location": "/r2"}),
        "/r2": Reply(302, headers={"Location": "/r3"}),
        "/r3": Reply(307, headers={"Location": "/a.jpg"}),
        "/a.jpg": Reply(body=PHOTO, headers={"Content-Type": "image/jpeg"}),
        "/r0": Reply(308, headers={"Location": "/r1"}),
    }
    with media_server(routes) as srv:
        got = fetch(srv.url("/r1"), policy(allow_loopback=True))
        assert got.redirects == 3 and got.url.endswith("/a.jpg")
        refused(FetchFailure.too_many_redirects, srv.url("/r0"), policy(allow_loopback=True))


def test_declared_oversize_is_refused_before_reading():
    with media_server(
        {"/big.jpg": Reply(body=PHOTO, headers={"Content-Type": "image/jpeg"})}
    ) as srv:
        err = refused(
            FetchFailure.too_large, srv.url("/big.jpg"),
            policy(allow_loopback=True, max_bytes=len(PHOTO) - 1),
        )  # fmt: skip
    assert "limit" in err.detail


def test_undeclared_oversize_is_cut_while_streaming():
    big = PHOTO + b"\0" * 300_000
    reply = Reply(body=big, headers={"Content-Type": "image/jpeg", "Content-Length": ""}, chunks=8)
    with media_server({"/big.jpg": reply}) as srv:
        refused(FetchFailure.too_large, srv.url("/big.jpg"),
                policy(allow_loopback=True, max_bytes=100_000))  # fmt: skip


@pytest.mark.parametrize(
    ("content_type", "body", "reason"),
    [
        ("text/html", PHOTO, FetchFailure.bad_content_type),
        ("application/json", PHOTO, FetchFailure.bad_content_type),
        ("image/jpeg", b"<html><body>login</body></html>" * 200, FetchFailure.not_an_image),
        ("image/svg+xml", b"<svg xmlns='http://www.w3.org/2000/svg'/>", FetchFailure.not_an_image),
        ("image/gif", b"GIF89a" + b"\0" * 100, FetchFailure.not_an_image),
        ("image/jpeg", b"", FetchFailure.not_an_image),
    ],
)
def test_wrong_content_is_refused(content_type, body, reason):
    with media_server({"/x": Reply(body=body, headers={"Content-Type": content_type})}) as srv:
        refused(reason, srv.url("/x"), policy(allow_loopback=True))


def test_generic_binary_type_is_judged_by_its_bytes():
    reply = Reply(body=PHOTO, headers={"Content-Type": "application/octet-stream"})
    with media_server({"/x": reply}) as srv:
        assert fetch(srv.url("/x"), policy(allow_loopback=True)).data == PHOTO


def test_http_errors_are_failures():
    with media_server({}) as srv:
        refused(FetchFailure.http_status, srv.url("/missing.jpg"), policy(allow_loopback=True))


def test_slow_servers_time_out():
    reply = Reply(body=PHOTO, headers={"Content-Type": "image/jpeg"}, chunks=4, delay_s=0.4)
    with media_server({"/slow.jpg": reply}) as srv:
        refused(FetchFailure.timeout, srv.url("/slow.jpg"),
                policy(allow_loopback=True, timeout_s=0.5))  # fmt: skip


def test_nothing_listening_is_a_connection_failure():
    with media_server({}) as srv:
        port = srv.port
    refused(FetchFailure.connection, f"http://127.0.0.1:{port}/a.jpg", policy(allow_loopback=True))
