"""The small Kubernetes objects around the DaemonSet: namespace, identity, config, service.

Each function returns one manifest as a plain dict, so the generator can list them in
apply order and a test can look at each field without parsing YAML.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from edgewatch import __version__

Manifest = dict[str, Any]

NAME = "edgewatch"
METRICS_PORT_NAME = "metrics"


def selector_labels(component: str) -> dict[str, str]:
    """The labels the DaemonSet selects its pods by: never change once deployed."""
    return {"app.kubernetes.io/name": NAME, "app.kubernetes.io/component": component}


def labels(component: str, extra: Mapping[str, str] = {}) -> dict[str, str]:
    return {
        **extra,
        **selector_labels(component),
        "app.kubernetes.io/version": __version__,
        "app.kubernetes.io/managed-by": "edgewatch-deploy",
    }


def metadata(name: str, namespace: str | None, lbl: Mapping[str, str]) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    meta["labels"] = dict(lbl)
    return meta


def namespace(name: str, lbl: Mapping[str, str]) -> Manifest:
    """The namespace, labelled for Pod Security Admission at the level its pods need.

    ``privileged`` in every mode: even the unprivileged sidecar mounts host directories
    (the node's logs, its state), which the ``baseline`` level forbids.
    """
    level = "privileged"
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "labels": {
                **lbl,
                "pod-security.kubernetes.io/enforce": level,
                "pod-security.kubernetes.io/warn": level,
            },
        },
    }


def service_account(ns: str, lbl: Mapping[str, str]) -> Manifest:
    """Its own identity; no API token mounted, because the agent never calls the API.

    IG enriches events from the container runtime (namespace, pod, container, labels)
    without the API server, so the minimal RBAC is no Role at all. Workload identity
    still works: its webhook projects its own token, independent of this setting.
    """
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": metadata(NAME, ns, lbl),
        "automountServiceAccountToken": False,
    }


def config_map(ns: str, lbl: Mapping[str, str], filename: str, text: str) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(NAME, ns, lbl),
        "data": {filename: text},
    }


def service(
    ns: str, lbl: Mapping[str, str], select: Mapping[str, str], port: int, annotate: bool
) -> Manifest:
    """Headless: Prometheus scrapes every agent pod, not one picked at random."""
    meta = metadata(NAME, ns, lbl)
    if annotate:
        meta["annotations"] = {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(port),
            "prometheus.io/path": "/metrics",
        }
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta,
        "spec": {
            "clusterIP": "None",
            "selector": dict(select),
            "ports": [
                {
                    "name": METRICS_PORT_NAME,
                    "port": port,
                    "targetPort": METRICS_PORT_NAME,
                    "protocol": "TCP",
                }
            ],
        },
    }


def service_monitor(ns: str, lbl: Mapping[str, str]) -> Manifest:
    """For the Prometheus Operator (a CRD: apply it only where the operator runs)."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": metadata(NAME, ns, lbl),
        "spec": {
            "selector": {"matchLabels": {"app.kubernetes.io/name": NAME}},
            "namespaceSelector": {"matchNames": [ns]},
            "endpoints": [
                {
                    "port": METRICS_PORT_NAME,
                    "path": "/metrics",
                    "interval": "30s",
                    "scrapeTimeout": "10s",
                }
            ],
        },
    }
