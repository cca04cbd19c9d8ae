"""Background activity of the cluster: what each workload does on a normal day.

Two kinds of activity drive the clock:

* **periodic** work that real clusters do on timers: kubelet probes every 10 s,
  Prometheus scrapes every 30 s, kube-proxy's iptables syncs, the settlement CronJob
  every 5 minutes, the odd ``kubectl exec`` by an operator;
* **episodes** drawn from a Poisson process: a shop request through the ingress, an
  API pod refreshing its database connection, the IoT bridge forwarding telemetry, an
  upload to Azure Storage. Each pod's episodes are weighted by its workload's activity
  times a Zipf factor over the workload's replicas, so a few pods dominate the volume
  the way hot replicas do in production.

Every outbound connection to a public address follows a DNS answer the same pod got
(see :meth:`Net.call_external`); only the attack scenarios break that rule.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from itertools import accumulate

from edgewatch.simulate import ids
from edgewatch.simulate.catalog import API_SERVER_PORT, API_SERVICE_IP, WORKLOADS, WorkloadSpec
from edgewatch.simulate.cluster import Pod, Process, child_process, forget_pod, job_pod, shim_child
from edgewatch.simulate.context import MS, US, S, Sim
from edgewatch.simulate.internet import LAN_CLIENTS, PLCS
from edgewatch.simulate.kernel import CAPABILITIES
from edgewatch.simulate.netflow import listen_fd

Episode = Callable[[int], None]

#: Mean background episodes per second across the cluster (roughly 200 events/s).
EPISODES_PER_S = 14.0
#: Zipf exponent for how load spreads over a workload's replicas.
ZIPF_S = 1.1

#: A privileged container (kube-proxy) has every capability.
PRIVILEGED_CAPS = CAPABILITIES


def _zipf(sim: Sim, pods: list[Pod]) -> dict[str, float]:
    """Load factor per pod: 1/rank^s over a random ranking of a workload's replicas."""
    order = list(range(len(pods)))
    sim.rng.shuffle(order)
    return {pods[i].name: 1.0 / (rank + 1) ** ZIPF_S for rank, i in enumerate(order)}


def _duration(sim: Sim, median_ms: float, spread: float = 0.8) -> int:
    """A lognormal duration: most calls are quick, a few are slow."""
    return int(sim.rng.lognormvariate(0.0, spread) * median_ms * MS)


def every(sim: Sim, first_ns: int, period_ns: int, fn: Episode, jitter: float = 0.02) -> None:
    """Run ``fn`` at ``first_ns`` and then every ``period_ns`` (± jitter)."""

    def task(t: int) -> None:
        fn(t)
        step = period_ns
        if jitter:
            step = int(period_ns * (1.0 + sim.rng.uniform(-jitter, jitter)))
        sim.sched.call(t + step, task)

    sim.sched.call(first_ns, task)


def exec_child(
    sim: Sim,
    parent: Process,
    t: int,
    args: list[str],
    *,
    upper_layer: bool = False,
    from_rootfs: bool = True,
    tty: tuple[int, int, int] = (0, 0, 0),
) -> Process:
    """Fork+exec ``args`` under ``parent``; emits the exec event and returns the child.

    The child's comm is the executable's basename, cut to 15 characters by the kernel.
    """
    child = child_process(parent, args[0].rsplit("/", 1)[-1])
    if sim.on("exec"):
        event = sim.factory.exec(
            child, t, args, upper_layer=upper_layer, from_rootfs=from_rootfs, tty=tty
        )
        sim.emit(t, event)
    return child


# -- episodes -------------------------------------------------------------------------


