"""The ``detect:`` section of the agent config: which rules run and where alerts go.

Example::

    detect:
      enabled: true
      rules: [/etc/edgewatch/rules]          # more rule files or directories
      disable: [terminal_shell_in_container]
      sigma: [/etc/edgewatch/sigma]          # Sigma rules run in the stream
      intel: [/etc/edgewatch/intel]          # CSV, plain lists, STIX 2.1 bundles
      egress:                                # namespaces that may only reach these
        iot-gateway: {domains: ["*.azure-devices.net"], cidrs: [20.0.0.0/8]}
      alerts: {stdout: true, store: true, azure: [sentinel]}
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from edgewatch.net import check_networks


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EgressPolicyConfig(_Strict):
    #: internet networks the namespace may reach
    cidrs: list[str] = []
    #: host names (globs: ``*.azure-devices.net``) it may reach, as DNS resolved them
    domains: list[str] = []

    @field_validator("cidrs")
    @classmethod
    def _cidrs(cls, v: list[str]) -> list[str]:
        return check_networks(v, "a network like 20.0.0.0/8")


class AlertOutputsConfig(_Strict):
    #: one JSON line per alert on stdout (where Container Insights collects it)
    stdout: bool = True
    #: the local store's ``alerts`` table (when a store sink is configured)
    store: bool = True
    #: destinations (by name) that get the ``EdgeWatchAlert_CL`` table; None: all
    azure: list[str] | None = None


class DetectConfig(_Strict):
    enabled: bool = False
    #: the rules that ship with edgewatch
    builtin: bool = True
    #: extra rule files or directories (YAML)
    rules: list[Path] = []
    #: rule names to switch off
    disable: list[str] = []
    #: Sigma rule files or directories, run in the stream
    sigma: list[Path] = []
    #: the Sigma rules that ship with edgewatch
    sigma_builtin: bool = True
    #: indicator files or directories, reloaded when they change
    intel: list[Path] = []
    intel_poll_seconds: float = Field(10.0, gt=0)
    #: namespace -> what it may reach on the internet (unlisted namespaces: anything)
    egress: dict[str, EgressPolicyConfig] = {}
    #: addresses of the Kubernetes API server besides the usual service IPs
    apiserver: list[str] = []
    #: addresses the DNS memory keeps (for the "unexplained public IP" and egress rules)
    dns_memory: int = Field(200_000, ge=1000)
    alerts: AlertOutputsConfig = AlertOutputsConfig()
