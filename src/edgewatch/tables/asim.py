"""The ASIM layout: Sentinel's normalized tables, so its built-in ASIM content sees IG data.

Which table each gadget lands in, and why:

* ``tcp`` -> ``ASimNetworkSessionLogs``, ``EventType`` ``EndpointNetworkSession`` (IG
  reports from one end of the connection, not from a device in the path).
* ``sni`` -> ``ASimNetworkSessionLogs`` too, as a TLS session
  (``NetworkApplicationProtocol`` ``TLS``, the server name in ``DstHostname``/``DstFQDN``).
  Not ``ASimWebSessionLogs``: that schema describes HTTP, and makes the HTTP status code
  (``EventResultDetails``) and the URL mandatory, neither of which a TLS ClientHello has;
  it may carry MQTT, OPC UA or database traffic as well as HTTPS. IG's trace_sni reports
  no addresses and no direction (its socket filter sees ClientHellos the pod sends and
  ones it receives), so ``NetworkDirection`` is ``NA``, the address fields stay empty and
  the workload and process go to ``AdditionalFields``. The name is also put in
  ``DstHostname``, although ASIM asks for ``DstIpAddr`` whenever ``DstHostname`` is set:
  ``_Im_NetworkSession(hostname_has_any=…)`` and the ``Hostname`` alias only look at
  ``DstHostname``, and finding sessions by server name is what SNI data is for.
* ``dns`` -> ``ASimDnsActivityLogs``, ``EventType`` ``Query`` (IG does not report the
  opcode; trace_dns decodes standard queries), ``EventSubType`` ``request``/``response``.
* ``exec`` -> ``ASimProcessEventLogs``, ``EventType`` ``ProcessCreated``.
* ``seccomp`` has no ASIM schema: a seccomp verdict is neither a process, file, network
  nor audit (configuration change) event. It keeps its custom table, as do ``open``,
  ``bind``, ``signal``, ``capabilities`` and ``oomkill``, through :class:`CustomLayout`.

Records hold exactly columns of the target table (the table reference lists them): a DCR
transformation must output the table's schema. ``EventSchema``, ``Src``/``Dst`` (network
sessions), ``Dvc`` (process events) and the aliases are not columns of these tables; the
``_ASim_*_Native`` parsers add them at query time (``EventSchema`` as a constant, ``Dvc``,
``Src`` and ``Dst`` by coalescing the hostname/IP/id fields filled here,
``DnsResponseCodeName`` from ``EventResultDetails``). The native DNS parser also resets
``EventStartTime``/``EventEndTime`` to ``TimeGenerated``.

``EventVendor`` is "Inspektor Gadget", like ``EventProduct``: IG is a vendor-neutral CNCF
project whose code belongs to "The Inspektor Gadget authors", not a Microsoft product
(although Microsoft engineers maintain it), so "Microsoft" would mislead anyone who
filters or trusts data by vendor. It is one constant (:data:`EVENT_VENDOR`) to change.

Kubernetes context has no ASIM columns (there is no ``DvcContainerId``); it goes to
``AdditionalFields`` as ``Namespace``, ``PodName``, ``ContainerName``, ``ContainerId``,
``ContainerImage``, ``PodLabels``, ``OwnerKind``, ``OwnerName``, ``HostNetwork`` and
``Gadget`` (empty values left out). That dict is built once per container and shared
by its records: treat records as read-only.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from operator import attrgetter
from typing import Any

import msgspec

from edgewatch.events.base import Event
from edgewatch.events.dns import DnsEvent
from edgewatch.events.exec import ExecEvent
from edgewatch.events.sni import SniEvent
from edgewatch.events.tcp import TcpEvent
from edgewatch.tables.custom import CustomLayout, gadget_name, routed_families
from edgewatch.tables.schema import (
    AGGREGATE_FIELDS,
    CONTEXT_KEY_FIELDS,
    USER_ID_TYPE,
    USERNAME_TYPE,
    Column,
    StreamSpec,
    encode_records,
    format_ns,
    group_by_type,
    id_fields,
    id_seed,
    merge_columns,
    second_prefix,
)

EVENT_PRODUCT = "Inspektor Gadget"
EVENT_VENDOR = "Inspektor Gadget"
#: The schema versions documented by Microsoft when these mappings were written.
SCHEMA_VERSIONS: Mapping[str, str] = {
    "NetworkSession": "0.2.7",
    "Dns": "0.1.7",
    "ProcessEvent": "0.1.4",
}
#: IG runs on Linux nodes only.
DVC_OS = "Linux"
SEVERITY = "Informational"

#: ASIM schema and table per gadget family routed to ASIM.
ASIM_SCHEMAS: Mapping[str, str] = {
    "tcp": "NetworkSession",
    "sni": "NetworkSession",
    "dns": "Dns",
    "exec": "ProcessEvent",
}
ASIM_TABLES: Mapping[str, str] = {
    "NetworkSession": "ASimNetworkSessionLogs",
    "Dns": "ASimDnsActivityLogs",
    "ProcessEvent": "ASimProcessEventLogs",
}

#: errno of a failed connect -> the NetworkSession schema's EventResultDetails values.
CONNECT_ERRORS: Mapping[str, str] = {
    "ECONNREFUSED": "Reset",
    "ECONNRESET": "Reset",
    "ECONNABORTED": "Terminated",
    "ETIMEDOUT": "Timeout",
    "EHOSTUNREACH": "Routing issue",
    "ENETUNREACH": "Routing issue",
    "ENETDOWN": "Routing issue",
    "EHOSTDOWN": "Routing issue",
    "EAGAIN": "Transient error",
    "EINTR": "Transient error",
}

#: DNS response codes (IANA "DNS RCODEs") by number; IG prints its own names or digits.
RCODE_NAMES: Mapping[int, str] = {
    0: "NOERROR",
    1: "FORMERR",
    2: "SERVFAIL",
    3: "NXDOMAIN",
    4: "NOTIMP",
    5: "REFUSED",
    6: "YXDOMAIN",
    7: "YXRRSET",
    8: "NXRRSET",
    9: "NOTAUTH",
    10: "NOTZONE",
    11: "DSOTYPENI",
    16: "BADVERS",
    17: "BADKEY",
    18: "BADTIME",
    19: "BADMODE",
    20: "BADNAME",
    21: "BADALG",
    22: "BADTRUNC",
    23: "BADCOOKIE",
}

#: DNS resource record types (IANA) by number. IG names only some and prints others as
#: digits ("65"); ASIM wants ``ANY`` for 255 (IG says ``ALL``) and ``TYPE<n>`` otherwise.
QTYPE_NAMES: Mapping[int, str] = {
    1: "A",
    2: "NS",
    5: "CNAME",
    6: "SOA",
    11: "WKS",
    12: "PTR",
    13: "HINFO",
    14: "MINFO",
    15: "MX",
    16: "TXT",
    17: "RP",
    18: "AFSDB",
    24: "SIG",
    25: "KEY",
    28: "AAAA",
    29: "LOC",
    33: "SRV",
    35: "NAPTR",
    36: "KX",
    37: "CERT",
    39: "DNAME",
    41: "OPT",
    42: "APL",
    43: "DS",
    44: "SSHFP",
    45: "IPSECKEY",
    46: "RRSIG",
    47: "NSEC",
    48: "DNSKEY",
    49: "DHCID",
    50: "NSEC3",
    51: "NSEC3PARAM",
    52: "TLSA",
    53: "SMIMEA",
    55: "HIP",
    59: "CDS",
    60: "CDNSKEY",
    61: "OPENPGPKEY",
    62: "CSYNC",
    63: "ZONEMD",
    64: "SVCB",
    65: "HTTPS",
    99: "SPF",
    108: "EUI48",
    109: "EUI64",
    249: "TKEY",
    250: "TSIG",
    251: "IXFR",
    252: "AXFR",
    255: "ANY",
    256: "URI",
    257: "CAA",
}

IP_VERSIONS: Mapping[int, str] = {4: "IPv4", 6: "IPv6"}
LOGIN_UNSET = 4294967295  # audit loginuid/sessionid "not set"

# -- columns, per table as the Azure Monitor table reference types them ------------------

_EVENT: tuple[Column, ...] = (
    ("TimeGenerated", "datetime"),
    ("EventCount", "int"),
    ("EventStartTime", "datetime"),
    ("EventEndTime", "datetime"),
    ("EventType", "string"),
    ("EventSubType", "string"),
    ("EventResult", "string"),
    ("EventResultDetails", "string"),
    ("EventOriginalType", "string"),
    ("EventOriginalUid", "string"),
    ("EventSeverity", "string"),
    ("EventProduct", "string"),
    ("EventVendor", "string"),
    ("EventSchemaVersion", "string"),
    ("DvcHostname", "string"),
    ("DvcOs", "string"),
    ("AdditionalFields", "dynamic"),
)

_ENDPOINTS: tuple[Column, ...] = (
    ("SrcIpAddr", "string"),
    ("SrcPortNumber", "int"),
    ("SrcHostname", "string"),
    ("DstIpAddr", "string"),
    ("DstPortNumber", "int"),
    ("DstHostname", "string"),
    ("NetworkProtocol", "string"),
    ("NetworkProtocolVersion", "string"),
)

_SIDE_PROCESS: tuple[str, ...] = ("AppName", "AppId", "AppType")
_SIDE_USER: tuple[str, ...] = ("Username", "UsernameType", "UserId", "UserIdType")

TCP_COLUMNS: tuple[Column, ...] = (
    *_EVENT,
    ("Dvc", "string"),
    ("EventOriginalResultDetails", "string"),
    ("NetworkDirection", "string"),
    *_ENDPOINTS,
    *((f"Src{n}", "string") for n in (*_SIDE_PROCESS, *_SIDE_USER)),
    *((f"Dst{n}", "string") for n in (*_SIDE_PROCESS, *_SIDE_USER)),
)

SNI_COLUMNS: tuple[Column, ...] = (
    *_EVENT,
    ("Dvc", "string"),
    ("NetworkDirection", "string"),
    ("NetworkProtocol", "string"),
    ("NetworkProtocolVersion", "string"),
    ("NetworkApplicationProtocol", "string"),
    ("DstHostname", "string"),
    ("DstFQDN", "string"),
    ("DstDomain", "string"),
    ("DstDomainType", "string"),
)

DNS_COLUMNS: tuple[Column, ...] = (
    *_EVENT,
    ("Dvc", "string"),
    *_ENDPOINTS,
    ("DnsQuery", "string"),
    ("DnsQueryType", "int"),
    ("DnsQueryTypeName", "string"),
    ("DnsResponseCode", "int"),
    ("DnsResponseName", "string"),
    ("DnsNetworkDuration", "int"),
    ("DnsFlagsRecursionDesired", "boolean"),
    ("DnsFlagsRecursionAvailable", "boolean"),
    ("DnsFlagsTruncated", "boolean"),
    ("TransactionIdHex", "string"),
    ("SrcProcessName", "string"),
    ("SrcProcessId", "string"),
    *((f"Src{n}", "string") for n in _SIDE_USER),
)

EXEC_COLUMNS: tuple[Column, ...] = (
    *_EVENT,
    ("EventOriginalResultDetails", "string"),
    ("TargetProcessName", "string"),
    ("TargetProcessFilename", "string"),
    ("TargetProcessId", "string"),
    ("TargetProcessCommandLine", "string"),
    ("TargetProcessCurrentDirectory", "string"),
    ("TargetProcessCreationTime", "datetime"),
    *((f"Target{n}", "string") for n in _SIDE_USER),
    ("ActingProcessName", "string"),
    ("ActingProcessFilename", "string"),
    ("ActingProcessId", "string"),
    *((f"Actor{n}", "string") for n in _SIDE_USER),
    ("ActorSessionId", "string"),
)

#: Record columns per family.
FAMILY_COLUMNS: Mapping[str, tuple[Column, ...]] = {
    "tcp": TCP_COLUMNS,
    "sni": SNI_COLUMNS,
    "dns": DNS_COLUMNS,
    "exec": EXEC_COLUMNS,
}

#: Fields the ``_ASim_*_Native`` parsers add when a table is queried, and how. They are
#: not columns, so records do not carry them.
PARSER_SUPPLIED: Mapping[str, Mapping[str, str]] = {
    "NetworkSession": {
        "EventSchema": "NetworkSession",
        "Dvc": "coalesce(DvcFQDN, DvcHostname, DvcIpAddr, DvcId, _ResourceId, Vendor/Product)",
        "Src": "coalesce(SrcFQDN, SrcHostname, SrcIpAddr, SrcDvcId)",
        "Dst": "coalesce(DstFQDN, DstHostname, DstIpAddr, DstDvcId)",
    },
    "Dns": {
        "EventSchema": "Dns",
        "Src": "coalesce(SrcFQDN, SrcHostname, SrcIpAddr, SrcDvcId)",
        "Dst": "coalesce(DstFQDN, DstHostname, DstIpAddr, DstDvcId)",
        "DnsResponseCodeName": "EventResultDetails",
    },
    "ProcessEvent": {
        "EventSchema": "ProcessEvent",
        "Dvc": "coalesce(DvcFQDN, DvcHostname, DvcIpAddr, DvcId, _ResourceId)",
    },
}

# -- shared pieces of the converters -----------------------------------------------------

_context_key = attrgetter(*CONTEXT_KEY_FIELDS)
_encode = msgspec.json.Encoder().encode

#: Context fields copied into AdditionalFields, under the custom tables' column names.
_ADDITIONAL: tuple[tuple[str, str], ...] = (
    ("namespace", "Namespace"),
    ("pod", "PodName"),
    ("container", "ContainerName"),
    ("container_id", "ContainerId"),
    ("image", "ContainerImage"),
    ("pod_labels", "PodLabels"),
    ("owner_kind", "OwnerKind"),
    ("owner_name", "OwnerName"),
    ("host_network", "HostNetwork"),
)


def _additional(event: Event, gadget: str) -> dict[str, Any]:
    bag: dict[str, Any] = {"Gadget": gadget}
    for field, key in _ADDITIONAL:
        value = getattr(event, field)
        if value:
            bag[key] = value
    return bag


def _local_host(event: Event) -> str:
    """The name of the workload's end of a connection: the pod, or the node it shares."""
    if event.pod and not event.host_network:
        return event.pod
    return event.node


