"""``edgewatch deploy azure`` run as a user runs it: the template it writes, and its advice."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

from edgewatch.tables import LAYOUTS
from tests.test_cli import run

DCE = "Microsoft.Insights/dataCollectionEndpoints"
DCR = "Microsoft.Insights/dataCollectionRules"
ROLE = "Microsoft.Authorization/roleAssignments"
DEPLOYMENT = "Microsoft.Resources/deployments"
TABLE = "Microsoft.OperationalInsights/workspaces/tables"


def types(template: dict[str, Any]) -> set[str]:
    """Resource types, including those of the nested deployment that creates the tables."""
    found: set[str] = set()
    for res in template["resources"]:
        found.add(res["type"])
        if res["type"] == DEPLOYMENT:
            found |= {r["type"] for r in res["properties"]["template"]["resources"]}
    return found


def the(template: dict[str, Any], kind: str) -> dict[str, Any]:
    (found,) = [r for r in template["resources"] if r["type"] == kind]
    return found


def tables(template: dict[str, Any]) -> set[str]:
    return {
        r["properties"]["schema"]["name"]
        for res in template["resources"]
        if res["type"] == DEPLOYMENT
        for r in res["properties"]["template"]["resources"]
        if r["type"] == TABLE
    }


def streams(template: dict[str, Any]) -> set[str]:
    return set(the(template, DCR)["properties"]["streamDeclarations"])


def said(out: subprocess.CompletedProcess[str]) -> str:
    """stderr as one line: error panels wrap long messages at the terminal width."""
    return " ".join(out.stderr.replace("│", " ").split())


def deploy(args: list[str], tmp_path: Path) -> tuple[dict[str, Any], str]:
    """Run the command writing to a file; the template and the next-steps text."""
    target = tmp_path / "azure.json"
    out = run(["deploy", "azure", *args, "-o", str(target)])
    assert out.returncode == 0, out.stderr
    assert out.stdout == ""
    text = target.read_text(encoding="utf-8")
    assert text.endswith("}\n") and "\n  " in text  # indented, one trailing newline
    return json.loads(text), out.stderr


def test_custom_layout_template_and_next_steps(tmp_path: Path) -> None:
    template, steps = deploy([], tmp_path)
    assert types(template) == {DCE, DCR, ROLE, DEPLOYMENT, TABLE}
    layout = LAYOUTS["custom"]
    assert streams(template) == {s.name for s in layout.streams()}
    assert tables(template) == {s.table for s in layout.streams()}
    assert all(f["transformKql"] for f in the(template, DCR)["properties"]["dataFlows"])

    assert "az deployment group create -g <resource-group>" in steps
    assert f"--template-file {tmp_path / 'azure.json'}" in steps
    assert "workspaceResourceId=" in steps and "principalId=" in steps
    assert "endpoint: <output dataCollectionEndpoint>" in steps
    assert "dcr_immutable_id: <output dataCollectionRuleImmutableId>" in steps
    assert "layout: custom" in steps
    # every output the advice names is one the template has
    named = re.findall(r"<output (\w+)>", steps)
    assert named and set(named) <= set(template["outputs"])
    # and every parameter it asks for is one the template declares
    asked = re.findall(r"(\w+)=<", steps)
    assert asked == ["workspaceResourceId", "principalId"]
    assert set(asked) <= set(template["parameters"])


def test_asim_layout_adds_no_table_for_asim_gadgets(tmp_path: Path) -> None:
    template, steps = deploy(["--layout", "asim", "-g", "tcp", "-g", "dns", "-g", "exec"], tmp_path)
    assert types(template) == {DCE, DCR, ROLE}  # Sentinel already has the ASim* tables
    outputs = {f["outputStream"] for f in the(template, DCR)["properties"]["dataFlows"]}
    assert outputs == {
        "Microsoft-ASimNetworkSessionLogs",
        "Microsoft-ASimDnsActivityLogs",
        "Microsoft-ASimProcessEventLogs",
    }
    assert "layout: asim" in steps
    # gadgets ASIM has no schema for still get custom tables
    template, _ = deploy(["--layout", "asim", "-g", "tcp", "-g", "open"], tmp_path)
    assert TABLE in types(template)
    assert tables(template) == {LAYOUTS["asim"].table_for("open")}


def test_gadget_narrows_the_streams(tmp_path: Path) -> None:
    template, _ = deploy(["-g", "tcp", "--gadget", "trace_dns", "-g", "dns"], tmp_path)
    layout = LAYOUTS["custom"]
    assert streams(template) == {layout.stream_for("tcp"), layout.stream_for("dns")}
    assert set(template["outputs"]["streams"]["value"]) == {"tcp", "dns"}
    assert tables(template) == {layout.table_for("tcp"), layout.table_for("dns")}


def test_table_override_and_options(tmp_path: Path) -> None:
    template, steps = deploy(
        [
            "--table",
            "sni=TlsHandshakes_CL",
            "--name",
            "sentinel-eu",
            "--retention-days",
            "90",
            "--total-retention-days",
            "365",
            "--plan",
            "Basic",
            "--no-dce",
        ],
        tmp_path,
    )
    assert "TlsHandshakes_CL" in tables(template)
    assert "Custom-TlsHandshakes_CL" in streams(template)
    assert template["outputs"]["tables"]["value"]["sni"] == "TlsHandshakes_CL"
    params = template["parameters"]
    assert params["dataCollectionRuleName"]["defaultValue"] == "sentinel-eu-dcr"
    assert params["retentionInDays"]["defaultValue"] == 90
    assert params["totalRetentionInDays"]["defaultValue"] == 365
    assert params["tablePlan"]["defaultValue"] == "Basic"
    assert DCE not in types(template)
    # without a DCE the agent posts to the rule's own endpoint
    assert "endpoint: <output dataCollectionRuleEndpoint>" in steps
    assert "--name sentinel-eu" in steps


def test_template_on_stdout_without_output() -> None:
    out = run(["deploy", "azure", "-g", "seccomp"])
    assert out.returncode == 0, out.stderr
    assert out.stdout.endswith("}\n")
    template = json.loads(out.stdout)  # nothing but the template on stdout
    assert types(template) == {DCE, DCR, ROLE, DEPLOYMENT, TABLE}
    assert "Next steps" in out.stderr and "az deployment group create" in out.stderr


def test_bad_arguments_give_readable_errors() -> None:
    cases = [
        (["-g", "trace_nothing"], ["--gadget", "unknown gadget 'trace_nothing'"]),
        (["--layout", "flat"], ["--layout", "'flat' is not one of 'custom', 'asim'"]),
        (["--table", "sni"], ["--table", "GADGET=NAME"]),
        (["--table", "sni=Tls"], ["--table", "must end with _CL"]),
        (["--layout", "asim", "--table", "tcp=Net_CL"], ["--table", "ASimNetworkSessionLogs"]),
        (["-g", "dns", "--table", "sni=Tls_CL"], ["--table", "not among the gadgets deployed"]),
        (["--name", "no spaces"], ["--name", "1-32 letters"]),
        (["--retention-days", "2"], ["--retention-days", "between 4 and 730"]),
    ]
    for args, expected in cases:
        out = run(["deploy", "azure", *args])
        assert out.returncode == 2, (args, out.stderr)
        assert out.stdout == "", args
        message = said(out)
        for text in expected:
            assert text in message, (args, message)
        assert "Traceback" not in out.stderr


def test_help_explains_with_an_example() -> None:
    out = run(["deploy", "azure", "--help"])
    assert out.returncode == 0, out.stderr
    assert "Example" in out.stdout
    assert "edgewatch deploy azure -o" in out.stdout
    group = run(["deploy", "--help"])
    assert group.returncode == 0 and "azure" in group.stdout
