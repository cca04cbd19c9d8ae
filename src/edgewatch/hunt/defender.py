"""Defender XDR's ``DeviceNetworkEvents`` and ``DeviceProcessEvents`` over the store.

Advanced-hunting queries name Defender's tables and columns. These views give IG's
events those names and Defender's value conventions, so such a query runs unchanged:

* ``DeviceNetworkEvents``: a TCP connect is ``ConnectionSuccess`` (``ConnectionFailed``
  with an error), an accept ``InboundConnectionAccepted``; a DNS query
  ``DnsConnectionInspected`` (``AdditionalFields``: ``direction``, ``query``,
  ``query_type``); a TLS ClientHello ``SslConnectionInspected`` (``server_name``). IG's
  socket close has no Defender action and is left out. ``RemoteUrl`` is the name a DNS
  answer on the same node gave for the remote address (the latest one before the
  connection), or the SNI server name. The initiating process's command line, path
  and start come from its exec event (same mount namespace and pid, the latest before).
* ``DeviceProcessEvents``: each successful exec is ``ProcessCreated``; ``FolderPath`` is
  the executable's full path, as Defender writes it; the initiating process is the
  parent, described from its own exec event when the store has it.

Columns IG cannot know (hashes, file sizes, version info, SIDs, UPNs, integrity level,
token elevation, the Defender device id, remote-session fields) are present and empty:
``""`` for text, null for numbers and times. ``docs/hunting-content.md`` lists them.
``ReportId`` is the event's time in nanoseconds: unique per device in practice, as
Defender's is, but not Defender's number.

Older published queries use Defender ATP's first table and column names, which
advanced hunting kept accepting after the rename: ``NetworkCommunicationEvents`` and
``ProcessCreationEvents``, with ``EventTime``, ``ComputerName`` and ``MachineId`` for
``Timestamp``, ``DeviceName`` and ``DeviceId``. Both are offered, as views of the two
above with those three columns added.
"""

from __future__ import annotations

from edgewatch.events import sql

NETWORK = "DeviceNetworkEvents"
PROCESS = "DeviceProcessEvents"

#: The initiating process's file hashes, version info, account and token: unknown to IG.
_INITIATING_UNKNOWN = (
    "InitiatingProcessSHA1",
    "InitiatingProcessSHA256",
    "InitiatingProcessMD5",
    "InitiatingProcessVersionInfoCompanyName",
    "InitiatingProcessVersionInfoProductName",
    "InitiatingProcessVersionInfoProductVersion",
    "InitiatingProcessVersionInfoInternalFileName",
    "InitiatingProcessVersionInfoOriginalFileName",
    "InitiatingProcessVersionInfoFileDescription",
    "InitiatingProcessAccountDomain",
    "InitiatingProcessAccountSid",
    "InitiatingProcessAccountUpn",
    "InitiatingProcessAccountObjectId",
    "InitiatingProcessIntegrityLevel",
    "InitiatingProcessTokenElevation",
)
_REMOTE_SESSION_UNKNOWN = (
    "InitiatingProcessRemoteSessionDeviceName",
    "InitiatingProcessRemoteSessionIP",
    "AppGuardContainerId",
)

#: Text columns IG cannot fill, per table: present and empty.
UNKNOWN_TEXT: dict[str, tuple[str, ...]] = {
    NETWORK: ("DeviceId", *_INITIATING_UNKNOWN, *_REMOTE_SESSION_UNKNOWN),
    PROCESS: (
        "DeviceId",
        "SHA1",
        "SHA256",
        "MD5",
        "ProcessVersionInfoCompanyName",
        "ProcessVersionInfoProductName",
        "ProcessVersionInfoProductVersion",
        "ProcessVersionInfoInternalFileName",
        "ProcessVersionInfoOriginalFileName",
        "ProcessVersionInfoFileDescription",
        "ProcessIntegrityLevel",
        "ProcessTokenElevation",
        "AccountDomain",
        "AccountSid",
        "AccountUpn",
        "AccountObjectId",
        *_INITIATING_UNKNOWN,
        "InitiatingProcessSignerType",
        "InitiatingProcessSignatureStatus",
        *_REMOTE_SESSION_UNKNOWN,
    ),
}
#: Non-text columns IG cannot fill (name, DuckDB type): present and null.
UNKNOWN_OTHER: dict[str, tuple[tuple[str, str], ...]] = {
    NETWORK: (
        ("InitiatingProcessFileSize", "BIGINT"),
        ("InitiatingProcessParentCreationTime", "TIMESTAMP"),
        ("InitiatingProcessSessionId", "BIGINT"),
        ("IsInitiatingProcessRemoteSession", "BOOLEAN"),
    ),
    PROCESS: (
        ("FileSize", "BIGINT"),
        ("LogonId", "BIGINT"),
        ("InitiatingProcessFileSize", "BIGINT"),
        ("InitiatingProcessLogonId", "BIGINT"),
        ("InitiatingProcessParentCreationTime", "TIMESTAMP"),
        ("InitiatingProcessSessionId", "BIGINT"),
        ("IsInitiatingProcessRemoteSession", "BOOLEAN"),
        ("IsProcessRemoteSession", "BOOLEAN"),
        ("ProcessRemoteSessionDeviceName", "VARCHAR"),
        ("ProcessRemoteSessionIP", "VARCHAR"),
    ),
}


