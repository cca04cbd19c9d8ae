"""TCP connections as trace_tcp (and trace_sni) see them, on both ends.

A connection is: the client's ``connect`` (``fd`` = its socket, ``accept_fd`` -1), the
server's ``accept`` when the server is a traced pod or host process (``src`` = its
local listening address, ``dst`` = the client), the TLS ClientHello's server name one
round trip later, and a ``close`` from each side (``fd`` -1). A refused connect has an
errno and no close: IG drops close events of sockets that never got established.

Connections to a Service IP are accepted by one of the Service's pods (the kernel's
DNAT happens after the connect probe, so the client still reports the Service IP).
"""

from __future__ import annotations

from edgewatch.simulate.cluster import Process, Service
from edgewatch.simulate.context import MS, US, Sim
from edgewatch.simulate.ids import ephemeral_port


def listen_fd(proc: Process) -> int:
    """A server's listening socket fd: small and stable for the process' lifetime."""
    return 3 + proc.pid % 5


class Net:
    def __init__(self, sim: Sim) -> None:
        self.sim = sim

    def connect(
        self,
        client: Process,
        t: int,
        dst: str,
        dport: int,
        *,
        duration_ns: int,
        server: Process | None = None,
        server_ip: str = "",
        server_port: int = 0,
        thread: tuple[int, str] | None = None,
        sni: str = "",
        error: str = "",
        src_ip: str = "",
        rtt_ns: int = 0,
    ) -> int:
        """One connection from ``client``; returns the time its last event happens."""
        sim = self.sim
        rng = sim.rng
        factory = sim.factory
        thread = thread or client.thread(rng)
        src = src_ip or client.ip
        sport = ephemeral_port(rng)
        fd = rng.randint(5, 48)
        rtt = rtt_ns or rng.randint(80 * US, 600 * US)
        # Values are drawn whether or not trace_tcp is on, so gadget choice never
        # changes the rest of the run (see edgewatch.simulate.context).
        emit = sim.emit
        emit(t, factory.tcp(client, t, thread, "connect", src, sport, dst, dport, fd, error=error))
        if error:
            return t
        local, lport = server_ip or dst, server_port or dport
        if server is not None:
            at = t + rtt // 2
            accept = factory.tcp(
                server, at, server.thread(rng), "accept", local, lport, src, sport,
                listen_fd(server), rng.randint(8, 96),
            )  # fmt: skip
            emit(at, accept)
        if sni:
            hello = t + rtt + rng.randint(40 * US, 400 * US)
            emit(hello, factory.sni(client, client.pod, hello, thread, sni))
        end = t + rtt + max(duration_ns, 1 * MS)
        emit(end, factory.tcp(client, end, thread, "close", src, sport, dst, dport, fd))
        if server is not None:
            end += rng.randint(30 * US, 300 * US)
            close = factory.tcp(
                server, end, server.thread(rng), "close", local, lport, src, sport, -1
            )
            emit(end, close)
        return end

    def to_service(
        self,
        client: Process,
        t: int,
        svc: Service,
        *,
        duration_ns: int,
        thread: tuple[int, str] | None = None,
        sni: str = "",
    ) -> int:
        """Connect to a ClusterIP Service; with no endpoints kube-proxy rejects it."""
        rng = self.sim.rng
        if not svc.backends:
            return self.connect(
                client, t, svc.ip, svc.port, duration_ns=0, thread=thread, error="ECONNREFUSED"
            )
        backend = svc.backends[rng.randrange(len(svc.backends))]
        return self.connect(
            client,
            t,
            svc.ip,
            svc.port,
            duration_ns=duration_ns,
            server=backend.serving(rng),
            server_ip=backend.ip,
            server_port=svc.target_port,
            thread=thread,
            sni=sni,
        )

    def call_external(
        self,
        client: Process,
        t: int,
        name: str,
        port: int = 443,
        *,
        duration_ns: int,
        tls: bool = True,
        jvm_cache: bool = False,
        qtypes: tuple[str, ...] = ("A", "AAAA"),
        thread: tuple[int, str] | None = None,
    ) -> int:
        """Resolve a public name, connect to one of the answered addresses, say its SNI.

        The connection always goes to an address from this pod's own DNS answer, which
        is the invariant "public connect explained by DNS" that hunting relies on.
        """
        sim = self.sim
        rng = sim.rng
        thread = thread or client.thread(rng)
        if jvm_cache:
            res = sim.dns.cached_lookup(client, t, name, thread=thread)
        else:
            res = sim.dns.lookup(client, t, name, qtypes, thread)
        if not res.addresses:
            return res.done_ns
        addr = res.addresses[0] if rng.random() < 0.85 else res.addresses[-1]
        start = res.done_ns + rng.randint(30 * US, 400 * US)
        host = res.name.rstrip(".")
        return self.connect(
            client,
            start,
            addr,
            port,
            duration_ns=duration_ns,
            thread=thread,
            sni=host if tls else "",
            rtt_ns=rng.randint(8 * MS, 45 * MS),
        )
