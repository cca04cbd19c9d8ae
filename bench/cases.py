"""The work every contender does: the same filter, stated once per implementation.

Keep events unless they come from ``kube-system``, are TCP connections to loopback,
DNS lookups of in-cluster names, or DNS answered by a loopback resolver — the noise the
seed's hunting queries drop by hand. Each implementation must forward exactly the same
lines; the suite checks the counts agree before it reports a number.
"""

from __future__ import annotations

from typing import Any

EDGEWATCH_FILTERS = """
filters:
  exclude:
    namespaces: [kube-system]
  noise:
    loopback: true
    cluster_local_dns: true
"""

JQ_FILTER = r"""
def lo: (. // "") | (startswith("127.") or . == "::1");
select(
  (.k8s.namespace != "kube-system")
  and (
    if has("qr") then
      ((.name // "") | endswith(".cluster.local.") | not)
      and (((.nameserver.addr // "") as $ns
            | if $ns != "" then $ns elif .qr == "Q" then .dst.addr else .src.addr end)
           | lo | not)
    elif has("accept_fd") then (.dst.addr | lo | not)
    else true end
  )
)
"""


def _loopback(addr: str) -> bool:
    return addr.startswith("127.") or addr == "::1"


def keep(obj: dict[str, Any]) -> bool:
    """The filter as plain Python over a parsed IG object (the json.loads baseline)."""
    if (obj.get("k8s") or {}).get("namespace") == "kube-system":
        return False
    if "qr" in obj:
        if (obj.get("name") or "").endswith(".cluster.local."):
            return False
        server = (obj.get("nameserver") or {}).get("addr") or (
            (obj.get("dst") or {}).get("addr")
            if obj.get("qr") == "Q"
            else (obj.get("src") or {}).get("addr")
        )
        return not _loopback(server or "")
    if "accept_fd" in obj:
        return not _loopback((obj.get("dst") or {}).get("addr") or "")
    return True