class Background:
    """Builds and runs the background activities for one simulation."""

    def __init__(self, sim: Sim) -> None:
        self.sim = sim
        cluster = sim.cluster
        self.web_pods = cluster.pods_of("shop", "web")
        self.web_weights = list(accumulate(_zipf(sim, self.web_pods).values()))
        self.episodes: list[Episode] = []
        weights: list[float] = []
        seen: set[str] = set()
        for pod in list(cluster.pods):
            key = f"{pod.namespace}/{pod.spec.name}"
            if key in seen:
                continue
            seen.add(key)
            pods = cluster.pods_of(pod.namespace, pod.spec.name)
            zipf = _zipf(sim, pods)
            for p in pods:
                for weight, episode in self._episodes_for(p):
                    self.episodes.append(episode)
                    weights.append(weight * p.spec.activity * zipf[p.name])
        self.cumulative = list(accumulate(weights))

    def install(self, start_ns: int) -> None:
        sim = self.sim
        rng = sim.rng
        sim.sched.call(start_ns, self._poisson)
        cluster = sim.cluster
        for pod in cluster.pods:
            if pod.spec.probe is not None:
                every(sim, start_ns + rng.randint(0, 10 * S), 10 * S, self._prober(pod), jitter=0.0)
        for node in cluster.nodes:
            every(
                sim,
                start_ns + rng.randint(0, 20 * S),
                20 * S,
                self._kubelet_healthz(node.host["kubelet"]),
            )
        for pod in cluster.pods_of("monitoring", "prometheus"):
            for target in self._scrape_targets():
                every(
                    sim, start_ns + rng.randint(0, 30 * S), 30 * S, self._scraper(pod, *target), 0.0
                )
        for pod in cluster.pods_of("kube-system", "kube-proxy"):
            every(
                sim, start_ns + rng.randint(0, 30 * S), 30 * S, self._iptables_sync(pod), jitter=0.1
            )
        for spec in WORKLOADS:
            if spec.kind == "CronJob":
                # "*/5 * * * *": the controller fires a few seconds after each boundary.
                period = spec.schedule_s * S
                boundary = -start_ns % period
                first = start_ns + boundary + rng.randint(1 * S, 8 * S)
                every(sim, first, spec.schedule_s * S, self._cron(spec), jitter=0.0)
        every(
            sim,
            start_ns + rng.randint(4 * 60 * S, 15 * 60 * S),
            40 * 60 * S,
            self._admin_exec,
            jitter=0.5,
        )

    def _poisson(self, t: int) -> None:
        sim = self.sim
        rng = sim.rng
        cum = self.cumulative
        pick = bisect.bisect_right(cum, rng.random() * cum[-1])
        self.episodes[min(pick, len(cum) - 1)](t)
        sim.sched.call(t + int(rng.expovariate(EPISODES_PER_S) * S) + 1, self._poisson)

    def _episodes_for(self, pod: Pod) -> list[tuple[float, Episode]]:
        profile = pod.spec.profile
        out: list[tuple[float, Episode]] = []
        if profile == "ingress":
            out.append((3.0, lambda t: self.request(pod, t)))
        elif profile == "api":
            out += [
                (0.35, lambda t: self.api_db(pod, t)),
                (0.25, lambda t: self.api_cache(pod, t)),
                (0.3, lambda t: self.api_external(pod, t)),
                (0.08, lambda t: self.api_nxdomain(pod, t)),
                (0.25, lambda t: self.api_payments(pod, t)),
                (0.01, lambda t: self.worker_timeout(pod, t)),
                (0.004, lambda t: self.worker_oom(pod, t)),
            ]
        elif profile == "payments":
            out += [
                (1.0, lambda t: self.payments_stripe(pod, t)),
                (0.3, lambda t: self.payments_pg(pod, t)),
            ]
        elif profile == "mqtt":
            out += [
                (0.05, lambda t: self.mqtt_hub(pod, t)),
                (1.0, lambda t: self.mqtt_forward(pod, t)),
            ]
        elif profile == "opcua":
            out += [
                (1.0, lambda t: self.opcua_poll(pod, t)),
                (0.1, lambda t: self.opcua_publish(pod, t)),
            ]
        elif profile == "ingest":
            out += [
                (0.15, lambda t: self.ingest_token(pod, t)),
                (1.0, lambda t: self.ingest_upload(pod, t)),
            ]
        elif profile == "fluentbit":
            out.append((1.0, lambda t: self.fluentbit_flush(pod, t)))
        if pod.spec.seccomp_log:
            out.append((0.2, lambda t: self.audited_syscall(pod, t)))
        if profile in ("apiclient", "coredns", "kube-proxy", "prometheus"):
            out.append((0.02, lambda t: self.api_watch(pod, t)))
        return out

    # -- shop -----------------------------------------------------------------------

    def request(self, traefik_pod: Pod, t: int) -> None:
        """A shop request: LAN client -> Traefik -> nginx -> (static file | api)."""
        sim = self.sim
        rng = sim.rng
        factory = sim.factory
        traefik = traefik_pod.proc()
        total = _duration(sim, 25.0) + 2 * MS
        client, cport = LAN_CLIENTS[rng.randrange(len(LAN_CLIENTS))], ids.ephemeral_port(rng)
        local, port = traefik_pod.ip, traefik_pod.spec.port
        accept = factory.tcp(
            traefik, t, traefik.thread(rng), "accept", local, port, client, cport,
            listen_fd(traefik), rng.randint(9, 120),
        )  # fmt: skip
        sim.emit(t, accept)
        pick = bisect.bisect_right(self.web_weights, rng.random() * self.web_weights[-1])
        web = self.web_pods[min(pick, len(self.web_pods) - 1)]
        worker = web.serving(rng)
        t1 = t + rng.randint(300 * US, 2 * MS)
        inner = max(total - 2 * MS, 1 * MS)
        end = t + total
        if rng.random() < 0.5:  # Traefik opened a new backend connection
            backend_end = sim.net.connect(
                traefik, t1, web.ip, web.spec.port, duration_ns=inner, server=worker
            )
            end = max(end, backend_end + rng.randint(50 * US, 300 * US))
        if rng.random() < 0.35:
            self._static_file(worker, t1 + 200 * US)
        elif rng.random() < 0.75:
            api = sim.cluster.service("shop", "api")
            t2 = t1 + rng.randint(150 * US, 600 * US)
            sim.net.to_service(worker, t2, api, duration_ns=max(inner - 2 * MS, 1 * MS))
        close = factory.tcp(
            traefik, end, traefik.thread(rng), "close", local, port, client, cport, -1
        )
        sim.emit(end, close)

    def _static_file(self, worker: Process, t: int) -> None:
        sim = self.sim
        if not sim.on("open"):
            return
        aux = sim.aux("open")
        files = ("index.html", "css/app.css", "js/app.js", "img/logo.svg", "favicon.ico")
        name = files[aux.randrange(len(files))]
        missing = name == "favicon.ico" and aux.random() < 0.7
        path = f"/usr/share/nginx/html/{name}"
        flags = ("O_RDONLY", "O_NONBLOCK")
        error = "ENOENT" if missing else ""
        thread = (worker.pid, worker.comm)
        sim.emit(t, sim.factory.open(worker, t, thread, path, flags, aux.randint(12, 40), error))

    def _hosts_lookup_open(self, proc: Process, t: int, thread: tuple[int, str]) -> None:
        """glibc reads /etc/hosts before asking DNS."""
        sim = self.sim
        if sim.on("open"):
            fd = sim.aux("open").randint(5, 30)
            sim.emit(t, sim.factory.open(proc, t, thread, "/etc/hosts", fd=fd))

    def api_db(self, pod: Pod, t: int) -> None:
        """The connection pool replaces a database connection."""
        sim = self.sim
        worker = pod.serving(sim.rng)
        thread = worker.thread(sim.rng)
        self._hosts_lookup_open(worker, t, thread)
        res = sim.dns.lookup(worker, t + 40 * US, "db", thread=thread)
        svc = sim.cluster.service("shop", "db")
        sim.net.to_service(
            worker,
            res.done_ns + 100 * US,
            svc,
            duration_ns=sim.between(20 * S, 600 * S),
            thread=thread,
        )

    def api_cache(self, pod: Pod, t: int) -> None:
        """The Redis cache was scaled to zero: DNS still answers, kube-proxy rejects."""
        sim = self.sim
        worker = pod.serving(sim.rng)
        thread = worker.thread(sim.rng)
        res = sim.dns.lookup(worker, t, "cache", thread=thread)
        sim.net.to_service(
            worker,
            res.done_ns + 80 * US,
            sim.cluster.service("shop", "cache"),
            duration_ns=0,
            thread=thread,
        )

    def api_external(self, pod: Pod, t: int) -> None:
        sim = self.sim
        rng = sim.rng
        worker = pod.serving(rng)
        name = ("api.github.com", "api.github.com", "objects.githubusercontent.com", "pypi.org")[
            rng.randrange(4)
        ]
        thread = worker.thread(rng)
        self._hosts_lookup_open(worker, t, thread)
        sim.net.call_external(
            worker, t + 30 * US, name, duration_ns=_duration(sim, 180.0), thread=thread
        )

    def api_nxdomain(self, pod: Pod, t: int) -> None:
        sim = self.sim
        worker = pod.serving(sim.rng)
        name = ("recommendations", "legacy-cdn.shop.example")[sim.rng.randrange(2)]
        sim.dns.lookup(worker, t, name)

    def api_payments(self, pod: Pod, t: int) -> None:
        sim = self.sim
        worker = pod.serving(sim.rng)
        thread = worker.thread(sim.rng)
        res = sim.dns.lookup(worker, t, "payments-api.payments", thread=thread)
        svc = sim.cluster.service("payments", "payments-api")
        sim.net.to_service(
            worker, res.done_ns + 90 * US, svc, duration_ns=_duration(sim, 60.0), thread=thread
        )

    def worker_timeout(self, pod: Pod, t: int) -> None:
        """gunicorn aborts a hung worker and forks a replacement (no exec: plain fork)."""
        sim = self.sim
        master = pod.proc()
        i = sim.rng.randrange(len(pod.workers))
        victim = pod.workers[i]
        sim.emit(t, sim.factory.signal(master, t, victim.pid, "SIGABRT"))
        pod.workers[i] = child_process(master, victim.comm, victim.uid, victim.gid)

    def worker_oom(self, pod: Pod, t: int) -> None:
        """A worker outgrows the pod's 512 MiB limit; the kernel kills it, gunicorn forks anew.

        Only the worker dies (it is not the container's first process), so the
        container keeps running; ``pages`` is the memory cgroup's size in pages.
        """
        sim = self.sim
        master = pod.proc()
        i = sim.rng.randrange(len(pod.workers))
        victim = pod.workers[i]
        sim.emit(t, sim.factory.oomkill(victim, victim, t, victim.thread(sim.rng), pages=131072))
        pod.workers[i] = child_process(master, victim.comm, victim.uid, victim.gid)

    # -- payments -------------------------------------------------------------------

    def payments_stripe(self, pod: Pod, t: int) -> None:
        sim = self.sim
        java = pod.proc()
        sim.net.call_external(
            java,
            t,
            "api.stripe.com",
            duration_ns=_duration(sim, 350.0),
            jvm_cache=True,
            thread=_named_thread(java, "HttpClient-1-Wo"),
        )

    def payments_pg(self, pod: Pod, t: int) -> None:
        """HikariCP opens a TLS connection to the managed PostgreSQL server."""
        sim = self.sim
        java = pod.proc()
        sim.net.call_external(
            java,
            t,
            "pg-payments-weu.postgres.database.azure.com",
            5432,
            duration_ns=sim.between(60 * S, 1800 * S),
            jvm_cache=True,
            thread=_named_thread(java, "HikariPool-1 ho"),
        )

    def audited_syscall(self, pod: Pod, t: int) -> None:
        """The pod's audit profile logs syscalls outside its allowlist (SCMP_ACT_LOG).

        The allowlist was recorded from an older runtime, so newer glibc/JVM calls
        (``clone3``, ``membarrier``, ``io_uring_setup``) fall through to the log action.
        """
        sim = self.sim
        rng = sim.rng
        proc = pod.proc()
        syscalls = ("membarrier", "membarrier", "clone3", "sched_setaffinity", "io_uring_setup")
        syscall = syscalls[rng.randrange(len(syscalls))]
        sim.emit(t, sim.factory.seccomp(proc, t, proc.thread(rng), syscall, "SECCOMP_RET_LOG"))

    # -- iot / ingest -----------------------------------------------------------------

    def mqtt_hub(self, pod: Pod, t: int) -> None:
        """The bridge (re)connects to Azure IoT Hub over MQTT/TLS."""
        sim = self.sim
        node = pod.proc()
        sim.net.call_external(
            node,
            t,
            "factory-hub-01.azure-devices.net",
            8883,
            duration_ns=sim.between(120 * S, 3600 * S),
        )

    def mqtt_forward(self, pod: Pod, t: int) -> None:
        sim = self.sim
        node = pod.proc()
        thread = node.thread(sim.rng)
        res = sim.dns.lookup(node, t, "ingest-worker.edge-ingest", thread=thread)
        svc = sim.cluster.service("edge-ingest", "ingest-worker")
        sim.net.to_service(
            node, res.done_ns + 70 * US, svc, duration_ns=_duration(sim, 30.0), thread=thread
        )

    def opcua_poll(self, pod: Pod, t: int) -> None:
        """OPC UA session to a PLC on the plant LAN: no DNS, private address, flaky."""
        sim = self.sim
        rng = sim.rng
        proc = pod.proc()
        plc = PLCS[(pod.node.index + rng.randrange(2)) % len(PLCS)]
        roll = rng.random()
        error = "EHOSTUNREACH" if roll < 0.04 else "ETIMEDOUT" if roll < 0.06 else ""
        sim.net.connect(
            proc,
            t,
            plc,
            4840,
            duration_ns=_duration(sim, 1500.0),
            error=error,
            rtt_ns=rng.randint(300 * US, 3 * MS),
        )

    def opcua_publish(self, pod: Pod, t: int) -> None:
        sim = self.sim
        proc = pod.proc()
        res = sim.dns.lookup(proc, t, "mqtt-bridge.iot-gateway")
        svc = sim.cluster.service("iot-gateway", "mqtt-bridge")
        sim.net.to_service(
            proc, res.done_ns + 60 * US, svc, duration_ns=sim.between(30 * S, 900 * S)
        )

    def ingest_token(self, pod: Pod, t: int) -> None:
        sim = self.sim
        proc = pod.proc()
        sim.net.call_external(
            proc,
            t,
            "login.microsoftonline.com",
            duration_ns=_duration(sim, 250.0),
            qtypes=("A", "AAAA", "65"),
        )

    def ingest_upload(self, pod: Pod, t: int) -> None:
        sim = self.sim
        proc = pod.proc()
        sim.net.call_external(
            proc, t, "edgeingeststore.blob.core.windows.net", duration_ns=_duration(sim, 900.0)
        )

    def fluentbit_flush(self, pod: Pod, t: int) -> None:
        sim = self.sim
        proc = pod.proc()
        thread = _named_thread(proc, "flb-pipeline")
        if sim.on("open"):
            aux = sim.aux("open")
            pods = sim.cluster.pods
            log = f"/var/log/containers/{pods[aux.randrange(len(pods))].name}.log"
            sim.emit(t, sim.factory.open(proc, t, thread, log, ("O_RDONLY",), aux.randint(30, 90)))
        sim.net.call_external(
            proc,
            t + 100 * US,
            "6f1c2b7e-3d4a-4c59-9e8f-0a1b2c3d4e5f.ods.opinsights.azure.com",
            duration_ns=_duration(sim, 400.0),
            thread=thread,
        )

    def api_watch(self, pod: Pod, t: int) -> None:
        """A controller's watch on the API server timed out; it reconnects by Service IP."""
        sim = self.sim
        proc = pod.proc()
        if pod.spec.host_network:
            first = sim.cluster.nodes[0]
            sim.net.connect(
                proc, t, first.ip, API_SERVER_PORT, duration_ns=sim.between(300 * S, 1800 * S)
            )
        else:
            sim.net.connect(
                proc, t, API_SERVICE_IP, 443, duration_ns=sim.between(300 * S, 1800 * S)
            )

    # -- periodic ---------------------------------------------------------------------

    def _prober(self, pod: Pod) -> Episode:
        sim = self.sim
        probe = pod.spec.probe
        kubelet = pod.node.host["kubelet"]

        def http(t: int) -> None:
            assert isinstance(probe, int)
            src = pod.node.ip if pod.spec.host_network else pod.node.bridge_ip
            sim.net.connect(
                kubelet,
                t,
                pod.ip,
                probe,
                duration_ns=sim.between(1 * MS, 6 * MS),
                server=pod.serving(sim.rng),
                src_ip=src,
            )

        def exec_probe(t: int) -> None:
            assert isinstance(probe, tuple)
            uid = pod.spec.exec_uid if pod.spec.exec_uid is not None else pod.proc().uid
            sh = shim_child(pod, "sh", uid, uid)
            if sim.on("exec"):
                sim.emit(t, sim.factory.exec(sh, t, list(probe)))
            command = probe[-1].split()
            if command[0] == "test":  # a shell builtin: no second exec
                return
            t2 = t + sim.between(400 * US, 1500 * US)
            tool = exec_child(sim, sh, t2, command)
            if command[0] == "pg_isready":
                t3 = t2 + sim.between(600 * US, 2 * MS)
                sim.net.connect(
                    tool,
                    t3,
                    "127.0.0.1",
                    5432,
                    duration_ns=sim.between(1 * MS, 3 * MS),
                    server=pod.proc(),
                    src_ip="127.0.0.1",
                    rtt_ns=40 * US,
                )

        return http if isinstance(probe, int) else exec_probe

    def _kubelet_healthz(self, kubelet: Process) -> Episode:
        sim = self.sim

        def healthz(t: int) -> None:
            sim.net.connect(
                kubelet,
                t,
                "::1",
                10248,
                duration_ns=sim.between(300 * US, 2 * MS),
                server=kubelet,
                src_ip="::1",
                rtt_ns=30 * US,
            )

        return healthz

    def _scrape_targets(self) -> list[tuple[str, int, Process]]:
        cluster = self.sim.cluster
        targets: list[tuple[str, int, Process]] = []
        for pod in cluster.pods:
            if pod.spec.metrics_port and pod.spec.kind != "CronJob":
                targets.append((pod.ip, pod.spec.metrics_port, pod.serving(self.sim.rng)))
        for node in cluster.nodes:
            targets.append((node.ip, 10250, node.host["kubelet"]))
        return targets

    def _scraper(self, prom: Pod, ip: str, port: int, server: Process) -> Episode:
        sim = self.sim
        proc = prom.proc()

        def scrape(t: int) -> None:
            # Prometheus keeps scrape connections alive; only some scrapes open a new one.
            if sim.rng.random() < 0.25:
                sim.net.connect(proc, t, ip, port, duration_ns=_duration(sim, 15.0), server=server)

        return scrape

    def _iptables_sync(self, pod: Pod) -> Episode:
        sim = self.sim
        proxy = pod.proc()

        def sync(t: int) -> None:
            exec_child(sim, proxy, t, ["iptables-save", "-t", "nat"])
            t2 = t + sim.between(20 * MS, 80 * MS)
            restore = exec_child(
                sim,
                proxy,
                t2,
                ["iptables-restore", "-w", "5", "-W", "100000", "--noflush", "--counters"],
            )
            if sim.on("capabilities"):
                t3 = t2 + sim.aux("capabilities").randint(1 * MS, 4 * MS)
                sim.emit(
                    t3,
                    sim.factory.capability(
                        restore,
                        t3,
                        (restore.pid, restore.comm),
                        "NET_ADMIN",
                        True,
                        "setsockopt",
                        PRIVILEGED_CAPS,
                        "cap_capable; security_capable; ns_capable; do_ipt_set_ctl; "
                        "nf_setsockopt; __sys_setsockopt; __x64_sys_setsockopt; do_syscall_64; "
                        "entry_SYSCALL_64_after_hwframe; ",
                        sim.aux("capabilities").randint(100, 4000),
                    ),
                )

        return sync

    def _cron(self, spec: WorkloadSpec) -> Episode:
        sim = self.sim

        def run(t: int) -> None:
            pod = job_pod(sim.cluster, sim.rng, spec, t)
            self._job(pod, t)
            forget_pod(sim.cluster, pod)

        return run

    def _job(self, pod: Pod, t: int) -> None:
        """containerd starts the job's container; the job settles payments and exits."""
        sim = self.sim
        rng = sim.rng
        node = pod.node
        bundle = f"/run/containerd/io.containerd.runtime.v2.task/k8s.io/{pod.container_id}"
        shim = exec_child(
            sim,
            node.host["containerd"],
            t,
            [
                "/usr/bin/containerd-shim-runc-v2",
                "-namespace",
                "k8s.io",
                "-id",
                pod.container_id,
                "-address",
                "/run/containerd/containerd.sock",
            ],
        )
        t += sim.between(5 * MS, 20 * MS)
        exec_child(
            sim,
            shim,
            t,
            [
                "runc",
                "--root",
                "/run/containerd/runc/k8s.io",
                "--log",
                f"{bundle}/log.json",
                "--log-format",
                "json",
                "create",
                "--bundle",
                bundle,
                "--pid-file",
                f"{bundle}/init.pid",
                pod.container_id,
            ],
        )
        t += sim.between(30 * MS, 120 * MS)
        main = pod.proc()
        sh = shim_child(pod, "sh", main.uid, main.gid)
        sh.pid, sh.ppid = main.pid, pod.shim_pid  # the container's first process
        if sim.on("exec"):
            sim.emit(
                t, sim.factory.exec(sh, t, ["/bin/sh", "-c", "python3 /app/settle.py --window 5m"])
            )
        t += sim.between(2 * MS, 6 * MS)
        py = exec_child(sim, sh, t, ["python3", "/app/settle.py", "--window", "5m"])
        t += sim.between(300 * MS, 900 * MS)
        if sim.on("bind"):
            sim.emit(t, sim.factory.bind(py, t, "0.0.0.0", 8000))
        sim.net.call_external(
            py,
            t + 5 * MS,
            "pg-payments-weu.postgres.database.azure.com",
            5432,
            duration_ns=sim.between(3 * S, 20 * S),
        )
        t2 = t + sim.between(1 * S, 3 * S)
        for _ in range(rng.randint(1, 4)):
            t2 = (
                sim.net.call_external(py, t2, "api.stripe.com", duration_ns=_duration(sim, 400.0))
                + 50 * MS
            )
        res = sim.dns.lookup(py, t2, "payments-api")
        svc = sim.cluster.service("payments", "payments-api")
        sim.net.to_service(py, res.done_ns + 80 * US, svc, duration_ns=_duration(sim, 80.0))

    def _admin_exec(self, t: int) -> None:
        """An operator runs ``kubectl exec -it`` into an api pod: a benign interactive shell."""
        sim = self.sim
        rng = sim.rng
        pods = sim.cluster.pods_of("shop", "api")
        pod = pods[rng.randrange(len(pods))]
        main = pod.proc()
        sh = shim_child(pod, "sh", main.uid, main.gid)
        tty = (1, 136, 0)
        if sim.on("exec"):
            sim.emit(t, sim.factory.exec(sh, t, ["sh"], tty=tty))
        for args in (["ls", "-la", "/app"], ["cat", "/app/config.yaml"], ["env"], ["ps", "aux"]):
            t += sim.between(2 * S, 20 * S)
            exec_child(sim, sh, t, args, tty=tty)


def _named_thread(proc: Process, comm: str) -> tuple[int, str]:
    for tid, name in proc.threads:
        if name == comm:
            return tid, name
    return proc.pid, proc.comm
