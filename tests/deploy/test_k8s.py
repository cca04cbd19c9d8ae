"""``edgewatch deploy k8s``: manifests that the Kubernetes API accepts and that are safe.

Every manifest is validated with ``kubernetes-validate`` (strict: unknown fields are
errors) against the OpenAPI schemas of Kubernetes 1.29 to 1.33. The ServiceMonitor is a
CRD of the Prometheus Operator that those schemas do not contain; it is checked against
the fields of its CRD that the generator uses, below.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from typer.testing import CliRunner

from edgewatch.cli import app
from edgewatch.config import ConfigError, parse_config
from edgewatch.deploy.k8s.agentconfig import CONFIG_PATH, Mode, validate_text
from edgewatch.deploy.k8s.generate import Bundle, generate, render
from edgewatch.sources.ig.version import LATEST_KNOWN

ROOT = Path(__file__).resolve().parents[2]
VERSIONS = ["1.29.0", "1.30.0", "1.31.0", "1.32.0", "1.33.0"]
SECRET_VALUE = "s3cr3t-Value-that-must-never-appear"

AZURE_CONFIG = """\
node: ${NODE_NAME}
state_dir: /var/lib/edgewatch
sources:
  - type: ig
    gadgets: [trace_tcp, trace_dns]
sinks:
  - {type: store, path: /var/lib/edgewatch/store.duckdb}
destinations:
  - name: factory
    type: azure_logs_ingestion
    endpoint: https://factory-dce.westeurope-1.ingest.monitor.azure.com
    dcr_immutable_id: dcr-0123456789abcdef0123456789abcdef
    credential:
      type: client_secret
      tenant_id: ${AZURE_TENANT_ID}
      client_id: 00000000-0000-0000-0000-000000000001
      client_secret: ${AZURE_CLIENT_SECRET}
http:
  listen: 0.0.0.0:9500
kubernetes:
  namespace: edge-sec
  image: registry.example/edgewatch:1.2.3
  resources:
    limits: {cpu: 300m, memory: 384Mi}
  node_selector: {node-role.kubernetes.io/edge: "true"}
  tolerations:
    - {key: edge, operator: Equal, value: "true", effect: NoSchedule}
  priority_class: edge-critical
  service_monitor: true
"""

SIDECAR_CONFIG = """\
state_dir: /var/lib/edgewatch
sources:
  - type: cri
    paths: ["/var/log/containers/*_gadget_ig-*.log"]
sinks:
  - {type: stdout, format: normalized}
http:
  listen: "[::]:9464"
