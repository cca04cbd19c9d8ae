"""The ASIM parsers as stored functions over the ASIM views, under Sentinel's names.

Sentinel content calls a unifying parser (``_Im_Dns(starttime=…, domain_has_any=…)``,
``imNetworkSession``, ``_ASim_ProcessEvent_Create``) rather than a table. Here each name
is a KQL function with the parameter list Sentinel's parser has, in the same order (so
a call by position binds as it does there; by name, see ``extensions/named_args.py``),
and a body modelled on Sentinel's ``_Im_*_Native`` parsers for the ``ASim*Logs`` tables:
the standard filters first, then ``EventSchema``, ``Src``/``Dst``/``Dvc`` and the aliases,
which are query-time fields in Sentinel too.

Parameters a source cannot honour are handled as Sentinel's own source parsers do: a
filter on a field the data never has matches nothing (``dvcipaddr_has_any_prefix`` on
process events, whose ``DvcIpAddr`` is empty) and ``pack`` is accepted and ignored
(``AdditionalFields`` is always there).
"""

from __future__ import annotations

from collections.abc import Mapping

_NETWORK_PARAMS = (
    "starttime:datetime=datetime(null), endtime:datetime=datetime(null), "
    "srcipaddr_has_any_prefix:dynamic=dynamic([]), dstipaddr_has_any_prefix:dynamic=dynamic([]), "
    "ipaddr_has_any_prefix:dynamic=dynamic([]), dstportnumber:int=int(null), "
    "hostname_has_any:dynamic=dynamic([]), dvcaction:dynamic=dynamic([]), "
    "eventresult:string='*', pack:bool=false"
)

_NETWORK_BODY = """
    let src_or_any = set_union(srcipaddr_has_any_prefix, ipaddr_has_any_prefix);
    let dst_or_any = set_union(dstipaddr_has_any_prefix, ipaddr_has_any_prefix);
    {source}
    | where (isnull(starttime) or TimeGenerated >= starttime)
        and (isnull(endtime) or TimeGenerated <= endtime)
        and (isnull(dstportnumber) or DstPortNumber == dstportnumber)
        and (array_length(dvcaction) == 0 or DvcAction in (dvcaction))
        and (eventresult == "*" or EventResult == eventresult)
    | extend temp_SrcMatch = has_any_ipv4_prefix(SrcIpAddr, src_or_any),
             temp_DstMatch = has_any_ipv4_prefix(DstIpAddr, dst_or_any)
    | extend ASimMatchingIpAddr = case(
        array_length(src_or_any) == 0 and array_length(dst_or_any) == 0, "-",
        temp_SrcMatch and temp_DstMatch, "Both",
        temp_SrcMatch, "SrcIpAddr",
        temp_DstMatch, "DstIpAddr",
        "No match")
    | where ASimMatchingIpAddr != "No match"
    | project-away temp_SrcMatch, temp_DstMatch
    | extend ASimMatchingHostname = case(
        array_length(hostname_has_any) == 0, "-",
        SrcHostname has_any (hostname_has_any), "SrcHostname",
        DstHostname has_any (hostname_has_any), "DstHostname",
        "No match")
    | where ASimMatchingHostname != "No match"
    | extend EventSchema = "NetworkSession",
        Dvc = coalesce(DvcFQDN, DvcHostname, DvcIpAddr, DvcId,
            strcat(EventVendor, "/", EventProduct)),
        Src = coalesce(SrcFQDN, SrcHostname, SrcIpAddr, SrcDvcId),
        Dst = coalesce(DstFQDN, DstHostname, DstIpAddr, DstDvcId),
        Hostname = iff(EventType == "EndpointNetworkSession" and NetworkDirection == "Inbound",
            SrcHostname, DstHostname),
        IpAddr = iff(EventType == "EndpointNetworkSession" and NetworkDirection == "Inbound",
            DstIpAddr, SrcIpAddr),
        Rule = coalesce(NetworkRuleName, tostring(NetworkRuleNumber)),
        Duration = NetworkDuration,
        SessionId = NetworkSessionId,
        User = DstUsername
"""

_DNS_PARAMS = (
    "starttime:datetime=datetime(null), endtime:datetime=datetime(null), "
    "srcipaddr:string='*', domain_has_any:dynamic=dynamic([]), responsecodename:string='*', "
    "response_has_ipv4:string='*', response_has_any_prefix:dynamic=dynamic([]), "
    "eventtype:string='Query', pack:bool=false"
)

