"""All manifests of one deployment, in apply order, as one multi-document YAML stream.

``kubectl apply -f -`` creates them in the order given, so the namespace comes first and
the DaemonSet after everything it mounts or runs as.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import yaml

from edgewatch.config import ConfigError, ConfigProblem
from edgewatch.deploy.k8s import objects
from edgewatch.deploy.k8s.agentconfig import CONFIG_FILE, Mode, prepare, validate_text
from edgewatch.deploy.k8s.config import KubernetesConfig, check_dns_label
from edgewatch.deploy.k8s.daemonset import daemonset
from edgewatch.deploy.k8s.objects import Manifest
from edgewatch.deploy.k8s.seed import seed_daemonset

SEED_NAMESPACE = "gadget"


@dataclass
class Bundle:
    manifests: list[Manifest]
    #: what the person applying them should know (printed to stderr by the CLI)
    notes: list[str] = field(default_factory=list)


def _name(value: str, what: str, filename: str) -> str:
    try:
        return check_dns_label(value)
    except ValueError as exc:
        raise ConfigError([ConfigProblem(what, None, str(exc), filename)]) from None


def generate(
    mode: Mode,
    config_text: str | None = None,
    filename: str = "config",
    namespace: str | None = None,
    service_monitor: bool | None = None,
    with_seed: bool = False,
    seed_namespace: str = SEED_NAMESPACE,
    image: str | None = None,
) -> Bundle:
    """The manifests for ``mode``; ConfigError when the config cannot run in a pod."""
    seed_namespace = _name(seed_namespace, "--seed-namespace", filename)
    # the kubernetes section decides the namespace, which the agent config needs (its
    # default config leaves the agent's own traffic out), so it is read first
    k8s = (
        validate_text(config_text, filename).kubernetes
        if config_text is not None
        else KubernetesConfig()
    )
    if image is not None:
        k8s = k8s.model_copy(update={"image": image})
    ns = _name(namespace or k8s.namespace, "--namespace", filename)
    if mode is Mode.seed:
        return Bundle(
            [objects.namespace(seed_namespace, {}), seed_daemonset(k8s, seed_namespace)],
            [
                "the seed's DaemonSet prints IG's JSON on stdout only; Container Insights "
                "(ContainerLogV2) must collect the namespace "
                f"{seed_namespace!r}"
            ],
        )
    agent_cfg = prepare(
        config_text, filename, mode, ns, seed_namespace, secret_name=k8s.credentials_secret
    )
    component = mode.value
    lbl = objects.labels(component, k8s.labels)
    select = objects.selector_labels(component)
    out: list[Manifest] = [
        objects.namespace(ns, objects.labels(component, k8s.labels)),
        objects.service_account(ns, lbl),
        objects.config_map(ns, lbl, CONFIG_FILE, agent_cfg.text),
        objects.service(ns, lbl, select, agent_cfg.port, k8s.scrape_annotations),
        daemonset(k8s, ns, mode, agent_cfg, lbl, select),
    ]
    if k8s.service_monitor if service_monitor is None else service_monitor:
        out.append(objects.service_monitor(ns, lbl))
    notes = list(agent_cfg.notes)
    if mode is Mode.sidecar:
        if with_seed:
            out = [
                objects.namespace(seed_namespace, {}),
                seed_daemonset(k8s, seed_namespace),
                *out,
            ]
        else:
            notes.append(
                f"the sidecar reads the logs of the seed's ig DaemonSet in namespace "
                f"{seed_namespace!r}; add --with-seed to write that DaemonSet too"
            )
    if seed_namespace == ns and with_seed:
        out = [m for i, m in enumerate(out) if not (m["kind"] == "Namespace" and i > 0)]
    return Bundle(out, notes)


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (the ConfigMap's agent config) as ``|`` blocks a person can read."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def render(manifests: Sequence[Manifest]) -> str:
    """One YAML stream: ``---`` between documents, keys in the order written."""
    return yaml.dump_all(
        list(manifests),
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        explicit_start=True,
        width=100,
    )
