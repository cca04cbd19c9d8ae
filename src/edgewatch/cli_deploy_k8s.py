"""``edgewatch deploy k8s``: the manifests that run the agent on every node."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from edgewatch.cli_deploy import deploy
from edgewatch.deploy.k8s.agentconfig import Mode


@deploy.command("k8s")
def k8s(
    config: Annotated[
        Optional[Path],  # noqa: UP045 - typer needs Optional
        typer.Option(
            "--config",
            "-c",
            help="The agent config to put in the ConfigMap (its 'kubernetes:' section sets "
            "image, resources, node selector, tolerations...). Default: the seed's five "
            "gadgets, its noise filters, IG's JSON on stdout.",
        ),
    ] = None,
    namespace: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--namespace", "-n", help="Namespace of the agent (default: kubernetes.namespace)."
        ),
    ] = None,
    mode: Annotated[
        Mode,
        typer.Option(
            "--mode",
            help="agent: the agent runs IG (one privileged container per node). sidecar: "
            "the agent tails the seed's ig DaemonSet's container logs (unprivileged). "
            "seed: only the seed's plain multi-gadget ig DaemonSet (stdout path).",
        ),
    ] = Mode.agent,
    service_monitor: Annotated[
        Optional[bool],  # noqa: UP045
        typer.Option(
            "--service-monitor/--no-service-monitor",
            help="Also write a Prometheus Operator ServiceMonitor "
            "(default: kubernetes.service_monitor).",
        ),
    ] = None,
    image: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--image", help="The edgewatch image (default: kubernetes.image)."),
    ] = None,
    with_seed: Annotated[
        bool,
        typer.Option("--with-seed", help="sidecar mode: also write the seed's ig DaemonSet."),
    ] = False,
    seed_namespace: Annotated[
        str,
        typer.Option("--seed-namespace", help="Namespace of the seed's ig DaemonSet."),
    ] = "gadget",
    output: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--output", "-o", help="Write the manifests here (default: stdout)."),
    ] = None,
) -> None:
    """Print the Kubernetes manifests that run edgewatch on every node, for kubectl apply.

    Namespace, ServiceAccount (no API token: the agent needs no RBAC), the ConfigMap
    with the agent config (checked first: a config that cannot run in the pod is
    refused here, with the reason), the headless metrics Service, optionally a
    ServiceMonitor, and the DaemonSet with probes on /healthz and /readyz.

    Credentials never appear in the output: write them in the config as ${VAR}; the
    DaemonSet takes each VAR from a key of the Secret named by
    kubernetes.credentials_secret (the command to create it is printed to stderr).

    Examples:

        edgewatch deploy k8s -c agent.yaml | kubectl apply -f -

        edgewatch deploy k8s --mode sidecar --with-seed -o edgewatch.yaml

        edgewatch deploy k8s --mode seed | kubectl apply -f -
    """
    from edgewatch.cli import err
    from edgewatch.config import ConfigError
    from edgewatch.deploy.k8s.generate import generate, render

    if with_seed and mode is not Mode.sidecar:
        raise typer.BadParameter(
            "only --mode sidecar reads the seed's DaemonSet; --mode seed writes it alone",
            param_hint="--with-seed",
        )
    text = None
    filename = "config"
    if config is not None:
        try:
            text = config.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            typer.echo(f"cannot read {config}: {getattr(exc, 'strerror', None) or exc}", err=True)
            raise typer.Exit(2) from None
        filename = str(config)
    try:
        bundle = generate(
            mode,
            text,
            filename,
            namespace=namespace,
            service_monitor=service_monitor,
            with_seed=with_seed,
            seed_namespace=seed_namespace,
            image=image,
        )
    except ConfigError as exc:
        typer.echo(f"cannot deploy {filename} in {mode} mode:", err=True)
        for p in exc.problems:
            typer.echo(f"  {p}", err=True)
        raise typer.Exit(2) from None
    manifests = render(bundle.manifests)
    if output is None or str(output) == "-":
        sys.stdout.write(manifests)
        sys.stdout.flush()
    else:
        try:
            output.write_text(manifests, encoding="utf-8")
        except OSError as exc:
            typer.echo(f"cannot write {output}: {exc.strerror}", err=True)
            raise typer.Exit(2) from None
        err.print(f"wrote {len(bundle.manifests)} manifests to {output}")
    for note in bundle.notes:
        typer.echo(f"note: {note}", err=True)