_PRIVATE = r"^(10\.|192\.168\.|172\.(1[6-9]|2[0-9]|3[01])\.|f[cd])"
_RESERVED = r"^(169\.254\.|fe80:|0\.|22[4-9]\.|23[0-9]\.|2[45][0-9]\.)"


def _ip_type(column: str) -> str:
    """Defender's ``LocalIPType``/``RemoteIPType`` from the address text."""
    return (
        f"CASE WHEN coalesce({column}, '') = '' THEN '' "
        f"WHEN starts_with({column}, '127.') OR {column} = '::1' THEN 'Loopback' "
        f"WHEN regexp_matches({column}, {sql.literal(_PRIVATE)}) "
        "THEN 'Private' "
        f"WHEN regexp_matches({column}, {sql.literal(_RESERVED)}) "
        "THEN 'Reserved' ELSE 'Public' END"
    )


def _basename(column: str) -> str:
    return f"regexp_extract(coalesce({column}, ''), '[^/]*$')"


def _context(alias: str) -> str:
    """``AdditionalFields``'s Kubernetes context (empties left out)."""
    items = ", ".join(
        f"struct_pack(k := '{key}', v := to_json({alias}.\"{col}\"))"
        for key, col in (
            ("Namespace", "namespace"),
            ("PodName", "pod"),
            ("ContainerName", "container"),
            ("ContainerId", "container_id"),
            ("ContainerImage", "image"),
        )
    )
    return items


def _bag(alias: str, extra: str = "") -> str:
    items = _context(alias) + (", " + extra if extra else "")
    return (
        f"CAST(to_json(map_from_entries(list_filter([{items}], lambda ew_e: ew_e.v IS NOT NULL "
        "AND ew_e.v NOT IN ('\"\"', 'null')))) AS JSON)"
    )


def _unknown(table: str) -> list[str]:
    cols = [f"'' AS {sql.col(c)}" for c in UNKNOWN_TEXT[table]]
    cols += [f"CAST(NULL AS {t}) AS {sql.col(c)}" for c, t in UNKNOWN_OTHER[table]]
    return cols


def _time(alias: str) -> str:
    return f'make_timestamp({alias}."time_ns" // 1000)'


def _device(alias: str, computer: str) -> str:
    return f"coalesce(nullif({alias}.\"node\", ''), {sql.literal(computer)})"