@dataclass(frozen=True)
class _Template:
    record: dict[str, Any]
    local_host: str
    additional: dict[str, Any]
    #: the event-id hash fed the container's part (see schema.event_id)
    seed: Any


def _template_factory(
    family: str, columns: Sequence[Column], constants: Mapping[str, Any]
) -> Callable[[Event], _Template]:
    """Per container: a record with every column present and the per-container ones set."""
    keys = [name for name, _ in columns]
    gadget = gadget_name(family)
    has_dvc = "Dvc" in keys
    strings = {name for name, typ in columns if typ == "string"}

    def template(event: Event) -> _Template:
        record: dict[str, Any] = dict.fromkeys(keys)
        for name in strings:
            record[name] = ""
        record.update(constants)
        record["EventCount"] = 1
        record["EventProduct"] = EVENT_PRODUCT
        record["EventVendor"] = EVENT_VENDOR
        record["EventSchemaVersion"] = SCHEMA_VERSIONS[ASIM_SCHEMAS[family]]
        record["EventSeverity"] = SEVERITY
        record["DvcHostname"] = event.node
        record["DvcOs"] = DVC_OS
        if has_dvc:
            record["Dvc"] = event.node
        additional = _additional(event, gadget)
        record["AdditionalFields"] = additional
        seed = id_seed(gadget, event.node, event.container_id)
        return _Template(record, _local_host(event), additional, seed)

    return template


