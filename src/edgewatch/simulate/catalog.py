"""What runs in the simulated edge cluster, as data.

A small factory-floor cluster: an online shop and a payments service (the business
apps), an IoT gateway bridging PLCs to Azure IoT Hub, an ingest service shipping data
to Azure Storage, monitoring, and the usual kube-system pieces (CoreDNS, kube-proxy,
Traefik as the ingress). Each workload names the behaviour profile that drives its
traffic (see :mod:`edgewatch.simulate.traffic`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ProcSpec:
    """A process in a container: its comm, credentials and extra threads' comms.

    Thread comms matter because IG's ``proc.comm`` is the *thread's* comm: a JVM
    connects from ``HikariPool-1 ho``, not from ``java``.
    """

    comm: str
    uid: int = 0
    gid: int = 0
    threads: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class WorkloadSpec:
    """One Deployment, DaemonSet, StatefulSet or CronJob and the Service in front of it.

    ``probe`` is the kubelet liveness probe: an HTTP port or an exec argv.
    ``exec_uid`` is the uid of processes the runtime execs into the container (the
    image's ``USER``); None means the main process' uid. It differs when an entrypoint
    drops privileges itself, as the postgres image does with ``gosu``.
    ``schedule_s`` is the CronJob period. ``seccomp_log`` marks pods running a
    Localhost seccomp profile whose default action is ``SCMP_ACT_LOG``.
    """

    namespace: str
    name: str
    kind: str
    image: str
    profile: str
    main: ProcSpec
    workers: tuple[ProcSpec, ...] = ()
    replicas: int = 1
    port: int = 0
    metrics_port: int = 0
    host_network: bool = False
    labels: tuple[tuple[str, str], ...] = ()
    service: str = ""
    service_ip: str = ""
    service_port: int = 0
    probe: int | tuple[str, ...] | None = None
    exec_uid: int | None = None
    schedule_s: int = 0
    seccomp_log: bool = False
    activity: float = 1.0


_GO_THREADS = 5

WORKLOADS: tuple[WorkloadSpec, ...] = (
    WorkloadSpec(
        "kube-system",
        "coredns",
        "Deployment",
        "mcr.microsoft.com/oss/kubernetes/coredns:v1.11.3-2",
        "coredns",
        ProcSpec("coredns", 65532, 65532, ("coredns",) * _GO_THREADS),
        replicas=2,
        port=53,
        metrics_port=9153,
        labels=(("k8s-app", "kube-dns"),),
        service="kube-dns",
        service_ip="10.0.0.10",
        service_port=53,
        probe=8080,
    ),
    WorkloadSpec(
        "kube-system",
        "kube-proxy",
        "DaemonSet",
        "mcr.microsoft.com/oss/kubernetes/kube-proxy:v1.30.5-hotfix.20241009",
        "kube-proxy",
        ProcSpec("kube-proxy", 0, 0, ("kube-proxy",) * 3),
        host_network=True,
        labels=(("k8s-app", "kube-proxy"),),
    ),
    WorkloadSpec(
        "kube-system",
        "traefik",
        "Deployment",
        "docker.io/rancher/mirrored-library-traefik:2.11.10",
        "ingress",
        ProcSpec("traefik", 65532, 65532, ("traefik",) * _GO_THREADS),
        port=8443,
        metrics_port=9100,
        labels=(
            ("app.kubernetes.io/instance", "traefik-kube-system"),
            ("app.kubernetes.io/managed-by", "Helm"),
            ("app.kubernetes.io/name", "traefik"),
            ("helm.sh/chart", "traefik-27.0.201_up27.0.2"),
        ),
        probe=9000,
        activity=6.0,
    ),
    WorkloadSpec(
        "shop",
        "web",
        "Deployment",
        "docker.io/library/nginx:1.27.3",
        "web",
        ProcSpec("nginx"),
        workers=(ProcSpec("nginx", 101, 101), ProcSpec("nginx", 101, 101)),
        replicas=2,
        port=80,
        labels=(("app", "web"),),
        service="web",
        service_ip="10.0.12.7",
        service_port=80,
        probe=80,
    ),
    WorkloadSpec(
        "shop",
        "api",
        "Deployment",
        "myregistry.azurecr.io/shop/api:2.4.1",
        "api",
        ProcSpec("gunicorn", 1000, 1000),
        workers=(
            ProcSpec("python3", 1000, 1000, ("python3",)),
            ProcSpec("python3", 1000, 1000, ("python3",)),
            ProcSpec("python3", 1000, 1000, ("python3",)),
        ),
        replicas=3,
        port=8080,
        metrics_port=8000,
        labels=(("app", "api"),),
        service="api",
        service_ip="10.0.184.20",
        service_port=8080,
        probe=8080,
        activity=3.0,
    ),
    WorkloadSpec(
        "shop",
        "postgres",
        "StatefulSet",
        "docker.io/library/postgres:16.6",
        "db",
        ProcSpec("postgres", 999, 999),
        port=5432,
        labels=(("app", "postgres"),),
        service="db",
        service_ip="10.0.77.5",
        service_port=5432,
        probe=("sh", "-c", "pg_isready -U postgres -h 127.0.0.1 -p 5432"),
        exec_uid=0,
    ),
    WorkloadSpec(
        "payments",
        "payments-api",
        "Deployment",
        "myregistry.azurecr.io/payments/payments-api:1.8.0",
        "payments",
        ProcSpec(
            "java",
            10001,
            10001,
            ("http-nio-8443-e", "HikariPool-1 ho", "HttpClient-1-Wo", "GC Thread#0"),
        ),
        replicas=2,
        port=8443,
        labels=(("app", "payments-api"), ("version", "1.8.0")),
        service="payments-api",
        service_ip="10.0.66.140",
        service_port=8443,
        probe=8443,
        seccomp_log=True,
        activity=1.5,
    ),
    WorkloadSpec(
        "payments",
        "settlement",
        "CronJob",
        "myregistry.azurecr.io/payments/settlement:1.8.0",
        "cron",
        ProcSpec("python3", 10001, 10001),
        labels=(("app", "settlement"),),
        schedule_s=300,
    ),
    WorkloadSpec(
        "iot-gateway",
        "mqtt-bridge",
        "Deployment",
        "myregistry.azurecr.io/iot/mqtt-bridge:0.9.3",
        "mqtt",
        ProcSpec("node", 1000, 1000, ("node",) * 4),
        port=1883,
        labels=(("app", "mqtt-bridge"), ("tier", "edge")),
        service="mqtt-bridge",
        service_ip="10.0.140.33",
        service_port=1883,
        probe=("sh", "-c", "test -f /tmp/healthy"),
        activity=2.0,
    ),
    WorkloadSpec(
        "iot-gateway",
        "opcua-collector",
        "DaemonSet",
        "myregistry.azurecr.io/iot/opcua-collector:2.1.0",
        "opcua",
        ProcSpec("opcua-collector", 1000, 1000, ("opcua-collector",) * 3),
        metrics_port=9102,
        labels=(("app", "opcua-collector"), ("tier", "edge")),
        activity=1.5,
    ),
    WorkloadSpec(
        "monitoring",
        "prometheus",
        "StatefulSet",
        "quay.io/prometheus/prometheus:v2.55.1",
        "prometheus",
        ProcSpec("prometheus", 65534, 65534, ("prometheus",) * _GO_THREADS),
        port=9090,
        labels=(
            ("app.kubernetes.io/name", "prometheus"),
            ("app.kubernetes.io/part-of", "monitoring"),
        ),
        service="prometheus",
        service_ip="10.0.201.9",
        service_port=9090,
        probe=9090,
    ),
    WorkloadSpec(
        "monitoring",
        "node-exporter",
        "DaemonSet",
        "quay.io/prometheus/node-exporter:v1.8.2",
        "passive",
        ProcSpec("node_exporter", 65534, 65534, ("node_exporter",) * 3),
        metrics_port=9100,
        host_network=True,
        labels=(("app.kubernetes.io/name", "node-exporter"),),
        probe=9100,
    ),
    WorkloadSpec(
        "monitoring",
        "kube-state-metrics",
        "Deployment",
        "registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.13.0",
        "apiclient",
        ProcSpec("kube-state-metr", 65534, 65534, ("kube-state-metr",) * 3),
        metrics_port=8080,
        labels=(("app.kubernetes.io/name", "kube-state-metrics"),),
        probe=8080,
        activity=0.3,
    ),
    WorkloadSpec(
        "edge-ingest",
        "ingest-worker",
        "Deployment",
        "myregistry.azurecr.io/edge/ingest-worker:3.2.0",
        "ingest",
        ProcSpec("ingest-worker", 65532, 65532, ("ingest-worker",) * _GO_THREADS),
        replicas=2,
        port=8080,
        metrics_port=8080,
        labels=(("app", "ingest-worker"),),
        service="ingest-worker",
        service_ip="10.0.55.81",
        service_port=8080,
        probe=8080,
        activity=1.5,
    ),
    WorkloadSpec(
        "edge-ingest",
        "fluent-bit",
        "DaemonSet",
        "cr.fluentbit.io/fluent/fluent-bit:3.1.9",
        "fluentbit",
        ProcSpec("fluent-bit", 0, 0, ("flb-pipeline", "flb-logger")),
        metrics_port=2020,
        labels=(
            ("app.kubernetes.io/instance", "fluent-bit"),
            ("app.kubernetes.io/name", "fluent-bit"),
        ),
        probe=2020,
        activity=0.6,
    ),
)

#: Services with no pods behind them: kube-proxy rejects connects (ECONNREFUSED).
DEAD_SERVICES: dict[str, tuple[str, int]] = {"cache.shop": ("10.0.91.12", 6379)}

#: The API server, behind the ``kubernetes`` Service; it listens on the first node.
API_SERVICE_IP = "10.0.0.1"
API_SERVER_PORT = 6443

CLUSTER_DOMAIN = "cluster.local"
NODE_NAME_FORMAT = "edge-node-{:02d}"
