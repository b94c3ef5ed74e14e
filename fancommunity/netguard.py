"""Outgoing requests never reach our own network (issue 15: SSRF).

A URL someone typed (a webhook endpoint, a media URL to fetch) must point at the public internet.
Otherwise a talent's team member could make the server fetch http://169.254.169.254/ (the cloud
metadata service, which hands out credentials), the database's port, or an admin page on
localhost, and read the answer back through our error messages or stored media.

    from fancommunity.netguard import UnsafeURL, check_public_url

    try:
        check_public_url(url)               # at save time: a clear form / 400 error
    except UnsafeURL as exc:
        raise ValidationError(str(exc))
    ...
    check_public_url(url)                   # again right before the request: DNS may have changed

Rules: http(s) only (https only when DEBUG is off, unless NETGUARD_ALLOW_HTTP); no credentials in
the URL; the host must resolve, and EVERY address it resolves to must be global unicast, so no
loopback, private (RFC 1918, unique-local fc00::/7), link-local (169.254/16 with the metadata
service, fe80::/10), carrier-grade NAT (100.64/10), multicast, reserved, unspecified, or IPv4
mapped/compatible forms of them, and no well-known metadata names. In development (DEBUG on) and
for hosts listed in NETGUARD_ALLOWED_HOSTS the address check is skipped, so a local test server
works.

What it cannot do alone: a host that resolves to a public address now and a private one a second
later (DNS rebinding). Call it right before connecting and connect to the address it returns
(`resolved`), or re-check after connecting; do not follow redirects without checking each one.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

METADATA_HOSTS = {
    "metadata",
    "metadata.google.internal",
    "metadata.goog",
    "instance-data",
    "instance-data.ec2.internal",
    "metadata.azure.com",
}


class UnsafeURL(ValueError):
    """The URL may not be requested; the message says why, in words a team member understands."""


@dataclass(frozen=True)
class CheckedURL:
    url: str
    scheme: str
    host: str
    port: int
    resolved: tuple[str, ...]  # the addresses it resolved to (empty when the check was skipped)


def _is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped or address.sixtofour
        if mapped is not None:
            return _is_public(mapped)
        if address in ipaddress.ip_network("64:ff9b::/96"):  # NAT64 of an IPv4 address
            return _is_public(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return address.is_global and not (address.is_multicast or address.is_reserved or address.is_unspecified)


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeURL(f"{host} could not be found ({exc}).") from None
    return sorted({str(info[4][0]) for info in infos})


def check_public_url(url: str, *, resolver=_resolve) -> CheckedURL:
    """Raise UnsafeURL unless `url` is an http(s) URL whose host is on the public internet."""
    if not isinstance(url, str) or not url or len(url) > 2000:
        raise UnsafeURL("Give a URL of at most 2,000 characters.")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise UnsafeURL("That is not a valid URL.") from None
    allow_http = settings.DEBUG or getattr(settings, "NETGUARD_ALLOW_HTTP", False)
    if parts.scheme not in (("http", "https") if allow_http else ("https",)):
        raise UnsafeURL("The URL must start with https://." if not allow_http else "The URL must be http(s).")
    if parts.username or parts.password:
        raise UnsafeURL("The URL may not carry a user name or password.")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise UnsafeURL("The URL has no host name.")
    port = port or (443 if parts.scheme == "https" else 80)
    checked = CheckedURL(url=url, scheme=parts.scheme, host=host, port=port, resolved=())
    allowed = {h.lower() for h in getattr(settings, "NETGUARD_ALLOWED_HOSTS", [])}
    if settings.DEBUG or host in allowed:
        return checked  # development: a local receiver is the point
    if host in METADATA_HOSTS or host == "localhost" or host.endswith((".localhost", ".internal", ".local")):
        raise UnsafeURL(f"{host} is an internal name: use a public address.")
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    addresses = [str(literal)] if literal is not None else resolver(host, port)
    if not addresses:
        raise UnsafeURL(f"{host} could not be found.")
    for address in addresses:
        if not _is_public(ipaddress.ip_address(address.split("%", 1)[0])):
            raise UnsafeURL(f"{host} points at a private or internal address ({address}): use a public one.")
    return CheckedURL(url=url, scheme=parts.scheme, host=host, port=port, resolved=tuple(addresses))