"""

SERVICE_MONITOR_SCHEMA: dict[str, Any] = {
    # the fields of monitoring.coreos.com/v1 ServiceMonitor the generator writes
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "ServiceMonitor"},
        "metadata": {"type": "object"},
        "spec": {
            "type": "object",
            "required": ["selector", "endpoints"],
            "additionalProperties": False,
            "properties": {
                "selector": {
                    "type": "object",
                    "properties": {
                        "matchLabels": {
                            "type": "object",
                            "additionalProperties": {"type": "string"},
                        }
                    },
                },
                "namespaceSelector": {
                    "type": "object",
                    "properties": {"matchNames": {"type": "array", "items": {"type": "string"}}},
                },
                "endpoints": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "port": {"type": "string"},
                            "path": {"type": "string"},
                            "interval": {
                                "type": "string",
                                "pattern": r"^(0|(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?)$",
                            },
                            "scrapeTimeout": {
                                "type": "string",
                                "pattern": r"^(0|(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?)$",
                            },
                        },
                    },
                },
            },
        },
    },
}


def bundles() -> dict[str, Bundle]:
    example = (ROOT / "examples" / "agent.yaml").read_text()
    return {
        "agent-default": generate(Mode.agent, service_monitor=True),
        "agent-example": generate(Mode.agent, example, "examples/agent.yaml"),
        "agent-azure": generate(Mode.agent, AZURE_CONFIG, "azure.yaml"),
        "sidecar-default": generate(Mode.sidecar),
        "sidecar-config": generate(Mode.sidecar, SIDECAR_CONFIG, "sidecar.yaml", with_seed=True),
        "seed": generate(Mode.seed),
    }


@pytest.fixture(scope="module")
def all_bundles() -> dict[str, Bundle]:
    return bundles()


def kinds(bundle: Bundle) -> list[str]:
    return [m["kind"] for m in bundle.manifests]


def one(bundle: Bundle, kind: str, name: str | None = None) -> dict[str, Any]:
    found = [
        m
        for m in bundle.manifests
        if m["kind"] == kind and (name is None or m["metadata"]["name"] == name)
    ]
    assert len(found) == 1, (kind, name, kinds(bundle))
    return found[0]


def containers(bundle: Bundle) -> list[dict[str, Any]]:
    return [
        c
        for m in bundle.manifests
        if m["kind"] == "DaemonSet"
        for c in m["spec"]["template"]["spec"]["containers"]
    ]


def runs_ig(container: dict[str, Any], bundle: Bundle) -> bool:
    """The container starts ``ig`` itself, or the agent whose config has an IG source."""
    if container.get("command", [""])[0] == "ig":
        return True
    if container["name"] != "edgewatch":
        return False
    text = one(bundle, "ConfigMap")["data"]["agent.yaml"]
    return any(s.get("type") == "ig" for s in yaml.safe_load(text)["sources"])


@pytest.mark.parametrize("version", VERSIONS)
def test_every_manifest_validates_against_the_kubernetes_schema(
    all_bundles: dict[str, Bundle], version: str
) -> None:
    checked = 0
    for name, bundle in all_bundles.items():
        # what kubectl reads: the rendered YAML stream, not the dicts
        for manifest in yaml.safe_load_all(render(bundle.manifests)):
            if manifest["kind"] == "ServiceMonitor":
                jsonschema.validate(manifest, SERVICE_MONITOR_SCHEMA)
                continue
            try:
                kubernetes_validate.validate(manifest, version, strict=True)
            except kubernetes_validate.ValidationError as exc:  # pragma: no cover - message
                pytest.fail(f"{name}: {manifest['kind']} invalid for {version}: {exc.message}")
            checked += 1
    assert checked >= 20


def test_the_validator_would_catch_a_broken_manifest(all_bundles: dict[str, Bundle]) -> None:
    ds = yaml.safe_load(render([one(all_bundles["agent-default"], "DaemonSet")]))
    ds["spec"]["template"]["spec"]["containers"][0]["securityContext"]["priviliged"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(ds, VERSIONS[0], strict=True)
    sm = one(all_bundles["agent-default"], "ServiceMonitor")
    broken = {**sm, "spec": {**sm["spec"], "endpoints": [{"port": "metrics", "interval": "30"}]}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, SERVICE_MONITOR_SCHEMA)


def test_each_mode_writes_what_it_needs(all_bundles: dict[str, Bundle]) -> None:
    agent = ["Namespace", "ServiceAccount", "ConfigMap", "Service", "DaemonSet"]
    assert kinds(all_bundles["agent-default"]) == [*agent, "ServiceMonitor"]
    assert kinds(all_bundles["sidecar-default"]) == agent
    assert kinds(all_bundles["sidecar-config"]) == ["Namespace", "DaemonSet", *agent]
    assert kinds(all_bundles["seed"]) == ["Namespace", "DaemonSet"]


def test_privileged_only_where_ig_runs(all_bundles: dict[str, Bundle]) -> None:
    seen_privileged = seen_plain = 0
    for name, bundle in all_bundles.items():
        for c in containers(bundle):
            sc = c.get("securityContext", {})
            if runs_ig(c, bundle):
                assert sc.get("privileged") is True, (name, c["name"])
                seen_privileged += 1
            else:
                assert sc.get("privileged") is False, (name, c["name"])
                assert sc["allowPrivilegeEscalation"] is False
                assert sc["capabilities"] == {"drop": ["ALL"]}
                seen_plain += 1
    assert seen_privileged and seen_plain


def test_agent_containers_have_a_read_only_root(all_bundles: dict[str, Bundle]) -> None:
    for name, bundle in all_bundles.items():
        for c in containers(bundle):
            if c["name"] == "edgewatch":
                assert c["securityContext"]["readOnlyRootFilesystem"] is True, name


def test_agent_mode_mounts_what_ig_reads(all_bundles: dict[str, Bundle]) -> None:
    ds = one(all_bundles["agent-default"], "DaemonSet")
    pod = ds["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m for m in pod["containers"][0]["volumeMounts"]}
    host = {path: volumes[m["name"]].get("hostPath", {}).get("path") for path, m in mounts.items()}
    assert host["/host"] == "/"
    assert host["/sys/kernel/debug"] == "/sys/kernel/debug"
    assert host["/run"] == "/run"
    assert mounts["/host"]["readOnly"] is True
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    assert env["HOST_ROOT"]["value"] == "/host"
    assert env["NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
    # state survives a restart: a host directory; IG's own scratch: an emptyDir
    assert "hostPath" in volumes[mounts["/var/lib/edgewatch"]["name"]]
    assert "emptyDir" in volumes[mounts["/var/lib/ig"]["name"]]


def test_sidecar_reads_the_node_logs_read_only(all_bundles: dict[str, Bundle]) -> None:
    ds = one(all_bundles["sidecar-default"], "DaemonSet")
    pod = ds["spec"]["template"]["spec"]
    mounts = {m["mountPath"]: m for m in pod["containers"][0]["volumeMounts"]}
    assert mounts["/var/log"]["readOnly"] is True
    assert "/host" not in mounts and "/run" not in mounts
    cfg = parse_config(one(all_bundles["sidecar-default"], "ConfigMap")["data"]["agent.yaml"])
    assert [s.type for s in cfg.sources] == ["cri"]
    assert cfg.sources[0].paths == ["/var/log/containers/*_gadget_ig-*.log"]  # type: ignore[union-attr]


def test_probes_and_ports_match_the_config(all_bundles: dict[str, Bundle]) -> None:
    for name, port in (("agent-default", 9464), ("agent-azure", 9500), ("sidecar-config", 9464)):
        bundle = all_bundles[name]
        c = next(c for c in containers(bundle) if c["name"] == "edgewatch")
        (p,) = c["ports"]
        assert p["containerPort"] == port, name
        assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": p["name"]}
        assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": p["name"]}
        assert c["args"] == ["run", "--config", CONFIG_PATH]
        svc = one(bundle, "Service", "edgewatch")
        assert svc["spec"]["ports"][0]["port"] == port
        assert svc["spec"]["selector"].items() <= (
            one(bundle, "DaemonSet", "edgewatch")["spec"]["template"]["metadata"]["labels"].items()
        )
        # as the pod will load it, its ${VAR}s filled from the Secret
        cfg = validate_text(one(bundle, "ConfigMap")["data"]["agent.yaml"], name)
        assert cfg.http.listen is not None and cfg.http.listen.endswith(f":{port}")


def test_kubernetes_section_drives_the_daemonset(all_bundles: dict[str, Bundle]) -> None:
    bundle = all_bundles["agent-azure"]
    namespaced = [m for m in bundle.manifests if m["kind"] != "Namespace"]
    assert {m["metadata"]["namespace"] for m in namespaced} == {"edge-sec"}
    pod = one(bundle, "DaemonSet")["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert c["image"] == "registry.example/edgewatch:1.2.3"
    assert c["resources"]["limits"] == {"cpu": "300m", "memory": "384Mi"}
    assert c["resources"]["requests"] == {"cpu": "100m", "memory": "192Mi"}
    assert pod["nodeSelector"] == {"node-role.kubernetes.io/edge": "true"}
    assert pod["tolerations"] == [
        {"operator": "Equal", "key": "edge", "value": "true", "effect": "NoSchedule"}
    ]
    assert pod["priorityClassName"] == "edge-critical"
    assert pod["serviceAccountName"] == "edgewatch"
    assert pod["automountServiceAccountToken"] is False
    assert one(bundle, "ServiceAccount")["automountServiceAccountToken"] is False


def test_no_secret_value_in_any_manifest(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_CLIENT_SECRET", SECRET_VALUE)
    monkeypatch.setenv("AZURE_TENANT_ID", "tenant-" + SECRET_VALUE)
    bundle = generate(Mode.agent, AZURE_CONFIG, "azure.yaml")
    text = render(bundle.manifests)
    assert SECRET_VALUE not in text
    assert "Secret" not in kinds(bundle)  # referenced, never written
    assert "${AZURE_CLIENT_SECRET}" in one(bundle, "ConfigMap")["data"]["agent.yaml"]
    env = {e["name"]: e for e in containers(bundle)[0]["env"]}
    for var in ("AZURE_CLIENT_SECRET", "AZURE_TENANT_ID"):
        assert env[var]["valueFrom"]["secretKeyRef"] == {
            "name": "edgewatch-credentials",
            "key": var,
        }
        assert "value" not in env[var]
    assert any("create secret generic edgewatch-credentials" in n for n in bundle.notes)
    assert all(SECRET_VALUE not in n for n in bundle.notes)


def test_a_secret_written_into_the_config_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    text = AZURE_CONFIG.replace("${AZURE_CLIENT_SECRET}", SECRET_VALUE)
    with pytest.raises(ConfigError) as info:
        generate(Mode.agent, text, "azure.yaml")
    (problem,) = info.value.problems
    assert problem.path == "destinations[0].credential.client_secret"
    assert "Secret" in problem.message
    assert SECRET_VALUE not in str(info.value)


@pytest.mark.parametrize(
    ("mode", "text", "where", "says"),
    [
        (
            Mode.agent,
            "sources: [{type: ig}]\nsinks: [{type: file, path: /data/out.ndjson}]\n",
            "sinks[0].path",
            "read-only",
        ),
        (
            Mode.agent,
            "sources: [{type: ig}]\nhttp: {listen: '127.0.0.1:9464'}\n",
            "http.listen",
            "0.0.0.0:9464",
        ),
        (Mode.agent, "sources: [{type: cri}]\n", "sources", "--mode sidecar"),
        (Mode.sidecar, "sources: [{type: ig}]\n", "sources", "cannot run IG"),
        (
            Mode.sidecar,
            "sources: [{type: cri, paths: [/data/*.log]}]\n",
            "sources[0].paths",
            "/var/log",
        ),
        (Mode.agent, "sources: [{type: ig, gadgets: [nope]}]\n", "sources[0].gadgets", "unknown"),
        (
            Mode.agent,
            "sources: [{type: ig}]\nsinks: [{type: store, path: /var/lib/edgewatch/s.duckdb}]\n"
            "dashboard: {enabled: true, listen: '0.0.0.0:8765', token_file: /run/t}\n",
            "dashboard",
            "port-forward",
        ),
    ],
)
def test_configs_that_cannot_run_in_the_pod_are_refused(
    mode: Mode, text: str, where: str, says: str
) -> None:
    with pytest.raises(ConfigError) as info:
        generate(mode, text, "agent.yaml")
    problem = info.value.problems[0]
    assert problem.path == where
    assert says in problem.message


def test_a_loopback_dashboard_is_reached_by_port_forward() -> None:
    bundle = generate(
        Mode.agent,
        "sources: [{type: ig}]\nsinks: [{type: store, path: /var/lib/edgewatch/s.duckdb}]\n"
        "dashboard: {enabled: true}\n",
        "agent.yaml",
    )
    assert any("port-forward pod/" in note and "8765" in note for note in bundle.notes)


def test_seed_daemonset_is_the_seeds_five_containers_pinned(all_bundles: dict[str, Bundle]) -> None:
    ds = one(all_bundles["seed"], "DaemonSet", "ig")
    assert ds["metadata"]["namespace"] == "gadget"
    cs = ds["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in cs] == ["ig-tcp", "ig-dns", "ig-sni", "ig-exec", "ig-seccomp"]
    for c in cs:
        assert c["resources"]["limits"] == {"cpu": "90m", "memory": "256Mi"}
        assert c["image"] == f"ghcr.io/inspektor-gadget/ig:{LATEST_KNOWN.tag}"
        assert c["command"][:2] == ["ig", "run"]
        assert c["command"][2].endswith(f":{LATEST_KNOWN.tag}")
        assert c["command"][3:] == ["-o", "json"]


def test_the_config_map_keeps_the_users_file_when_it_fits() -> None:
    text = "# tuned for the factory\n" + SIDECAR_CONFIG
    bundle = generate(Mode.sidecar, text, "sidecar.yaml")
    assert one(bundle, "ConfigMap")["data"]["agent.yaml"] == text


def test_cli_prints_manifests_for_kubectl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_CLIENT_SECRET", SECRET_VALUE)
    cfg = tmp_path / "agent.yaml"
    cfg.write_text(AZURE_CONFIG)
    result = CliRunner().invoke(app, ["deploy", "k8s", "-c", str(cfg), "--namespace", "tenant-a"])
    assert result.exit_code == 0, result.output
    docs = list(yaml.safe_load_all(result.stdout))
    assert [d["kind"] for d in docs][-1] == "ServiceMonitor"
    assert {d["metadata"].get("namespace", "tenant-a") for d in docs} == {"tenant-a"}
    assert SECRET_VALUE not in result.output
    assert "kubectl -n tenant-a create secret generic" in result.stderr

    bad = tmp_path / "bad.yaml"
    bad.write_text(AZURE_CONFIG.replace("${AZURE_CLIENT_SECRET}", SECRET_VALUE))
    result = CliRunner().invoke(app, ["deploy", "k8s", "-c", str(bad)])
    assert result.exit_code == 2
    assert "client_secret" in result.stderr
    assert SECRET_VALUE not in result.output


def test_cli_refuses_options_that_do_not_fit_the_mode() -> None:
    result = CliRunner().invoke(app, ["deploy", "k8s", "--with-seed"])
    assert result.exit_code == 2
    assert "--with-seed" in result.output
