"""The agent's DaemonSet: one pod per node, privileged only where IG runs.

``agent`` mode: the agent runs IG as its child, so its one container is the container
that runs IG and is privileged (eBPF needs it), with the host mounts IG reads: ``/`` as
``/host`` (``HOST_ROOT``), ``/sys/kernel/debug`` and ``/run``, exactly as the seed's
containers had them.

``sidecar`` mode: the seed's privileged ``ig`` DaemonSet keeps running; the agent only
reads its container logs, so it is not privileged, drops every capability and cannot
escalate. It still runs as uid 0, without capabilities: the kubelet writes the logs as
root, mode 0640, and only their owner may read them.

In both, the root filesystem is read-only; the writable places are the state directory
(a host directory, so buffers and offsets survive a restart), ``/tmp`` and IG's own
``/var/lib/ig`` (emptyDirs).
"""

from __future__ import annotations

from typing import Any

from edgewatch.deploy.k8s.agentconfig import (
    CONFIG_DIR,
    CONFIG_PATH,
    SECRETS_DIR,
    TMP_DIR,
    AgentConfig,
    Mode,
)
from edgewatch.deploy.k8s.config import KubernetesConfig
from edgewatch.deploy.k8s.objects import METRICS_PORT_NAME, NAME, Manifest, metadata

#: Mode -> (requests, limits). One agent replaces the seed's five containers (5 x 90m,
#: 5 x 256Mi limits); in agent mode the limits cover ``ig daemon`` too.
DEFAULT_RESOURCES: dict[Mode, tuple[dict[str, str], dict[str, str]]] = {
    Mode.agent: ({"cpu": "100m", "memory": "192Mi"}, {"cpu": "450m", "memory": "512Mi"}),
    Mode.sidecar: ({"cpu": "30m", "memory": "64Mi"}, {"cpu": "200m", "memory": "256Mi"}),
}


def _resources(k8s: KubernetesConfig, mode: Mode) -> dict[str, dict[str, str]]:
    requests, limits = DEFAULT_RESOURCES[mode]
    want = k8s.resources
    requests = {**requests, **want.requests.model_dump(exclude_none=True)}
    limits = {**limits, **want.limits.model_dump(exclude_none=True)}
    return {"requests": requests, "limits": limits}


def _field_env(name: str, path: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}


def _env(agent_cfg: AgentConfig, secret: str, mode: Mode) -> list[dict[str, Any]]:
    env = [
        _field_env("NODE_NAME", "spec.nodeName"),
        _field_env("POD_NAME", "metadata.name"),
        _field_env("POD_NAMESPACE", "metadata.namespace"),
    ]
    if mode is Mode.agent:
        env.append({"name": "HOST_ROOT", "value": "/host"})
    # a reference to each key the config needs; the value stays in the Secret
    for var in agent_cfg.secret_env:
        env.append({"name": var, "valueFrom": {"secretKeyRef": {"name": secret, "key": var}}})
    for var in agent_cfg.optional_env:
        env.append(
            {
                "name": var,
                "valueFrom": {"secretKeyRef": {"name": secret, "key": var, "optional": True}},
            }
        )
    return env


def _host_volume(name: str, path: str, kind: str | None = None) -> dict[str, Any]:
    host: dict[str, Any] = {"path": path}
    if kind:
        host["type"] = kind
    return {"name": name, "hostPath": host}


def _probes(port_name: str) -> dict[str, Any]:
    def get(path: str) -> dict[str, Any]:
        return {"httpGet": {"path": path, "port": port_name}}

    return {
        # IG pulls its gadget images on first start: give that time before liveness counts
        "startupProbe": {**get("/healthz"), "periodSeconds": 5, "failureThreshold": 60},
        "livenessProbe": {
            **get("/healthz"),
            "periodSeconds": 20,
            "timeoutSeconds": 5,
            "failureThreshold": 3,
        },
        "readinessProbe": {
            **get("/readyz"),
            "periodSeconds": 10,
            "timeoutSeconds": 5,
            "failureThreshold": 3,
        },
    }


def _security(mode: Mode) -> dict[str, Any]:
    if mode is Mode.agent:
        # eBPF programs, kprobes, tracefs: what IG needs is what privileged grants
        return {"privileged": True, "readOnlyRootFilesystem": True, "runAsUser": 0}
    return {
        "privileged": False,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsUser": 0,
        "runAsNonRoot": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def daemonset(
    k8s: KubernetesConfig,
    namespace: str,
    mode: Mode,
    agent_cfg: AgentConfig,
    lbl: dict[str, str],
    select: dict[str, str],
) -> Manifest:
    if mode is Mode.seed:
        raise ValueError("the seed's DaemonSet is written by edgewatch.deploy.k8s.seed")
    state_dir = str(agent_cfg.config.state_dir)
    secret = k8s.credentials_secret
    mounts: list[dict[str, Any]] = [
        {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
        {"name": "credentials", "mountPath": SECRETS_DIR, "readOnly": True},
        {"name": "state", "mountPath": state_dir},
        {"name": "tmp", "mountPath": TMP_DIR},
    ]
    volumes: list[dict[str, Any]] = [
        {"name": "config", "configMap": {"name": NAME}},
        # optional: a config with no secrets (managed identity) needs no Secret at all
        {"name": "credentials", "secret": {"secretName": secret, "optional": True}},
        _host_volume("state", f"/var/lib/{NAME}/{namespace}", "DirectoryOrCreate"),
        {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
    ]
    if mode is Mode.agent:
        mounts += [
            {"name": "host", "mountPath": "/host", "readOnly": True},
            {"name": "debugfs", "mountPath": "/sys/kernel/debug"},
            {"name": "run", "mountPath": "/run"},
            {"name": "ig-state", "mountPath": "/var/lib/ig"},
        ]
        volumes += [
            _host_volume("host", "/"),
            _host_volume("debugfs", "/sys/kernel/debug"),
            _host_volume("run", "/run"),
            # gadget images and ig daemon's instances; edgewatch recreates the instances
            {"name": "ig-state", "emptyDir": {"sizeLimit": "1Gi"}},
        ]
    else:
        mounts.append({"name": "varlog", "mountPath": "/var/log", "readOnly": True})
        volumes.append(_host_volume("varlog", "/var/log", "Directory"))
    container: dict[str, Any] = {
        "name": NAME,
        "image": k8s.image,
        "imagePullPolicy": k8s.image_pull_policy,
        "args": ["run", "--config", CONFIG_PATH],
        "env": _env(agent_cfg, secret, mode),
        "ports": [{"name": METRICS_PORT_NAME, "containerPort": agent_cfg.port, "protocol": "TCP"}],
        "resources": _resources(k8s, mode),
        "securityContext": _security(mode),
        "volumeMounts": mounts,
        **_probes(METRICS_PORT_NAME),
    }
    pod: dict[str, Any] = {
        "serviceAccountName": NAME,
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": 30,
        "nodeSelector": dict(k8s.node_selector),
        "tolerations": [t.manifest() for t in k8s.tolerations],
        "containers": [container],
        "volumes": volumes,
    }
    if k8s.priority_class:
        pod["priorityClassName"] = k8s.priority_class
    if mode is Mode.sidecar:
        pod["securityContext"] = {"seccompProfile": {"type": "RuntimeDefault"}}
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": metadata(NAME, namespace, lbl),
        "spec": {
            "selector": {"matchLabels": dict(select)},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
            "template": {
                "metadata": {
                    "labels": dict(lbl),
                    "annotations": {"kubectl.kubernetes.io/default-container": NAME},
                },
                "spec": pod,
            },
        },
    }
