"""The simulated cluster: nodes, pods, processes and Services, with realistic identities.

Everything IG's enrichment would report about a process is decided here once: the pod
name Kubernetes generated, the labels string in Go map order, the containerd id and
image digest, the mount and network namespace inodes, the pids the node's kernel
handed out, and the ``containerd-shim`` parent of every container's first process.
Traffic and scenarios then only pick processes and say what they did.

Each node has its own pid and namespace-inode counters, as real hosts do, so two
nodes can report the same pid or inode for different processes; only the node name
(which plain ``ig`` leaves empty) tells them apart.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from edgewatch.simulate import ids
from edgewatch.simulate.catalog import (
    API_SERVICE_IP,
    CLUSTER_DOMAIN,
    DEAD_SERVICES,
    NODE_NAME_FORMAT,
    WORKLOADS,
    ProcSpec,
    WorkloadSpec,
)

#: Namespace inodes of the initial (host) namespaces on a current kernel.
HOST_NETNS = 4026531840
HOST_MNTNS = 4026531841
HOST_USERNS = 4026531837

_SHIM_COMM = "containerd-shim"  # "containerd-shim-runc-v2" cut to TASK_COMM_LEN - 1


def user_name(uid: int) -> str:
    """IG resolves uids against the *host's* /etc/passwd; container uids rarely exist there."""
    return {0: "root", 65534: "nobody"}.get(uid, f"uid:{uid}")


def group_name(gid: int) -> str:
    return {0: "root", 65534: "nogroup"}.get(gid, f"gid:{gid}")


@dataclass(slots=True, eq=False)
class Node:
    index: int
    name: str
    ip: str
    pod_prefix: str
    bridge_ip: str
    rng: random.Random
    next_pid: int
    next_ns: int
    next_host: int = 2
    host: dict[str, Process] = field(default_factory=dict)

    def alloc_pid(self) -> int:
        """The next pid; other processes started in between, so pids jump a little."""
        self.next_pid += self.rng.randint(1, 24)
        if self.next_pid > 4_194_000:  # pid_max wrap on long runs
            self.next_pid = 3000
        return self.next_pid

    def alloc_ns(self) -> int:
        """A namespace inode; every namespace type draws from the same allocator."""
        self.next_ns += self.rng.randint(3, 40)
        return self.next_ns

    def alloc_ip(self) -> str:
        self.next_host += self.rng.randint(1, 3)
        if self.next_host > 254:
            self.next_host = 2
        return f"{self.pod_prefix}{self.next_host}"


@dataclass(slots=True, eq=False)
class Process:
    """A process as IG sees it. ``threads`` pairs each tid with that thread's comm."""

    node: Node
    pod: Pod | None
    pid: int
    comm: str
    uid: int
    gid: int
    ppid: int
    pcomm: str
    mntns: int
    netns: int
    threads: tuple[tuple[int, str], ...] = ()
    templates: dict[str, object] = field(default_factory=dict)

    def thread(self, rng: random.Random) -> tuple[int, str]:
        if not self.threads:
            return self.pid, self.comm
        return self.threads[rng.randrange(len(self.threads))]

    @property
    def ip(self) -> str:
        return self.pod.ip if self.pod is not None else self.node.ip


@dataclass(slots=True, eq=False)
class Pod:
    """A single-container pod (so netns-based enrichment is never ambiguous)."""

    spec: WorkloadSpec
    node: Node
    name: str
    labels: str
    owner_kind: str
    owner_name: str
    container_id: str
    image_digest: str
    started_at: int
    mntns: int
    netns: int
    ip: str
    shim_pid: int = 0
    main: Process | None = None
    workers: list[Process] = field(default_factory=list)

    @property
    def namespace(self) -> str:
        return self.spec.namespace

    @property
    def container(self) -> str:
        return self.spec.name

    @property
    def key(self) -> str:
        return f"{self.spec.namespace}/{self.name}"

    def proc(self) -> Process:
        assert self.main is not None
        return self.main

    def serving(self, rng: random.Random) -> Process:
        """The process that accepts connections: a worker if there are any."""
        if self.workers:
            return self.workers[rng.randrange(len(self.workers))]
        return self.proc()


@dataclass(slots=True, eq=False)
class Service:
    name: str
    namespace: str
    ip: str
    port: int
    target_port: int
    backends: list[Pod]

    @property
    def fqdn(self) -> str:
        return f"{self.name}.{self.namespace}.svc.{CLUSTER_DOMAIN}."


