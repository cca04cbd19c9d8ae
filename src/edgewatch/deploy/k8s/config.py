"""The ``kubernetes:`` section of the agent config: how ``edgewatch deploy k8s`` deploys it.

The agent itself ignores this section; it lives in the same file so that one reviewed
config describes both what the agent does and how it is scheduled. Quantities and
tolerations are checked here, before any manifest is written, because a typo in a
memory limit would otherwise surface only as an admission error on the cluster.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from edgewatch import __version__

#: Kubernetes resource quantity (``100m``, ``128Mi``, ``1.5``, ``1e3``).
_QUANTITY = re.compile(r"^[+]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+|[numkMGTPE]|[KMGTPE]i)?$")
#: RFC 1123 label (namespaces, service account and secret names).
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
#: RFC 1123 subdomain (priority class names, secret names).
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")

DEFAULT_IMAGE = f"ghcr.io/edgewatch/edgewatch:{__version__}"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def check_quantity(value: str) -> str:
    if not _QUANTITY.match(value):
        raise ValueError(f"{value!r} is not a Kubernetes quantity (e.g. 100m, 0.5, 128Mi, 1Gi)")
    return value


def check_dns_label(value: str) -> str:
    if len(value) > 63 or not _DNS_LABEL.match(value):
        raise ValueError(
            f"{value!r} is not a valid Kubernetes name (lowercase letters, digits and '-', "
            "at most 63 characters, starting and ending with a letter or digit)"
        )
    return value


def check_dns_subdomain(value: str) -> str:
    if len(value) > 253 or not _DNS_SUBDOMAIN.match(value):
        raise ValueError(f"{value!r} is not a valid Kubernetes name (lowercase, digits, '-', '.')")
    return value


class Quantities(_Strict):
    cpu: str | None = None
    memory: str | None = None

    @field_validator("cpu", "memory", mode="before")
    @classmethod
    def _quantity(cls, v: object) -> str | None:
        return None if v is None else check_quantity(str(v))


class ResourcesConfig(_Strict):
    """Requests and limits of the agent container (``null``: the mode's default)."""

    requests: Quantities = Quantities()
    limits: Quantities = Quantities()


class TolerationConfig(_Strict):
    key: str | None = None
    operator: Literal["Exists", "Equal"] = "Equal"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _consistent(self) -> TolerationConfig:
        if self.operator == "Exists" and self.value:
            raise ValueError("a toleration with operator Exists takes no value")
        if self.key is None and self.operator != "Exists":
            raise ValueError("a toleration without a key must use operator Exists")
        if self.toleration_seconds is not None and self.effect != "NoExecute":
            raise ValueError("toleration_seconds applies only to effect NoExecute")
        return self

    def manifest(self) -> dict[str, object]:
        out: dict[str, object] = {"operator": self.operator}
        if self.key is not None:
            out["key"] = self.key
        if self.value is not None:
            out["value"] = self.value
        if self.effect is not None:
            out["effect"] = self.effect
        if self.toleration_seconds is not None:
            out["tolerationSeconds"] = self.toleration_seconds
        return out


class KubernetesConfig(_Strict):
    """Scheduling and exposure of the agent's DaemonSet."""

    namespace: str = "edgewatch"
    #: the edgewatch image (built from the repository's Dockerfile)
    image: str = DEFAULT_IMAGE
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    resources: ResourcesConfig = ResourcesConfig()
    #: schedule only on these nodes; edge pools usually carry a label of their own
    node_selector: dict[str, str] = {"kubernetes.io/os": "linux"}
    #: default: tolerate every taint, so edge and control-plane nodes are covered too
    tolerations: list[TolerationConfig] = [TolerationConfig(operator="Exists")]
    #: null leaves the pod at the cluster's default priority
    priority_class: str | None = "system-node-critical"
    #: the Secret whose keys fill the ``${VAR}`` references of the config (never its value)
    credentials_secret: str = "edgewatch-credentials"
    #: also write a Prometheus Operator ServiceMonitor
    service_monitor: bool = False
    #: ``prometheus.io/*`` scrape annotations on the Service, for annotation-based discovery
    scrape_annotations: bool = True
    #: extra labels on every object (e.g. for a GitOps owner)
    labels: dict[str, str] = {}

    _ns = field_validator("namespace")(check_dns_label)
    _secret = field_validator("credentials_secret")(check_dns_subdomain)

    @field_validator("priority_class")
    @classmethod
    def _priority(cls, v: str | None) -> str | None:
        return None if v is None else check_dns_subdomain(v)

    @field_validator("image")
    @classmethod
    def _image(cls, v: str) -> str:
        if not v or any(c.isspace() for c in v):
            raise ValueError(f"{v!r} is not an image reference (e.g. registry/edgewatch:0.1.0)")
        return v