_DNS_BODY = """
    ASimDnsActivityLogs
    | where (isnull(starttime) or TimeGenerated >= starttime)
        and (isnull(endtime) or TimeGenerated <= endtime)
        and (srcipaddr == "*" or SrcIpAddr == srcipaddr)
        and (array_length(domain_has_any) == 0 or DnsQuery has_any (domain_has_any))
        and (responsecodename == "*" or EventResultDetails == responsecodename)
        and (response_has_ipv4 == "*" or has_ipv4(DnsResponseName, response_has_ipv4))
        and (array_length(response_has_any_prefix) == 0
             or has_any_ipv4_prefix(DnsResponseName, response_has_any_prefix))
        and (eventtype == "*" or EventType == eventtype
             or (eventtype == "lookup" and EventType == "Query"))
    | extend EventSchema = "Dns",
        Dvc = coalesce(DvcFQDN, DvcHostname, DvcIpAddr, DvcId),
        DnsResponseCodeName = EventResultDetails,
        Src = coalesce(SrcFQDN, SrcHostname, SrcIpAddr, SrcDvcId),
        Dst = coalesce(DstFQDN, DstHostname, DstIpAddr, DstDvcId),
        Domain = DnsQuery,
        IpAddr = SrcIpAddr,
        SessionId = DnsSessionId,
        Duration = DnsNetworkDuration,
        Process = SrcProcessName,
        User = SrcUsername,
        Hostname = SrcHostname
"""

_PROCESS_PARAMS = (
    "starttime:datetime=datetime(null), endtime:datetime=datetime(null), "
    "commandline_has_any:dynamic=dynamic([]), commandline_has_all:dynamic=dynamic([]), "
    "commandline_has_any_ip_prefix:dynamic=dynamic([]), "
    "actingprocess_has_any:dynamic=dynamic([]), targetprocess_has_any:dynamic=dynamic([]), "
    "parentprocess_has_any:dynamic=dynamic([]), targetusername_has:string='*', "
    "actorusername_has:string='*', dvcipaddr_has_any_prefix:dynamic=dynamic([]), "
    "dvchostname_has_any:dynamic=dynamic([]), eventtype:string='*', "
    "hashes_has_any:dynamic=dynamic([]), pack:bool=false"
)

_PROCESS_BODY = """
    ASimProcessEventLogs
    | where (isnull(starttime) or TimeGenerated >= starttime)
        and (isnull(endtime) or TimeGenerated <= endtime)
        and {event_filter}
        and (array_length(commandline_has_all) == 0
             or TargetProcessCommandLine has_all (commandline_has_all))
        and (array_length(commandline_has_any) == 0
             or TargetProcessCommandLine has_any (commandline_has_any))
        and (array_length(commandline_has_any_ip_prefix) == 0
             or has_any_ipv4_prefix(TargetProcessCommandLine, commandline_has_any_ip_prefix))
        and (array_length(actingprocess_has_any) == 0
             or ActingProcessName has_any (actingprocess_has_any))
        and (array_length(targetprocess_has_any) == 0
             or TargetProcessName has_any (targetprocess_has_any))
        and (array_length(parentprocess_has_any) == 0
             or ParentProcessName has_any (parentprocess_has_any))
        and (targetusername_has == "*" or TargetUsername has targetusername_has)
        and (actorusername_has == "*" or ActorUsername has actorusername_has)
        and (array_length(dvcipaddr_has_any_prefix) == 0
             or has_any_ipv4_prefix(DvcIpAddr, dvcipaddr_has_any_prefix))
        and (array_length(dvchostname_has_any) == 0 or DvcHostname has_any (dvchostname_has_any))
        and (array_length(hashes_has_any) == 0 or TargetProcessSHA256 in (hashes_has_any)
             or TargetProcessSHA1 in (hashes_has_any) or TargetProcessMD5 in (hashes_has_any))
    | extend EventSchema = "ProcessEvent",
        Dvc = coalesce(DvcFQDN, DvcHostname, DvcIpAddr, DvcId),
        User = TargetUsername,
        Process = TargetProcessName,
        CommandLine = TargetProcessCommandLine,
        Hash = coalesce(TargetProcessSHA512, TargetProcessSHA256, TargetProcessMD5,
            TargetProcessSHA1, TargetProcessIMPHASH)
"""

_WEB_PARAMS = (
    "starttime:datetime=datetime(null), endtime:datetime=datetime(null), "
    "srcipaddr_has_any_prefix:dynamic=dynamic([]), ipaddr_has_any_prefix:dynamic=dynamic([]), "
    "url_has_any:dynamic=dynamic([]), httpuseragent_has_any:dynamic=dynamic([]), "
    "eventresultdetails_in:dynamic=dynamic([]), eventresult:string='*', pack:bool=false"
)

