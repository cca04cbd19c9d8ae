"""The seed's plain multi-gadget ``ig`` DaemonSet, for users who want only the stdout path.

One privileged ``ig run <gadget> -o json`` container per gadget, each with the seed's
requests and limits (30m/128Mi, 90m/256Mi), whose stdout Container Insights collects
into ContainerLogV2. Two things differ from the seed's file, on purpose: the ``ig``
image and the gadget images are pinned to one IG release instead of ``latest`` (gadgets
built for another IG may not load), and the container names are the ones the sidecar
mode and the ContainerLogV2 queries expect (``ig-tcp``, ``ig-dns`` ...).
"""

from __future__ import annotations

from typing import Any

from edgewatch.config import SEED_CONTAINER_GADGETS
from edgewatch.deploy.k8s.config import KubernetesConfig
from edgewatch.deploy.k8s.objects import Manifest
from edgewatch.events.registry import resolve
from edgewatch.sources.ig.command import DEFAULT_IMAGE_PREFIX
from edgewatch.sources.ig.version import LATEST_KNOWN

#: the seed's figures, per gadget container
SEED_REQUESTS = {"cpu": "30m", "memory": "128Mi"}
SEED_LIMITS = {"cpu": "90m", "memory": "256Mi"}
IG_IMAGE = "ghcr.io/inspektor-gadget/ig"


def seed_daemonset(
    k8s: KubernetesConfig, namespace: str, ig_tag: str = LATEST_KNOWN.tag
) -> Manifest:
    containers: list[dict[str, Any]] = []
    for container, gadget in SEED_CONTAINER_GADGETS.items():
        spec = resolve(gadget)
        containers.append(
            {
                "name": container,
                "image": f"{IG_IMAGE}:{ig_tag}",
                "imagePullPolicy": "IfNotPresent",
                "command": [
                    "ig",
                    "run",
                    f"{DEFAULT_IMAGE_PREFIX}{spec.gadget}:{ig_tag}",
                    "-o",
                    "json",
                ],
                "env": [{"name": "HOST_ROOT", "value": "/host"}],
                "resources": {"requests": dict(SEED_REQUESTS), "limits": dict(SEED_LIMITS)},
                "securityContext": {"privileged": True},
                "volumeMounts": [
                    {"name": "host", "mountPath": "/host"},
                    {"name": "debugfs", "mountPath": "/sys/kernel/debug"},
                    {"name": "run", "mountPath": "/run"},
                ],
            }
        )
    match = {"name": "example-ig"}  # the seed's selector, so applying it updates the seed's
    pod: dict[str, Any] = {
        "nodeSelector": dict(k8s.node_selector),
        "tolerations": [t.manifest() for t in k8s.tolerations],
        "containers": containers,
        "volumes": [
            {"name": "host", "hostPath": {"path": "/"}},
            {"name": "debugfs", "hostPath": {"path": "/sys/kernel/debug"}},
            {"name": "run", "hostPath": {"path": "/run"}},
        ],
    }
    if k8s.priority_class:
        pod["priorityClassName"] = k8s.priority_class
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "ig", "namespace": namespace, "labels": {"k8s-app": "example-ig"}},
        "spec": {
            "selector": {"matchLabels": match},
            "template": {"metadata": {"labels": dict(match)}, "spec": pod},
        },
    }
