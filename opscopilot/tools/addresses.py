"""Which network addresses a probe may reach without a person: judged by address, not spelling.

`parse_host` reads every spelling a URL host can take (`169.254.169.254.`, `2852039166`,
`0xa9fea9fe`, `0251.0376.0251.0376`, `169.254.43518`, `[::ffff:169.254.169.254]`,
`[fe80::1%eth0]`) into an `ipaddress` object the way inet_aton and URL parsers do.
`address_problem` says why an address needs a person: cloud metadata, link-local,
unspecified, multicast or broadcast, or a loopback port where an admin API listens.
"""

from __future__ import annotations

import ipaddress
import re

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud metadata and instance services hand out credentials.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean …
        "169.254.170.2",  # AWS ECS task credentials
        "169.254.169.253",  # AWS DNS / time
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "fd00:ec2::253",
        "100.100.100.200",  # Alibaba Cloud
        "168.63.129.16",  # Azure wire server
        "192.0.0.192",  # Oracle Cloud
    )
)
METADATA_NAMES = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "metadata.azure.com",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.tencentyun.com",
        "metadata.platformequinix.com",
    }
)
# Loopback ports where admin APIs usually listen (container runtimes, orchestrators,
# secret stores, proxies' admin endpoints): reaching them can change or reveal the host.
LOOPBACK_ADMIN_PORTS = frozenset(
    {
        2375,  # Docker API
        2376,
        2379,  # etcd
        2380,
        4646,  # Nomad
        6443,  # Kubernetes API
        8200,  # Vault
        8500,  # Consul
        9901,  # Envoy admin
        15000,  # Envoy (Istio) admin
        19000,  # Consul Envoy admin
        2019,  # Caddy admin
        10248,  # kubelet
        10249,  # kube-proxy
        10250,
        10255,
        10256,
        10257,  # kube-controller-manager
        10259,  # kube-scheduler
        4194,  # cAdvisor
        9090,  # Prometheus admin API (lifecycle) when enabled
        5555,  # Android debug bridge
        6000,  # X11
    }
)
_LINK_LOCAL_V4 = ipaddress.ip_network("169.254.0.0/16")
_LINK_LOCAL_V6 = ipaddress.ip_network("fe80::/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_PART = re.compile(r"^(0[xX][0-9a-fA-F]*|0[0-7]*|[1-9][0-9]*)$")


def normalize_host(host: str) -> str:
    """Lower case, brackets and trailing dots gone, IPv6 zone removed."""
    host = host.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    host = host.split("%", 1)[0]
    return host.rstrip(".")


def _inet_aton(host: str) -> ipaddress.IPv4Address | None:
    """IPv4 as inet_aton reads it: 1 to 4 parts, each decimal, octal (0…) or hex (0x…)."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4 or not all(_PART.match(p) for p in parts):
        return None
    numbers = [_number(p) for p in parts]
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(parts)):
        return None
    value = 0
    for n in head:
        value = value * 256 + n
    value = value * 256 ** (5 - len(parts)) + last
    return ipaddress.IPv4Address(value)


def _number(part: str) -> int:
    if part[:2].lower() == "0x":
        return int(part[2:] or "0", 16)
    if part.startswith("0") and len(part) > 1:
        return int(part, 8)
    return int(part)


def parse_host(host: str) -> IPAddress | None:
    """The address a host spelling means (IPv4-mapped IPv6 as its IPv4), or None for a name."""
    name = normalize_host(host)
    if not name:
        return None
    try:
        address: IPAddress = ipaddress.ip_address(name)
    except ValueError:
        address_v4 = _inet_aton(name)
        if address_v4 is None:
            return None
        address = address_v4
    return embedded_ipv4(address)


def embedded_ipv4(address: IPAddress) -> IPAddress:
    """The IPv4 address inside an IPv4-mapped, -compatible, NAT64 or 6to4 IPv6 address."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        packed = int(address)
        if packed >> 32 == 0 and packed > 1:  # ::a.b.c.d (deprecated IPv4-compatible)
            return ipaddress.IPv4Address(packed)
    return address


def address_problem(address: IPAddress, port: int | None = None) -> str | None:
    """Why reaching `address` (on `port`) needs a person, or None when a probe may go there."""
    address = embedded_ipv4(address)
    if address in METADATA_ADDRESSES:
        return f"{address} is a cloud metadata address (it hands out credentials)"
    if address in _LINK_LOCAL_V4 or address in _LINK_LOCAL_V6:
        return f"{address} is link-local (where metadata and host services live)"
    if address.is_unspecified:
        return f"{address} is unspecified (it reaches this host's every interface)"
    if address.is_multicast or (
        isinstance(address, ipaddress.IPv4Address)
        and address == ipaddress.IPv4Address("255.255.255.255")
    ):
        return f"{address} is multicast or broadcast"
    if address.is_loopback and port in LOOPBACK_ADMIN_PORTS:
        return f"port {port} on loopback is an admin API"
    return None


def host_problem(host: str, port: int | None = None) -> str | None:
    """Why a URL's host needs a person, judged from its spelling alone (no DNS)."""
    name = normalize_host(host)
    if name in METADATA_NAMES or name.endswith(".metadata.google.internal"):
        return f"{host} is a cloud metadata name"
    address = parse_host(host)
    if address is None:
        if name == "localhost" or name.endswith(".localhost"):
            return address_problem(ipaddress.ip_address("127.0.0.1"), port)
        return None
    return address_problem(address, port)
