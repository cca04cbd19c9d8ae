"""Name resolution as trace_dns sees it, from the pod's resolver to CoreDNS to upstream.

One ``lookup`` produces every packet IG would report, on every node:

* the client pod's query (``OUTGOING``, to the ``kube-dns`` Service IP) and response
  (``HOST``, with the latency IG measured);
* the CoreDNS pod's view of the same exchange (query ``HOST``, response ``OUTGOING``,
  no latency because CoreDNS never sent that query);
* on a CoreDNS cache miss for an outside name, CoreDNS' forward to the upstream
  resolver and its answer.

Resolution follows the pod's ``resolv.conf`` (``ndots:5`` and the namespace's search
list), so a lookup of ``api.github.com`` first produces the NXDOMAIN answers for
``api.github.com.<ns>.svc.cluster.local.`` and friends, as it does in real clusters.
Glibc-style resolvers ask A and AAAA together. The addresses a lookup returns are the
ones the answer listed, so the connection that follows can use one of them.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgewatch.simulate import ids
from edgewatch.simulate.catalog import CLUSTER_DOMAIN
from edgewatch.simulate.cluster import Pod, Process
from edgewatch.simulate.context import MS, US, Sim
from edgewatch.simulate.internet import NXDOMAIN, RECORDS, TUNNEL_DOMAIN, UPSTREAM_DNS

KUBE_DNS_IP = "10.0.0.10"
_NDOTS = 5
#: How long CoreDNS keeps a negative answer (its ``cache`` plugin's denial TTL cap here).
_NEGATIVE_TTL_S = 30
_CACHE_LIMIT = 20_000
#: Tunnel servers encode data in A answers; keep those addresses in public space.
_TUNNEL_A_FIRST_OCTETS = (45, 51, 62, 77, 89, 91, 103, 141, 185, 193)


@dataclass(slots=True)
class Answer:
    rcode: str
    addresses: list[str]
    num_answers: int
    ttl_s: int
    cacheable: bool = True


@dataclass(slots=True)
class Resolution:
    """What the application got back: ``addresses`` of the first successful A answer."""

    name: str
    addresses: list[str]
    done_ns: int
    rcode: str


def search_list(name: str, namespace: str) -> list[str]:
    """The fully qualified names a pod's resolver tries, in order."""
    if name.endswith("."):
        return [name]
    search = [f"{namespace}.svc.{CLUSTER_DOMAIN}", f"svc.{CLUSTER_DOMAIN}", CLUSTER_DOMAIN]
    expanded = [f"{name}.{s}." for s in search]
    if name.count(".") >= _NDOTS:
        return [f"{name}.", *expanded]
    return [*expanded, f"{name}."]