def network_sql(since_ns: int | None = None, computer: str = "") -> str:
    since = f' AND t."time_ns" >= {int(since_ns)}' if since_ns is not None else ""
    since_plain = f' AND "time_ns" >= {int(since_ns)}' if since_ns is not None else ""
    # DNS answers: which name each address was the answer for, on which node, when.
    dns_map = (
        'SELECT "node", unnest("addresses") AS "addr", '
        'CASE WHEN ends_with("name", \'.\') AND length("name") > 1 THEN '
        'left("name", length("name") - 1) ELSE "name" END AS "qname", "time_ns" '
        'FROM "events_dns" WHERE "qr" = \'R\' AND len("addresses") > 0'
    )
    process = (
        'SELECT "mntns_id", "pid", "time_ns", "exepath", "cmdline", "pcomm" FROM "events_exec" '
        "WHERE coalesce(\"error\", '') = ''"
    )
    common = [
        f'{_time("t")} AS "Timestamp"',
        f'{_time("t")} AS "TimeGenerated"',
        _device("t", computer) + ' AS "DeviceName"',
    ]
    proc_cols = [
        "coalesce(nullif("
        + _basename('x."exepath"')
        + ', \'\'), t."comm") AS "InitiatingProcessFileName"',
        'coalesce(x."exepath", \'\') AS "InitiatingProcessFolderPath"',
        'coalesce(x."cmdline", \'\') AS "InitiatingProcessCommandLine"',
        't."pid" AS "InitiatingProcessId"',
        f'{_time("x")} AS "InitiatingProcessCreationTime"',
        't."pcomm" AS "InitiatingProcessParentFileName"',
        't."ppid" AS "InitiatingProcessParentId"',
        't."user" AS "InitiatingProcessAccountName"',
        't."uid" AS "InitiatingProcessPosixUserId"',
    ]
    tcp = ", ".join(
        [
            *common,
            "CASE WHEN t.\"type\" = 'accept' THEN 'InboundConnectionAccepted' "
            "WHEN coalesce(t.\"error\", '') <> '' THEN 'ConnectionFailed' "
            "ELSE 'ConnectionSuccess' END AS \"ActionType\"",
            't."dst_addr" AS "RemoteIP"',
            't."dst_port" AS "RemotePort"',
            'coalesce(d."qname", \'\') AS "RemoteUrl"',
            't."src_addr" AS "LocalIP"',
            't."src_port" AS "LocalPort"',
            "CASE WHEN upper(t.\"proto\") = 'UDP' THEN 'Udp' ELSE 'Tcp' END AS \"Protocol\"",
            _ip_type('t."src_addr"') + ' AS "LocalIPType"',
            _ip_type('t."dst_addr"') + ' AS "RemoteIPType"',
            *proc_cols,
            't."time_ns" AS "ReportId"',
            f'{_bag("t")} AS "AdditionalFields"',
            *_unknown(NETWORK),
        ]
    )
    tcp_sql = (
        f'SELECT {tcp} FROM "events_tcp" t '
        f'ASOF LEFT JOIN ({dns_map}) d ON d."node" = t."node" AND d."addr" = t."dst_addr" '
        'AND t."time_ns" >= d."time_ns" '
        f'ASOF LEFT JOIN ({process}) x ON x."mntns_id" = t."mntns_id" AND x."pid" = t."pid" '
        'AND t."time_ns" >= x."time_ns" '
        f"WHERE t.\"type\" IN ('connect', 'accept'){since}"
    )
    dns_extra = (
        "struct_pack(k := 'direction', v := to_json('Outbound')), "
        "struct_pack(k := 'query', v := to_json(CASE WHEN ends_with(t.\"name\", '.') AND "
        'length(t."name") > 1 THEN left(t."name", length(t."name") - 1) ELSE t."name" END)), '
        "struct_pack(k := 'query_type', v := to_json(t.\"qtype\"))"
    )
    dns = ", ".join(
        [
            *common,
            "'DnsConnectionInspected' AS \"ActionType\"",
            't."dst_addr" AS "RemoteIP"',
            't."dst_port" AS "RemotePort"',
            "'' AS \"RemoteUrl\"",
            't."src_addr" AS "LocalIP"',
            't."src_port" AS "LocalPort"',
            "CASE WHEN upper(t.\"proto\") = 'TCP' THEN 'Tcp' ELSE 'Udp' END AS \"Protocol\"",
            _ip_type('t."src_addr"') + ' AS "LocalIPType"',
            _ip_type('t."dst_addr"') + ' AS "RemoteIPType"',
            *proc_cols,
            't."time_ns" AS "ReportId"',
            f'{_bag("t", dns_extra)} AS "AdditionalFields"',
            *_unknown(NETWORK),
        ]
    )
    dns_sql = (
        f'SELECT {dns} FROM "events_dns" t '
        f'ASOF LEFT JOIN ({process}) x ON x."mntns_id" = t."mntns_id" AND x."pid" = t."pid" '
        'AND t."time_ns" >= x."time_ns" '
        f"WHERE t.\"qr\" <> 'R'{since}"
    )
    sni_extra = (
        "struct_pack(k := 'server_name', v := to_json(t.\"name\")), "
        "struct_pack(k := 'direction', v := to_json('Outbound'))"
    )
    sni = ", ".join(
        [
            *common,
            "'SslConnectionInspected' AS \"ActionType\"",
            "'' AS \"RemoteIP\"",
            'CAST(NULL AS BIGINT) AS "RemotePort"',
            't."name" AS "RemoteUrl"',
            "'' AS \"LocalIP\"",
            'CAST(NULL AS BIGINT) AS "LocalPort"',
            "'Tcp' AS \"Protocol\"",
            "'' AS \"LocalIPType\"",
            "'' AS \"RemoteIPType\"",
            *proc_cols,
            't."time_ns" AS "ReportId"',
            f'{_bag("t", sni_extra)} AS "AdditionalFields"',
            *_unknown(NETWORK),
        ]
    )
    sni_sql = (
        f'SELECT {sni} FROM "events_sni" t '
        f'ASOF LEFT JOIN ({process}) x ON x."mntns_id" = t."mntns_id" AND x."pid" = t."pid" '
        f'AND t."time_ns" >= x."time_ns" WHERE true{since}'
    )
    del since_plain
    body = "\nUNION ALL BY NAME\n".join([tcp_sql, dns_sql, sni_sql])
    return f"CREATE OR REPLACE TEMP VIEW {sql.col(NETWORK)} AS\n{body}"