IdGetter = Callable[[Any], tuple[Any, ...]]


def _ids(event_type: type[Event]) -> IdGetter:
    """The values :func:`event_id` hashes after the envelope, read in C."""
    fields = id_fields(event_type)
    getter = attrgetter(*fields)
    if len(fields) == 1:
        return lambda e: (getter(e),)
    return getter  # type: ignore[return-value]


def _filename(path: str) -> str:
    return posixpath.basename(path) if path else ""


# -- converters ----------------------------------------------------------------------
# They share one pattern (see custom.py for why): a per-container template copied per
# event, timestamps formatted per second, the event id inlined from schema.event_id
# (the container's part of the hash computed once, in the template).

_tcp_template = _template_factory("tcp", TCP_COLUMNS, {"EventType": "EndpointNetworkSession"})


def _convert_tcp(events: list[Any], ids: IdGetter) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    append = out.append
    templates: dict[tuple[Any, ...], _Template] = {}
    known = templates.get
    second_start = -2_000_000_000
    prefix = ""
    for e in events:
        key = _context_key(e)
        tpl = known(key)
        if tpl is None:
            tpl = templates[key] = _tcp_template(e)
        r = tpl.record.copy()
        ns = e.time_ns
        off = ns - second_start
        if off < 0 or off >= 1_000_000_000:
            second = ns // 1_000_000_000
            second_start = second * 1_000_000_000
            off = ns - second_start
            prefix = second_prefix(second)
        t = prefix + str(off // 100 + 10_000_000)[1:] + "Z"
        r["TimeGenerated"] = t
        r["EventStartTime"] = t
        r["EventEndTime"] = t
        kind = e.type
        error = e.error
        src, sport, dst, dport = e.src_addr, e.src_port, e.dst_addr, e.dst_port
        r["EventOriginalType"] = kind
        if error:
            r["EventResult"] = "Failure"
            r["EventResultDetails"] = CONNECT_ERRORS.get(error, "Unknown")
            r["EventOriginalResultDetails"] = error
        else:
            r["EventResult"] = "Success"
        r["NetworkProtocol"] = e.proto
        r["NetworkProtocolVersion"] = IP_VERSIONS.get(e.ip_version, "")
        user = e.user
        # ASIM's Src is whoever opened the session: IG's remote end for an accept; for
        # connect and close, IG's src is the local end (a close does not say who opened).
        if kind == "accept":
            r["EventSubType"] = "Start"
            r["NetworkDirection"] = "Inbound"
            r["SrcIpAddr"] = dst
            r["SrcPortNumber"] = dport
            r["DstIpAddr"] = src
            r["DstPortNumber"] = sport
            r["DstHostname"] = tpl.local_host
            r["DstAppName"] = e.comm
            r["DstAppId"] = str(e.pid)
            r["DstAppType"] = "Process"
            if user:
                r["DstUsername"] = user
                r["DstUsernameType"] = USERNAME_TYPE
            r["DstUserId"] = str(e.uid)
            r["DstUserIdType"] = USER_ID_TYPE
        else:
            if kind == "close":
                r["EventSubType"] = "End"
                r["NetworkDirection"] = "NA"
            else:
                r["EventSubType"] = "Start"
                local = dst.startswith("127.") or dst == "::1"
                r["NetworkDirection"] = "Local" if local else "Outbound"
            r["SrcIpAddr"] = src
            r["SrcPortNumber"] = sport
            r["DstIpAddr"] = dst
            r["DstPortNumber"] = dport
            r["SrcHostname"] = tpl.local_host
            r["SrcAppName"] = e.comm
            r["SrcAppId"] = str(e.pid)
            r["SrcAppType"] = "Process"
            if user:
                r["SrcUsername"] = user
                r["SrcUsernameType"] = USERNAME_TYPE
            r["SrcUserId"] = str(e.uid)
            r["SrcUserIdType"] = USER_ID_TYPE
        h = tpl.seed.copy()
        h.update(_encode((ns, ids(e))))
        r["EventOriginalUid"] = h.hexdigest()
        append(r)
    return out


_sni_template = _template_factory(
    "sni",
    SNI_COLUMNS,
    {
        "EventType": "EndpointNetworkSession",
        "EventSubType": "Start",
        "EventResult": "Success",
        "NetworkDirection": "NA",
        "NetworkProtocol": "TCP",
        # trace_sni's socket filter only parses IPv4 frames.
        "NetworkProtocolVersion": "IPv4",
        "NetworkApplicationProtocol": "TLS",
    },
)


def _convert_sni(events: list[Any], ids: IdGetter) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    templates: dict[tuple[Any, ...], _Template] = {}
    for e in events:
        key = _context_key(e)
        tpl = templates.get(key)
        if tpl is None:
            tpl = templates[key] = _sni_template(e)
        r = tpl.record.copy()
        t = format_ns(e.time_ns)
        r["TimeGenerated"] = t
        r["EventStartTime"] = t
        r["EventEndTime"] = t
        name = e.name
        r["DstHostname"] = name
        r["DstFQDN"] = name
        _, dot, domain = name.partition(".")
        if dot and domain:
            r["DstDomain"] = domain
            r["DstDomainType"] = "FQDN"
        if e.pid:
            # Whose end of the session the process is, IG does not say.
            r["AdditionalFields"] = {
                **tpl.additional,
                "ProcessId": e.pid,
                "ProcessName": e.comm,
                "Username": e.user,
            }
        h = tpl.seed.copy()
        h.update(_encode((e.time_ns, ids(e))))
        r["EventOriginalUid"] = h.hexdigest()
        out.append(r)
    return out


_dns_template = _template_factory("dns", DNS_COLUMNS, {"EventType": "Query"})


def _convert_dns(events: list[Any], ids: IdGetter) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    append = out.append
    templates: dict[tuple[Any, ...], _Template] = {}
    known = templates.get
    second_start = -2_000_000_000
    prefix = ""
    for e in events:
        key = _context_key(e)
        tpl = known(key)
        if tpl is None:
            tpl = templates[key] = _dns_template(e)
        r = tpl.record.copy()
        ns = e.time_ns
        off = ns - second_start
        if off < 0 or off >= 1_000_000_000:
            second = ns // 1_000_000_000
            second_start = second * 1_000_000_000
            off = ns - second_start
            prefix = second_prefix(second)
        t = prefix + str(off // 100 + 10_000_000)[1:] + "Z"
        r["TimeGenerated"] = t
        r["EventStartTime"] = t
        r["EventEndTime"] = t
        query = e.qr != "R"
        r["EventOriginalType"] = e.qr
        if query:
            r["EventSubType"] = "request"
            r["EventResult"] = "NA"
            r["EventResultDetails"] = "NA"
            client, cport, server, sport = e.src_addr, e.src_port, e.dst_addr, e.dst_port
        else:
            rcode = e.rcode_raw
            r["EventSubType"] = "response"
            r["EventResult"] = "Success" if rcode == 0 else "Failure"
            r["EventResultDetails"] = RCODE_NAMES.get(rcode) or str(rcode)
            r["DnsResponseCode"] = rcode
            if e.addresses:
                r["DnsResponseName"] = ",".join(e.addresses)
            latency = e.latency_ns
            if latency:
                r["DnsNetworkDuration"] = latency // 1_000_000
            client, cport, server, sport = e.dst_addr, e.dst_port, e.src_addr, e.src_port
        r["SrcIpAddr"] = client
        r["SrcPortNumber"] = cport
        r["DstIpAddr"] = server
        r["DstPortNumber"] = sport
        # The workload is the client when it sends the query or receives the response.
        pkt = e.pkt_type
        local_client = query if pkt == "OUTGOING" else (not query if pkt == "HOST" else True)
        if local_client:
            r["SrcHostname"] = tpl.local_host
            # ASIM: "store the relevant IP address" when the server has no name here.
            r["DstHostname"] = server
            pid = e.pid
            if pid:
                r["SrcProcessName"] = e.exepath or e.comm
                r["SrcProcessId"] = str(pid)
                user = e.user
                if user:
                    r["SrcUsername"] = user
                    r["SrcUsernameType"] = USERNAME_TYPE
                r["SrcUserId"] = str(e.uid)
                r["SrcUserIdType"] = USER_ID_TYPE
        else:
            r["DstHostname"] = tpl.local_host
        name = e.name
        r["DnsQuery"] = name[:-1] if len(name) > 1 and name[-1] == "." else name
        qtype = e.qtype_raw
        r["DnsQueryType"] = qtype
        r["DnsQueryTypeName"] = QTYPE_NAMES.get(qtype) or f"TYPE{qtype}"
        r["DnsFlagsRecursionDesired"] = e.rd
        r["DnsFlagsRecursionAvailable"] = e.ra
        r["DnsFlagsTruncated"] = e.tc
        r["TransactionIdHex"] = e.dns_id
        r["NetworkProtocol"] = e.proto
        r["NetworkProtocolVersion"] = IP_VERSIONS.get(e.ip_version, "")
        h = tpl.seed.copy()
        h.update(_encode((ns, ids(e))))
        r["EventOriginalUid"] = h.hexdigest()
        append(r)
    return out


_exec_template = _template_factory("exec", EXEC_COLUMNS, {"EventType": "ProcessCreated"})


def _convert_exec(events: list[Any], ids: IdGetter) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    templates: dict[tuple[Any, ...], _Template] = {}
    for e in events:
        key = _context_key(e)
        tpl = templates.get(key)
        if tpl is None:
            tpl = templates[key] = _exec_template(e)
        r = tpl.record.copy()
        t = format_ns(e.time_ns)
        r["TimeGenerated"] = t
        r["EventStartTime"] = t
        r["EventEndTime"] = t
        error = e.error
        if error:
            r["EventResult"] = "Failure"
            r["EventResultDetails"] = error
            r["EventOriginalResultDetails"] = str(e.error_raw)
        else:
            r["EventResult"] = "Success"
        exepath = e.exepath
        r["TargetProcessName"] = exepath or e.comm
        r["TargetProcessFilename"] = _filename(exepath) or e.comm
        r["TargetProcessId"] = str(e.pid)
        r["TargetProcessCommandLine"] = e.cmdline
        r["TargetProcessCurrentDirectory"] = e.cwd
        r["TargetProcessCreationTime"] = t
        user = e.user
        if user:
            r["TargetUsername"] = user
            r["TargetUsernameType"] = USERNAME_TYPE
        r["TargetUserId"] = str(e.uid)
        r["TargetUserIdType"] = USER_ID_TYPE
        # The acting process is the one that forked the new program: IG's parent.
        parent = e.parent_exepath
        if e.ppid:
            r["ActingProcessName"] = parent or e.pcomm
            r["ActingProcessFilename"] = _filename(parent) or e.pcomm
            r["ActingProcessId"] = str(e.ppid)
        # The actor is the audit login user when the kernel knows one, otherwise whoever
        # the new process runs as (IG does not report the parent's credentials).
        if e.loginuid != LOGIN_UNSET:
            actor, actor_id = e.loginuser, str(e.loginuid)
        else:
            actor, actor_id = user, str(e.uid)
        if actor:
            r["ActorUsername"] = actor
            r["ActorUsernameType"] = USERNAME_TYPE
        r["ActorUserId"] = actor_id
        r["ActorUserIdType"] = USER_ID_TYPE
        if e.sessionid != LOGIN_UNSET:
            r["ActorSessionId"] = str(e.sessionid)
        extra: dict[str, Any] = {}
        if e.upper_layer:
            extra["UpperLayer"] = True
        if e.tty:
            extra["Tty"] = e.tty
        if e.ppid and parent:
            extra["ParentExepath"] = parent
        if extra:
            r["AdditionalFields"] = {**tpl.additional, **extra}
        h = tpl.seed.copy()
        h.update(_encode((e.time_ns, ids(e))))
        r["EventOriginalUid"] = h.hexdigest()
        out.append(r)
    return out


Converter = Callable[[list[Any], IdGetter], list[dict[str, Any]]]
_CONVERTERS: Mapping[type[Event], tuple[str, Converter]] = {
    TcpEvent: ("tcp", _convert_tcp),
    SniEvent: ("sni", _convert_sni),
    DnsEvent: ("dns", _convert_dns),
    ExecEvent: ("exec", _convert_exec),
}


@dataclass(frozen=True)
class _Mapping:
    family: str
    convert: Converter
    ids: IdGetter
    aggregated: tuple[str, ...]


@cache
def _mapping_for(event_type: type[Event]) -> _Mapping | None:
    """The converter for an event type or the type it extends (an aggregating stage's)."""
    for base in event_type.__mro__:
        found = _CONVERTERS.get(base)
        if found is not None:
            aggregated = tuple(f for f in AGGREGATE_FIELDS if f in event_type.__struct_fields__)
            return _Mapping(found[0], found[1], _ids(event_type), aggregated)
    return None


def _apply_aggregation(
    events: list[Any], records: list[dict[str, Any]], fields: Sequence[str]
) -> None:
    """Counts and time spans of aggregated events onto ASIM's aggregation columns."""
    for e, r in zip(events, records, strict=True):
        if "event_count" in fields:
            r["EventCount"] = e.event_count
        if "event_start_ns" in fields and e.event_start_ns > 0:
            r["EventStartTime"] = format_ns(e.event_start_ns)
        if "event_end_ns" in fields and e.event_end_ns > 0:
            r["EventEndTime"] = format_ns(e.event_end_ns)


class AsimLayout:
    """ASIM tables for tcp, sni, dns and exec; the custom tables for every other gadget.

    ``table_names`` renames the custom tables of the other gadgets, as for
    :class:`CustomLayout`.
    """

    name = "asim"

    def __init__(
        self,
        table_names: Mapping[str, str] | None = None,
        families: Iterable[str] | None = None,
    ) -> None:
        routed = routed_families(families)
        self._families = routed
        self._asim = tuple(f for f in routed if f in ASIM_SCHEMAS)
        fallback = tuple(f for f in routed if f not in ASIM_SCHEMAS)
        overrides = {f: t for f, t in (table_names or {}).items() if f in fallback}
        self.fallback = CustomLayout(overrides, fallback)
        self._streams = self._build_streams()

    def families(self) -> tuple[str, ...]:
        return self._families

    def is_asim(self, family: str) -> bool:
        return family in self._asim

    def schema_for(self, family: str) -> str | None:
        """The ASIM schema a family is normalized to, or None for a custom table."""
        return ASIM_SCHEMAS[family] if family in self._asim else None

    def table_for(self, family: str) -> str:
        if family in self._asim:
            return ASIM_TABLES[ASIM_SCHEMAS[family]]
        return self.fallback.table_for(family)

    def stream_for(self, family: str) -> str:
        if family in self._asim:
            return f"Custom-EdgeWatch{self.table_for(family)}"
        return self.fallback.stream_for(family)

    def output_stream_for(self, family: str) -> str:
        if family in self._asim:
            return f"Microsoft-{self.table_for(family)}"
        return self.fallback.output_stream_for(family)

    def columns(self, family: str) -> list[Column]:
        if family in self._asim:
            return list(FAMILY_COLUMNS[family])
        return self.fallback.columns(family)

    def streams(self, families: Sequence[str] | None = None) -> list[StreamSpec]:
        if families is None:
            return list(self._streams.values())
        wanted = {self.stream_for(f) for f in families}
        return [s for s in self._streams.values() if s.name in wanted]

    def _build_streams(self) -> dict[str, StreamSpec]:
        by_stream: dict[str, list[str]] = {}
        for family in self._asim:
            by_stream.setdefault(self.stream_for(family), []).append(family)
        streams: dict[str, StreamSpec] = {}
        for name, members in by_stream.items():
            streams[name] = StreamSpec(
                name=name,
                table=self.table_for(members[0]),
                output_stream=self.output_stream_for(members[0]),
                columns=tuple(merge_columns([FAMILY_COLUMNS[f] for f in members])),
                families=tuple(members),
                custom_table=False,
            )
        for spec in self.fallback.streams():
            streams[spec.name] = spec
        return streams

    def encoded(self, events: list[Event]) -> dict[str, list[bytes]]:
        """As ``records``, each record encoded as compact JSON (one C call per stream)."""
        return encode_records(self.records(events))

    def records(self, events: list[Event]) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        for event_type, group in group_by_type(events):
            mapping = _mapping_for(event_type)
            if mapping is not None and mapping.family in self._asim:
                stream = self.stream_for(mapping.family)
                converted = mapping.convert(group, mapping.ids)
                if mapping.aggregated:
                    _apply_aggregation(group, converted, mapping.aggregated)
                bucket = out.get(stream)
                if bucket is None:
                    out[stream] = converted
                else:
                    bucket.extend(converted)
                continue
            if event_type.gadget_family in self._asim:
                raise TypeError(
                    f"{event_type.__name__} is not a {event_type.gadget_family} event type "
                    "the ASIM layout can map"
                )
            for stream, converted in self.fallback.records(group).items():
                bucket = out.get(stream)
                if bucket is None:
                    out[stream] = converted
                else:
                    bucket.extend(converted)
        return out
