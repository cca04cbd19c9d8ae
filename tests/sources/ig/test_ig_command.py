"""The argv edgewatch gives ig and gadgetctl, per IG version (no processes started)."""

from __future__ import annotations

import pytest

from edgewatch.events.registry import resolve
from edgewatch.sources.ig import command
from edgewatch.sources.ig.selectors import Selectors
from edgewatch.sources.ig.version import IgVersion, parse_version

TCP = resolve("trace_tcp")
V044 = IgVersion(0, 44, 0)
V045 = IgVersion(0, 45, 0)
V047 = IgVersion(0, 47, 2)
V048 = IgVersion(0, 48, 0)
V055 = IgVersion(0, 55, 1)

ALL = Selectors(
    namespaces=("shop",),
    exclude_namespaces=("kube-system",),
    pods=("api-0",),
    containers=("api", "sidecar"),
    labels=(("app", "api"), ("tier", "web")),
)


def run_flags(selectors: Selectors, version: IgVersion) -> list[str]:
    push = command.pushdown(selectors, version)
    argv = command.run_argv("ig", "trace_tcp", flags=push.flags)
    return argv[argv.index("json") + 1 :]


def test_no_selectors_no_flags() -> None:
    push = command.pushdown(Selectors(), V055)
    assert push == command.Pushdown()
    assert command.run_argv("ig", "img") == ["ig", "run", "img", "-o", "json"]


def test_044_pushes_nothing_and_says_why() -> None:
    push = command.pushdown(ALL, V044)
    assert push.flags == ()
    assert len(push.not_pushed) == 1
    assert "0.45.0" in push.not_pushed[0]


def test_045_pushes_single_values_only() -> None:
    push = command.pushdown(ALL, V045)
    assert list(push.flags) == [
        "--k8s-namespace=shop",
        "--k8s-podname=api-0",
        "--k8s-selector=app=api,tier=web",
    ]
    reasons = " / ".join(push.not_pushed)
    assert "exclusion kube-system" in reasons
    assert "containers api,sidecar" in reasons


def test_047_cannot_exclude_only() -> None:
    push = command.pushdown(Selectors(exclude_pods=("noisy",)), V047)
    assert push.flags == ()
    assert push.not_pushed and "0.48.0" in push.not_pushed[0]


def test_048_pushes_lists_and_exclusions() -> None:
    assert run_flags(ALL, V048) == [
        "--k8s-namespace=shop,!kube-system",
        "--k8s-podname=api-0",
        "--k8s-containername=api,sidecar",
        "--k8s-selector=app=api,tier=web",
    ]
    assert command.pushdown(ALL, V048).not_pushed == ()


def test_values_ig_would_misread_are_not_pushed() -> None:
    push = command.pushdown(
        Selectors(namespaces=("a,b",), labels=(("app", "x"), ("app", "y"), ("k", "!v"))), V055
    )
    assert push.flags == ("--k8s-selector=app=x",)
    assert len(push.not_pushed) == 3


def test_run_argv_order_host_and_params() -> None:
    argv = command.run_argv(
        "/usr/bin/ig",
        "ghcr.io/inspektor-gadget/gadget/trace_tcp:v0.55.1",
        flags=("--k8s-namespace=shop",),
        host=True,
        params=("--connect-only",),
    )
    assert argv == [
        "/usr/bin/ig",
        "run",
        "ghcr.io/inspektor-gadget/gadget/trace_tcp:v0.55.1",
        "-o",
        "json",
        "--k8s-namespace=shop",
        "--host",
        "--connect-only",
    ]


@pytest.mark.parametrize(
    ("prefix", "tag", "expected"),
    [
        (
            command.DEFAULT_IMAGE_PREFIX,
            "v0.55.1",
            "ghcr.io/inspektor-gadget/gadget/trace_tcp:v0.55.1",
        ),
        ("", "latest", "trace_tcp:latest"),
        ("registry.local/gadgets/", None, "registry.local/gadgets/trace_tcp"),
    ],
)
def test_image_ref(prefix: str, tag: str | None, expected: str) -> None:
    assert command.image_ref(TCP, prefix, tag) == expected


def test_daemon_and_gadgetctl_argv() -> None:
    assert command.daemon_argv("ig", "/w/ig-config.yaml", "/w/ig.sock", V055) == [
        "ig",
        "daemon",
        "--config=/w/ig-config.yaml",
        "--host=unix:///w/ig.sock",
        "--tls-insecure",
    ]
    # --tls-insecure appeared (and became necessary) in 0.53.0; 0.51/0.52 reject it.
    assert "--tls-insecure" not in command.daemon_argv("ig", "c", "s", IgVersion(0, 52, 0))
    assert command.gadgetctl_run_argv(
        "gadgetctl",
        "trace_tcp:v0.55.1",
        "unix:///w/ig.sock",
        command.instance_name(TCP),
        flags=("--k8s-podname=api-0",),
        host=True,
        params=("--failure-only",),
    ) == [
        "gadgetctl",
        "run",
        "trace_tcp:v0.55.1",
        "--detach",
        "--name=edgewatch-tcp",
        "--tags=edgewatch",
        "--remote-address=unix:///w/ig.sock",
        "--k8s-podname=api-0",
        "--host",
        "--failure-only",
    ]
    assert command.gadgetctl_delete_argv("gadgetctl", "unix:///s", ["a", "b"]) == [
        "gadgetctl",
        "delete",
        "a",
        "b",
        "--remote-address=unix:///s",
    ]


def test_logs_config_enables_the_logs_operator_on_stdout() -> None:
    text = command.logs_config_yaml()
    body = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    assert body == [
        "operator:",
        "logs:",
        "enabled: true",
        "channel: stdout",
        "format: json",
        "mode: all",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("v0.55.1\n", IgVersion(0, 55, 1)),
        ("0.48.0", IgVersion(0, 48, 0)),
        ("v0.51.0-rc.1-3-gabcdef", IgVersion(0, 51, 0)),
        ("v0.0.0\n", None),
        ("", None),
        ("ig version unknown", None),
    ],
)
def test_parse_version(text: str, expected: IgVersion | None) -> None:
    assert parse_version(text) == expected
