"""Outgoing requests never reach loopback, private or metadata addresses outside development (issue 15 §4)."""

from __future__ import annotations

import pytest

from fancommunity.netguard import UnsafeURL, check_public_url


@pytest.fixture(autouse=True)
def production(settings):
    settings.DEBUG = False
    settings.NETGUARD_ALLOWED_HOSTS = []
    settings.NETGUARD_ALLOW_HTTP = False


def resolves_to(*addresses):
    return lambda host, port: list(addresses)


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://127.1.2.3/",
        "https://[::1]/",
        "https://10.0.0.5/",
        "https://172.16.0.1/",
        "https://192.168.1.1/",
        "https://169.254.169.254/latest/meta-data/",  # the cloud metadata service
        "https://100.64.0.1/",  # carrier-grade NAT
        "https://0.0.0.0/",
        "https://[fd00::1]/",
        "https://[fe80::1]/",
        "https://[::ffff:127.0.0.1]/",  # IPv4-mapped loopback
        "https://[64:ff9b::a9fe:a9fe]/",  # NAT64 of the metadata address
        "https://224.0.0.1/",
        "https://localhost/",
        "https://metadata.google.internal/computeMetadata/v1/",
        "https://printer.local/",
        "https://user:pw@example.com/",
        "http://example.com/",  # plain http outside development
        "ftp://example.com/",
        "file:///etc/passwd",
        "gopher://example.com/",
        "https:///nohost",
        "https://example.com:99999/",
        "",
    ],
)
def test_internal_and_odd_urls_are_refused(url):
    with pytest.raises(UnsafeURL):
        check_public_url(url, resolver=resolves_to("93.184.216.34"))


def test_a_name_that_resolves_to_an_internal_address_is_refused():
    with pytest.raises(UnsafeURL, match="private or internal address"):
        check_public_url("https://hooks.example.com/x", resolver=resolves_to("93.184.216.34", "10.1.2.3"))


def test_numeric_tricks_resolve_to_what_they_mean():
    # 2130706433 is 127.0.0.1 written as one number: the system resolver reads it so, and so do we.
    with pytest.raises(UnsafeURL):
        check_public_url("https://2130706433/")


def test_public_urls_pass_and_say_where_they_resolve():
    checked = check_public_url("https://hooks.example.com:8443/in?x=1", resolver=resolves_to("93.184.216.34"))
    assert (checked.host, checked.port, checked.resolved) == ("hooks.example.com", 8443, ("93.184.216.34",))
    assert check_public_url("https://[2606:4700::1111]/").resolved == ("2606:4700::1111",)


def test_development_and_listed_hosts_skip_the_address_check(settings):
    settings.NETGUARD_ALLOWED_HOSTS = ["receiver.internal"]
    assert check_public_url("https://receiver.internal/x", resolver=resolves_to("10.0.0.9")).resolved == ()
    settings.DEBUG = True
    assert check_public_url("http://127.0.0.1:9000/hook").host == "127.0.0.1"