def process_sql(since_ns: int | None = None, computer: str = "") -> str:
    since = f' AND e."time_ns" >= {int(since_ns)}' if since_ns is not None else ""
    parent = (
        'SELECT "mntns_id", "pid", "time_ns", "cmdline", "pcomm", "ppid", "user" '
        "FROM \"events_exec\" WHERE coalesce(\"error\", '') = ''"
    )
    cols = ", ".join(
        [
            f'{_time("e")} AS "Timestamp"',
            f'{_time("e")} AS "TimeGenerated"',
            _device("e", computer) + ' AS "DeviceName"',
            "'ProcessCreated' AS \"ActionType\"",
            "coalesce(nullif(" + _basename('e."exepath"') + ', \'\'), e."comm") AS "FileName"',
            'coalesce(e."exepath", \'\') AS "FolderPath"',
            'e."pid" AS "ProcessId"',
            'e."cmdline" AS "ProcessCommandLine"',
            f'{_time("e")} AS "ProcessCreationTime"',
            'e."user" AS "AccountName"',
            'e."uid" AS "AccountPosixUserId"',
            "coalesce(nullif(e.\"cwd\", ''), '') AS \"ProcessCurrentWorkingDirectory\"",
            "coalesce(nullif(" + _basename('e."parent_exepath"') + ", ''), e.\"pcomm\") "
            'AS "InitiatingProcessFileName"',
            'coalesce(e."parent_exepath", \'\') AS "InitiatingProcessFolderPath"',
            'e."ppid" AS "InitiatingProcessId"',
            'coalesce(p."cmdline", \'\') AS "InitiatingProcessCommandLine"',
            f'{_time("p")} AS "InitiatingProcessCreationTime"',
            'coalesce(p."pcomm", \'\') AS "InitiatingProcessParentFileName"',
            'p."ppid" AS "InitiatingProcessParentId"',
            'coalesce(p."user", \'\') AS "InitiatingProcessAccountName"',
            'e."time_ns" AS "ReportId"',
            f'{_bag("e")} AS "AdditionalFields"',
            *_unknown(PROCESS),
        ]
    )
    return (
        f"CREATE OR REPLACE TEMP VIEW {sql.col(PROCESS)} AS\n"
        f'SELECT {cols} FROM "events_exec" e '
        f'ASOF LEFT JOIN ({parent}) p ON p."mntns_id" = e."mntns_id" AND p."pid" = e."ppid" '
        'AND e."time_ns" > p."time_ns" '
        f"WHERE coalesce(e.\"error\", '') = ''{since}"
    )


#: Legacy table name -> the table it is now.
LEGACY_TABLES: dict[str, str] = {
    "NetworkCommunicationEvents": NETWORK,
    "ProcessCreationEvents": PROCESS,
}
#: Legacy column name -> the column it is now.
LEGACY_COLUMNS: dict[str, str] = {
    "EventTime": "Timestamp",
    "ComputerName": "DeviceName",
    "MachineId": "DeviceId",
}


def legacy_sql(name: str) -> str:
    renamed = ", ".join(f"{sql.col(new)} AS {sql.col(old)}" for old, new in LEGACY_COLUMNS.items())
    return (
        f"CREATE OR REPLACE TEMP VIEW {sql.col(name)} AS "
        f"SELECT *, {renamed} FROM {sql.col(LEGACY_TABLES[name])}"
    )


def all_view_sql(since_ns: int | None = None, computer: str = "") -> list[str]:
    return [
        network_sql(since_ns, computer),
        process_sql(since_ns, computer),
        *map(legacy_sql, LEGACY_TABLES),
    ]