@dataclass(slots=True, eq=False)
class Cluster:
    nodes: list[Node]
    pods: list[Pod]
    services: dict[str, Service]
    workloads: dict[str, list[Pod]]
    digests: dict[str, str]
    template_hashes: dict[str, str]
    #: Cluster-internal names CoreDNS answers itself: fqdn -> address.
    zone: dict[str, str]

    def pods_of(self, namespace: str, name: str) -> list[Pod]:
        return self.workloads.get(f"{namespace}/{name}", [])

    def service(self, namespace: str, name: str) -> Service:
        return self.services[f"{name}.{namespace}"]


def _labels(rng: random.Random, pairs: list[tuple[str, str]]) -> str:
    """IG joins the pod labels in Go map iteration order: random, but fixed per container."""
    shuffled = list(pairs)
    rng.shuffle(shuffled)
    return ",".join(f"{k}={v}" for k, v in shuffled)


def _process(
    node: Node,
    pod: Pod | None,
    spec: ProcSpec,
    ppid: int,
    pcomm: str,
    mntns: int,
    netns: int,
    pid: int | None = None,
) -> Process:
    pid = node.alloc_pid() if pid is None else pid
    threads = [(pid, spec.comm)]
    threads.extend((node.alloc_pid(), comm) for comm in spec.threads)
    return Process(
        node=node,
        pod=pod,
        pid=pid,
        comm=spec.comm,
        uid=spec.uid,
        gid=spec.gid,
        ppid=ppid,
        pcomm=pcomm,
        mntns=mntns,
        netns=netns,
        threads=tuple(threads),
    )


def child_process(
    parent: Process, comm: str, uid: int | None = None, gid: int | None = None
) -> Process:
    """A freshly forked and exec'd child of ``parent`` (same pod and namespaces)."""
    node = parent.node
    return Process(
        node=node,
        pod=parent.pod,
        pid=node.alloc_pid(),
        comm=comm[:15],
        uid=parent.uid if uid is None else uid,
        gid=parent.gid if gid is None else gid,
        ppid=parent.pid,
        pcomm=parent.comm,
        mntns=parent.mntns,
        netns=parent.netns,
    )


def shim_child(pod: Pod, comm: str, uid: int = 0, gid: int = 0) -> Process:
    """A process the runtime starts in a running container (exec probe, ``kubectl exec``).

    Its parent is the pod's ``containerd-shim``, which reaps it as a subreaper.
    """
    node = pod.node
    return Process(
        node=node,
        pod=pod,
        pid=node.alloc_pid(),
        comm=comm[:15],
        uid=uid,
        gid=gid,
        ppid=pod.shim_pid,
        pcomm=_SHIM_COMM,
        mntns=pod.mntns,
        netns=pod.netns,
    )


def make_pod(
    cluster: Cluster,
    rng: random.Random,
    spec: WorkloadSpec,
    node: Node,
    name: str,
    labels: list[tuple[str, str]],
    started_at: int,
) -> Pod:
    """Create a pod with its container, shim and processes, and register it."""
    digest = cluster.digests.setdefault(spec.image, ids.digest(rng))
    netns = HOST_NETNS if spec.host_network else node.alloc_ns()
    mntns = node.alloc_ns()
    pod = Pod(
        spec=spec,
        node=node,
        name=name,
        labels=_labels(rng, labels),
        owner_kind=spec.kind,
        owner_name=spec.name,
        container_id=ids.hex_id(rng),
        image_digest=digest,
        started_at=started_at,
        mntns=mntns,
        netns=netns,
        ip=node.ip if spec.host_network else node.alloc_ip(),
    )
    pod.shim_pid = node.alloc_pid()
    pod.main = _process(node, pod, spec.main, pod.shim_pid, _SHIM_COMM, mntns, netns)
    for worker in spec.workers:
        pod.workers.append(_process(node, pod, worker, pod.main.pid, pod.main.comm, mntns, netns))
    cluster.pods.append(pod)
    cluster.workloads.setdefault(f"{spec.namespace}/{spec.name}", []).append(pod)
    return pod


def job_pod(cluster: Cluster, rng: random.Random, spec: WorkloadSpec, now_ns: int) -> Pod:
    """A CronJob run: Job ``<cronjob>-<scheduled unix minute>`` and its one pod."""
    job = f"{spec.name}-{now_ns // 60_000_000_000}"
    uid = ids.uuid4(rng)
    labels = [
        *spec.labels,
        ("batch.kubernetes.io/controller-uid", uid),
        ("batch.kubernetes.io/job-name", job),
        ("controller-uid", uid),
        ("job-name", job),
    ]
    node = cluster.nodes[rng.randrange(len(cluster.nodes))]
    pod = make_pod(cluster, rng, spec, node, f"{job}-{ids.k8s_suffix(rng)}", labels, now_ns)
    return pod