#: TLS sessions from the SNI gadget, seen as web sessions: the server name is all of
#: the URL a ClientHello tells. No HTTP status, method or user agent exists there.
_WEB_BODY = """
    ASimNetworkSessionLogs
    | where NetworkApplicationProtocol == "TLS"
    | where (isnull(starttime) or TimeGenerated >= starttime)
        and (isnull(endtime) or TimeGenerated <= endtime)
        and (array_length(srcipaddr_has_any_prefix) == 0
             or has_any_ipv4_prefix(SrcIpAddr, srcipaddr_has_any_prefix))
        and (array_length(ipaddr_has_any_prefix) == 0
             or has_any_ipv4_prefix(SrcIpAddr, ipaddr_has_any_prefix))
        and (array_length(url_has_any) == 0 or DstHostname has_any (url_has_any))
        and (array_length(httpuseragent_has_any) == 0)
        and (array_length(eventresultdetails_in) == 0)
        and (eventresult == "*" or EventResult == eventresult)
    | extend EventType = "HTTPsession", EventSchema = "WebSession", EventSchemaVersion = "0.2.7",
        Url = DstHostname, UrlOriginal = DstHostname, HttpUserAgent = "", HttpRequestMethod = "",
        HttpStatusCode = "", HttpVersion = "", HttpContentType = "", UrlCategory = "",
        Dvc = coalesce(DvcFQDN, DvcHostname, DvcIpAddr, DvcId),
        Src = coalesce(SrcFQDN, SrcHostname, SrcIpAddr, SrcDvcId),
        Dst = coalesce(DstFQDN, DstHostname, DstIpAddr, DstDvcId),
        IpAddr = SrcIpAddr,
        Hostname = DstHostname,
        ASimMatchingIpAddr = "-"
"""

#: name -> (parameters, body). Each schema's names, as Sentinel ships them.
PARSERS: Mapping[str, tuple[str, str]] = {
    **{
        name: (_NETWORK_PARAMS, _NETWORK_BODY.format(source="ASimNetworkSessionLogs"))
        for name in (
            "_Im_NetworkSession",
            "_ASim_NetworkSession",
            "imNetworkSession",
            "ASimNetworkSession",
            "_Im_NetworkSession_Native",
            "vimNetworkSessionNative",
        )
    },
    **{
        name: (_DNS_PARAMS, _DNS_BODY)
        for name in ("_Im_Dns", "_ASim_Dns", "imDns", "ASimDns", "_Im_Dns_Native", "vimDnsNative")
    },
    **{
        name: (
            _PROCESS_PARAMS,
            _PROCESS_BODY.format(event_filter="(eventtype == '*' or EventType == eventtype)"),
        )
        for name in (
            "_Im_ProcessEvent",
            "_ASim_ProcessEvent",
            "imProcess",
            "imProcessEvent",
            "ASimProcess",
            "ASimProcessEvent",
            "_Im_ProcessEvent_Native",
            "vimProcessEventNative",
        )
    },
    **{
        name: (_PROCESS_PARAMS, _PROCESS_BODY.format(event_filter="EventType == 'ProcessCreated'"))
        for name in (
            "_Im_ProcessCreate",
            "_ASim_ProcessEvent_Create",
            "_ASim_ProcessCreate",
            "imProcessCreate",
            "ASimProcessCreate",
            "ASimProcessEventCreate",
        )
    },
    **{
        name: (
            _PROCESS_PARAMS,
            _PROCESS_BODY.format(event_filter="EventType == 'ProcessTerminated'"),
        )
        for name in (
            "_Im_ProcessTerminate",
            "_ASim_ProcessEvent_Terminate",
            "imProcessTerminate",
            "ASimProcessTerminate",
        )
    },
    **{
        name: (_WEB_PARAMS, _WEB_BODY)
        for name in ("_Im_WebSession", "_ASim_WebSession", "imWebSession", "ASimWebSession")
    },
}


#: Query-time alias columns the parsers add (the schemas' "Alias" class): a query may
#: shadow one it does not read with a name differing only in case (see extensions).
ALIASES: frozenset[str] = frozenset(
    {
        "Hostname",
        "IpAddr",
        "User",
        "Process",
        "CommandLine",
        "Hash",
        "Domain",
        "Duration",
        "SessionId",
        "Rule",
        "Url",
    }
)


def definitions() -> list[str]:
    """The parsers as duckdb-kql stored-function definitions."""
    return [f"function {name}({params}) {{{body}}}" for name, (params, body) in PARSERS.items()]