class Resolver:
    """Answers names for the simulated cluster and emits the packets of each exchange."""

    def __init__(self, sim: Sim) -> None:
        self.sim = sim
        self.coredns: list[Pod] = sim.cluster.pods_of("kube-system", "coredns")
        #: Per CoreDNS pod: (name, qtype) -> expiry time.
        self.cache: dict[str, dict[tuple[str, str], int]] = {p.name: {} for p in self.coredns}
        #: Per pod, for runtimes that cache answers themselves (the JVM): name -> (expiry, addrs).
        self.app_cache: dict[str, dict[str, tuple[int, list[str]]]] = {}

    # -- answers --------------------------------------------------------------------

    def answer(self, name: str, qtype: str) -> Answer:
        """What the authoritative side says about ``name``."""
        sim = self.sim
        zone = sim.cluster.zone
        if name.endswith(f".{CLUSTER_DOMAIN}."):
            ip = zone.get(name)
            if ip is None:
                return Answer("NameError", [], 0, 5)
            if qtype == "A":
                return Answer("Success", [ip], 1, 5)
            return Answer("Success", [], 0, 5)
        if name.endswith("." + TUNNEL_DOMAIN):
            # The attacker's authoritative server encodes data in every answer.
            if qtype == "TXT":
                return Answer("Success", [], 1, 0, cacheable=False)
            rng = sim.rng
            first = _TUNNEL_A_FIRST_OCTETS[rng.randrange(len(_TUNNEL_A_FIRST_OCTETS))]
            addr = f"{first}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randint(1, 254)}"
            return Answer("Success", [addr], 1, 0, cacheable=False)
        record = RECORDS.get(name)
        if record is None or name in NXDOMAIN:
            return Answer("NameError", [], 0, _NEGATIVE_TTL_S)
        if qtype == "A":
            addrs = list(record.v4)
            shift = sim.rng.randrange(len(addrs))  # round-robin DNS
            addrs = addrs[shift:] + addrs[:shift]
            return Answer("Success", addrs, record.cnames + len(addrs), record.ttl_s)
        if qtype == "AAAA":
            return Answer("Success", list(record.v6), record.cnames + len(record.v6), record.ttl_s)
        if qtype == "65":
            return Answer("Success", [], record.cnames + int(record.https), record.ttl_s)
        return Answer("Success", [], record.cnames, record.ttl_s)

    # -- the exchange ---------------------------------------------------------------

    def lookup(
        self,
        proc: Process,
        t: int,
        name: str,
        qtypes: tuple[str, ...] = ("A", "AAAA"),
        thread: tuple[int, str] | None = None,
    ) -> Resolution:
        """Resolve ``name`` for ``proc`` starting at ``t``; emits every packet on the way."""
        sim = self.sim
        rng = sim.rng
        pod = proc.pod
        namespace = pod.namespace if pod is not None else "default"
        thread = thread or proc.thread(rng)
        result = Resolution(name, [], t, "NameError")
        for fqdn in search_list(name, namespace):
            sport = ids.ephemeral_port(rng)
            server = self.coredns[rng.randrange(len(self.coredns))] if self.coredns else None
            done = t
            found = False
            for i, qtype in enumerate(qtypes):
                sent = t + i * rng.randint(15 * US, 90 * US)
                ans, arrived = self._exchange(proc, thread, server, sent, sport, fqdn, qtype)
                done = max(done, arrived)
                if qtype == "A" and ans.rcode == "Success":
                    result.addresses = ans.addresses
                    result.rcode = "Success"
                    found = True
                elif ans.rcode == "Success" and qtype != "A" and "A" not in qtypes:
                    result.rcode = "Success"
                    found = True
            result.done_ns = done
            t = done + rng.randint(20 * US, 200 * US)
            if found:
                result.name = fqdn
                break
        return result

    def cached_lookup(
        self,
        proc: Process,
        t: int,
        name: str,
        ttl_s: int = 30,
        thread: tuple[int, str] | None = None,
    ) -> Resolution:
        """A runtime with its own DNS cache (the JVM's 30 s default) skips fresh names."""
        key = proc.pod.key if proc.pod is not None else proc.node.name
        cache = self.app_cache.setdefault(key, {})
        hit = cache.get(name)
        if hit is not None and hit[0] > t and hit[1]:
            return Resolution(name, hit[1], t, "Success")
        res = self.lookup(proc, t, name, thread=thread)
        if res.addresses:
            cache[name] = (res.done_ns + ttl_s * 1_000_000_000, res.addresses)
        return res

    def _exchange(
        self,
        proc: Process,
        thread: tuple[int, str],
        server: Pod | None,
        t: int,
        sport: int,
        fqdn: str,
        qtype: str,
    ) -> tuple[Answer, int]:
        sim = self.sim
        rng = sim.rng
        factory = sim.factory
        pod = proc.pod
        client_ip = proc.ip
        qid = ids.dns_id(rng)
        # The socket enricher misses now and then (socket already gone, race at creation).
        who: Process | None = None if (pod is not None and rng.random() < 0.003) else proc
        dns_on = sim.on("dns")
        if dns_on:
            sim.emit(
                t,
                factory.dns(
                    who,
                    pod,
                    t,
                    thread,
                    src=client_ip,
                    sport=sport,
                    dst=KUBE_DNS_IP,
                    dport=53,
                    dns_id=qid,
                    name=fqdn,
                    qtype=qtype,
                    response=False,
                    outgoing=True,
                ),
            )
        ans = self.answer(fqdn, qtype)
        hop = rng.randint(60 * US, 400 * US)
        at_server = t + hop
        reply = at_server + rng.randint(30 * US, 250 * US)
        if server is not None:
            reply = self._server_side(server, proc, at_server, sport, qid, fqdn, qtype, ans)
        arrived = reply + rng.randint(50 * US, 350 * US)
        if dns_on:
            sim.emit(
                arrived,
                factory.dns(
                    who,
                    pod,
                    arrived,
                    thread,
                    src=KUBE_DNS_IP,
                    sport=53,
                    dst=client_ip,
                    dport=sport,
                    dns_id=qid,
                    name=fqdn,
                    qtype=qtype,
                    response=True,
                    outgoing=False,
                    rcode=ans.rcode,
                    addresses=ans.addresses,
                    num_answers=ans.num_answers,
                    latency_ns=arrived - t,
                ),
            )
        return ans, arrived

    def _server_side(
        self,
        server: Pod,
        client: Process,
        t: int,
        sport: int,
        qid: str,
        fqdn: str,
        qtype: str,
        ans: Answer,
    ) -> int:
        """CoreDNS receives the query, maybe forwards it upstream, and replies; returns when."""
        sim = self.sim
        rng = sim.rng
        factory = sim.factory
        coredns = server.proc()
        thread = coredns.thread(rng)
        dns_on = sim.on("dns")
        if dns_on:
            sim.emit(
                t,
                factory.dns(
                    coredns,
                    server,
                    t,
                    thread,
                    src=client.ip,
                    sport=sport,
                    dst=server.ip,
                    dport=53,
                    dns_id=qid,
                    name=fqdn,
                    qtype=qtype,
                    response=False,
                    outgoing=False,
                ),
            )
        reply = t + rng.randint(25 * US, 180 * US)
        if not fqdn.endswith(f".{CLUSTER_DOMAIN}."):
            cache = self.cache[server.name]
            key = (fqdn, qtype)
            expiry = cache.get(key, 0)
            if expiry <= t or not ans.cacheable:
                reply = self._forward(
                    server, coredns, t + rng.randint(40 * US, 150 * US), fqdn, qtype, ans
                )
                if ans.cacheable:
                    if len(cache) > _CACHE_LIMIT:
                        cache.clear()
                    cache[key] = reply + ans.ttl_s * 1_000_000_000
        if dns_on:
            sim.emit(
                reply,
                factory.dns(
                    coredns,
                    server,
                    reply,
                    thread,
                    src=server.ip,
                    sport=53,
                    dst=client.ip,
                    dport=sport,
                    dns_id=qid,
                    name=fqdn,
                    qtype=qtype,
                    response=True,
                    outgoing=True,
                    rcode=ans.rcode,
                    addresses=ans.addresses,
                    num_answers=ans.num_answers,
                ),
            )
        return reply

    def _forward(
        self, server: Pod, coredns: Process, t: int, fqdn: str, qtype: str, ans: Answer
    ) -> int:
        sim = self.sim
        rng = sim.rng
        thread = coredns.thread(rng)
        sport = ids.ephemeral_port(rng)
        qid = ids.dns_id(rng)
        # Upstream round trip: a few ms, with a long tail.
        latency = int(rng.lognormvariate(1.6, 0.6) * MS) + 300 * US
        back = t + latency
        if sim.on("dns"):
            factory = sim.factory
            sim.emit(
                t,
                factory.dns(
                    coredns,
                    server,
                    t,
                    thread,
                    src=server.ip,
                    sport=sport,
                    dst=UPSTREAM_DNS,
                    dport=53,
                    dns_id=qid,
                    name=fqdn,
                    qtype=qtype,
                    response=False,
                    outgoing=True,
                ),
            )
            sim.emit(
                back,
                factory.dns(
                    coredns,
                    server,
                    back,
                    thread,
                    src=UPSTREAM_DNS,
                    sport=53,
                    dst=server.ip,
                    dport=sport,
                    dns_id=qid,
                    name=fqdn,
                    qtype=qtype,
                    response=True,
                    outgoing=False,
                    rcode=ans.rcode,
                    addresses=ans.addresses,
                    num_answers=ans.num_answers,
                    latency_ns=latency,
                ),
            )
        return back + rng.randint(20 * US, 120 * US)
