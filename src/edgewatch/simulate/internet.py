"""The world outside the cluster: public DNS names, their addresses, and attacker infrastructure.

Legitimate names resolve to addresses in their operators' real ranges so that IP
classification (public vs private, ASN lookups) behaves as it would on real data.
Attacker infrastructure is split in two on purpose:

* names an attacker *resolves* (mining pools, the DNS tunnel domain) live in
  :data:`RECORDS` like any other name, so DNS-to-connection correlation works on them;
* addresses an attacker connects to *without* DNS (payload hosts, reverse shells, C2
  beacons) are in :data:`ATTACKER_IPS` and appear in no DNS answer anywhere, which is
  exactly what the ``c2-ip`` hunt looks for.

The attacker addresses are synthetic picks from large VPS provider ranges; they are
not indicators of compromise. The tunnel domain uses the reserved ``.example`` TLD.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Record:
    """What the upstream resolver answers for a name.

    ``cnames`` CNAME records precede the addresses in the answer section; IG counts
    them in ``num_answers`` but lists only A/AAAA data in ``addresses``. ``https`` is
    whether the name has an HTTPS (type 65) record.
    """

    v4: tuple[str, ...]
    v6: tuple[str, ...] = ()
    cnames: int = 0
    ttl_s: int = 300
    https: bool = False


#: Public names workloads resolve, with a trailing dot as IG prints them.
RECORDS: dict[str, Record] = {
    "api.github.com.": Record(("140.82.121.6", "140.82.121.5"), ttl_s=60),
    "objects.githubusercontent.com.": Record(
        ("185.199.108.133", "185.199.109.133", "185.199.110.133", "185.199.111.133"),
        ("2606:50c0:8000::154", "2606:50c0:8001::154"),
        ttl_s=300,
    ),
    "pypi.org.": Record(
        ("151.101.0.223", "151.101.64.223", "151.101.128.223", "151.101.192.223"),
        ("2a04:4e42::223", "2a04:4e42:200::223"),
        ttl_s=300,
        https=True,
    ),
    "api.stripe.com.": Record(("54.187.174.169", "54.187.205.235", "54.187.216.72"), ttl_s=60),
    "login.microsoftonline.com.": Record(
        ("20.190.159.2", "40.126.31.67", "20.190.159.64", "40.126.31.69"),
        cnames=3,
        ttl_s=300,
    ),
    "edgeingeststore.blob.core.windows.net.": Record(("20.60.223.36",), cnames=2, ttl_s=60),
    "6f1c2b7e-3d4a-4c59-9e8f-0a1b2c3d4e5f.ods.opinsights.azure.com.": Record(
        ("20.50.65.82",), cnames=2, ttl_s=300
    ),
    "factory-hub-01.azure-devices.net.": Record(("20.103.85.33",), cnames=2, ttl_s=300),
    "pg-payments-weu.postgres.database.azure.com.": Record(("20.50.2.29",), cnames=2, ttl_s=30),
    "mcr.microsoft.com.": Record(("204.79.197.219",), cnames=2, ttl_s=300, https=True),
    # Mining pools: resolved by the miner scenario only.
    "pool.supportxmr.com.": Record(("141.94.96.71", "141.95.72.59", "51.255.34.118"), ttl_s=60),
    "xmr-eu1.nanopool.org.": Record(("51.68.190.80", "51.195.43.13"), ttl_s=60),
}

#: Names that do not exist (NXDOMAIN from upstream).
NXDOMAIN: frozenset[str] = frozenset(
    {"legacy-cdn.shop.example.", "telemetry.old-plc-vendor.example.", "recommendations."}
)

#: Azure's virtual DNS server, CoreDNS' upstream in this cluster.
UPSTREAM_DNS = "168.63.129.16"

#: The attacker's DNS tunnel zone (dns-tunnel scenario).
TUNNEL_DOMAIN = "cdn-sync-update.example."

#: Addresses attackers connect to without resolving a name.
ATTACKER_IPS: dict[str, str] = {
    "payload": "5.161.73.144",
    "reverse_shell": "167.99.124.201",
    "c2": "51.75.64.23",
    "miner_loader": "95.216.37.118",
}

#: Mining pools: name -> (port, uses TLS so trace_sni sees the name).
MINING_POOLS: dict[str, tuple[int, bool]] = {
    "pool.supportxmr.com.": (3333, False),
    "xmr-eu1.nanopool.org.": (14444, True),
}

#: LAN clients of the ingress (operators' workstations, HMI panels) and the PLCs.
LAN_CLIENTS: tuple[str, ...] = tuple(f"192.168.20.{i}" for i in (14, 15, 21, 37, 52, 88))
PLCS: tuple[str, ...] = ("192.168.50.21", "192.168.50.22", "192.168.50.23", "192.168.50.31")