def forget_pod(cluster: Cluster, pod: Pod) -> None:
    """Drop a finished pod so long runs keep bounded memory."""
    cluster.pods.remove(pod)
    cluster.workloads[f"{pod.spec.namespace}/{pod.spec.name}"].remove(pod)


def _workload_pods(cluster: Cluster, rng: random.Random, spec: WorkloadSpec, start_ns: int) -> None:
    nodes = cluster.nodes
    base = list(spec.labels)
    if spec.kind == "CronJob":
        return
    if spec.kind == "DaemonSet":
        revision = cluster.template_hashes.setdefault(spec.name, ids.template_hash(rng))
        for node in nodes:
            labels = [
                *base,
                ("controller-revision-hash", revision),
                ("pod-template-generation", "1"),
            ]
            started = (
                start_ns - rng.randint(3 * 86400, 30 * 86400) * 1_000_000_000 - rng.randrange(10**9)
            )
            make_pod(
                cluster, rng, spec, node, f"{spec.name}-{ids.k8s_suffix(rng)}", labels, started
            )
        return
    first = rng.randrange(len(nodes))
    for i in range(spec.replicas):
        node = nodes[(first + i) % len(nodes)]
        started = (
            start_ns - rng.randint(2 * 3600, 10 * 86400) * 1_000_000_000 - rng.randrange(10**9)
        )
        if spec.kind == "StatefulSet":
            name = f"{spec.name}-{i}"
            revision = cluster.template_hashes.setdefault(spec.name, ids.template_hash(rng))
            labels = [
                *base,
                ("apps.kubernetes.io/pod-index", str(i)),
                ("controller-revision-hash", f"{spec.name}-{revision}"),
                ("statefulset.kubernetes.io/pod-name", name),
            ]
        else:
            template = cluster.template_hashes.setdefault(spec.name, ids.template_hash(rng))
            name = f"{spec.name}-{template}-{ids.k8s_suffix(rng)}"
            labels = [*base, ("pod-template-hash", template)]
        make_pod(cluster, rng, spec, node, name, labels, started)


def _host_processes(node: Node) -> None:
    """systemd, containerd and kubelet: traced only with ``--host``, no k8s context."""
    systemd = ProcSpec("systemd")
    node.host["systemd"] = _process(node, None, systemd, 0, "swapper/0", HOST_MNTNS, HOST_NETNS, 1)
    node.host["containerd"] = _process(
        node,
        None,
        ProcSpec("containerd", 0, 0, ("containerd",) * 4),
        1,
        "systemd",
        HOST_MNTNS,
        HOST_NETNS,
    )
    node.host["kubelet"] = _process(
        node,
        None,
        ProcSpec("kubelet", 0, 0, ("kubelet",) * 6),
        1,
        "systemd",
        HOST_MNTNS,
        HOST_NETNS,
    )


def build_cluster(rng: random.Random, nodes: int, start_ns: int) -> Cluster:
    """Lay out the catalog's workloads over ``nodes`` nodes."""
    if nodes < 1:
        raise ValueError("a cluster needs at least one node")
    node_list = [
        Node(
            index=i,
            name=NODE_NAME_FORMAT.format(i + 1),
            ip=f"192.168.10.{11 + i}",
            pod_prefix=f"10.244.{i}.",
            bridge_ip=f"10.244.{i}.1",
            rng=rng,
            next_pid=rng.randint(600, 900),
            next_ns=4026532000 + rng.randint(100, 400),
        )
        for i in range(nodes)
    ]
    for node in node_list:
        _host_processes(node)
    cluster = Cluster(node_list, [], {}, {}, {}, {}, {})
    for spec in WORKLOADS:
        _workload_pods(cluster, rng, spec, start_ns)
    for spec in WORKLOADS:
        if not spec.service:
            continue
        backends = cluster.pods_of(spec.namespace, spec.name)
        svc = Service(
            spec.service, spec.namespace, spec.service_ip, spec.service_port, spec.port, backends
        )
        cluster.services[f"{spec.service}.{spec.namespace}"] = svc
        cluster.zone[svc.fqdn] = svc.ip
    for key, (ip, port) in DEAD_SERVICES.items():
        name, namespace = key.split(".", 1)
        svc = Service(name, namespace, ip, port, port, [])
        cluster.services[key] = svc
        cluster.zone[svc.fqdn] = ip
    cluster.zone[f"kubernetes.default.svc.{CLUSTER_DOMAIN}."] = API_SERVICE_IP
    return cluster
