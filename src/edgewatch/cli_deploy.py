"""``edgewatch deploy``: write what is deployed once, outside the nodes, for the agent.

The agent only posts records; the places they go to (a data collection rule, its
endpoint, the tables, the right to post) are created once per workspace by the user,
with their own Azure rights. This command writes that as a template they can read,
review and deploy with the tools they already use, instead of edgewatch asking for
rights on the subscription.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from edgewatch.cli import app
from edgewatch.events.registry import UnknownGadgetError, resolve

if TYPE_CHECKING:
    from collections.abc import Sequence

deploy = typer.Typer(
    help="Write what a destination needs deployed once, outside the nodes (Azure templates).",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
app.add_typer(deploy, name="deploy")


class TableLayoutName(StrEnum):
    """The table layouts of ``edgewatch.tables``; a choice, so typos fail before any work."""

    custom = "custom"
    asim = "asim"


class TablePlan(StrEnum):
    """The Log Analytics table plans a custom table can be created with."""

    Analytics = "Analytics"
    Basic = "Basic"


def _families(gadgets: Sequence[str]) -> list[str]:
    """Gadget families from any name IG or edgewatch uses for them, in order, once each."""
    families: list[str] = []
    for name in gadgets:
        try:
            family = resolve(name).family
        except UnknownGadgetError as exc:
            raise typer.BadParameter(str(exc), param_hint="--gadget") from None
        if family not in families:
            families.append(family)
    return families


def _table_names(overrides: Sequence[str]) -> dict[str, str]:
    """``GADGET=NAME`` pairs as family -> table; the layout checks the names themselves."""
    names: dict[str, str] = {}
    for item in overrides:
        gadget, sep, table = item.partition("=")
        if not sep or not gadget.strip() or not table.strip():
            raise typer.BadParameter(
                f"{item!r} is not GADGET=NAME (e.g. sni=EdgeWatchTls_CL)", param_hint="--table"
            )
        try:
            family = resolve(gadget).family
        except UnknownGadgetError as exc:
            raise typer.BadParameter(str(exc), param_hint="--table") from None
        names[family] = table.strip()
    return names


#: What the generator's messages talk about -> the option to fix; first match wins.
_OPTION_HINTS: tuple[tuple[str, str], ...] = (
    ("total_retention_days", "--total-retention-days"),
    ("retention_days", "--retention-days"),
    ("destination name", "--name"),
    ("table plan", "--plan"),
    ("table", "--table"),
    ("gadget", "--gadget"),
    ("stream", "--gadget"),
)


def _option_for(message: str) -> str | None:
    """The option a generator error is about, so the message names what to change."""
    return next((option for key, option in _OPTION_HINTS if key in message), None)


def _check_renamed(template: dict[str, Any], names: dict[str, str]) -> None:
    """Refuse a ``--table`` the layout did not apply, rather than ignore it silently.

    A layout renames only custom tables of the gadgets it routes; an override for a gadget
    that is left out, or that goes to a built-in ASIM table, would otherwise be dropped.
    """
    tables: dict[str, str] = template["outputs"]["tables"]["value"]
    for family, wanted in names.items():
        actual = tables.get(family)
        if actual is None:
            raise typer.BadParameter(
                f"{family}={wanted}: {family} is not among the gadgets deployed (see --gadget)",
                param_hint="--table",
            )
        if actual != wanted:
            raise typer.BadParameter(
                f"{family}={wanted}: {family} goes to the built-in table {actual}; only "
                "custom (_CL) tables can be renamed",
                param_hint="--table",
            )


def _next_steps(template_file: str, name: str, layout: str, with_dce: bool) -> str:
    """How to deploy the template and carry its outputs into the agent config."""
    endpoint = "dataCollectionEndpoint" if with_dce else "dataCollectionRuleEndpoint"
    return "\n".join(
        [
            "Next steps:",
            "  1. Deploy it once per workspace, into a resource group in the workspace's region:",
            f"       az deployment group create -g <resource-group> --name {name} \\",
            f"         --template-file {template_file} \\",
            "         --parameters workspaceResourceId=<workspace resource id> \\",
            "                      principalId=<object id of the agent's identity>",
            "  2. Read its outputs:",
            f"       az deployment group show -g <resource-group> --name {name} "
            "--query properties.outputs",
            "  3. Put them into the agent config's sink:",
            "       - type: azure_logs_ingestion",
            f"         layout: {layout}",
            f"         endpoint: <output {endpoint}>",
            "         dcr_immutable_id: <output dataCollectionRuleImmutableId>",
            "         streams: <output streams>",
        ]
    )


@deploy.command()
def azure(
    layout: Annotated[
        TableLayoutName,
        typer.Option(
            "--layout",
            help="custom: typed EdgeWatch*_CL tables. asim: Sentinel's ASim* tables, and "
            "custom tables for the gadgets ASIM has no schema for.",
        ),
    ] = TableLayoutName.custom,
    name: Annotated[
        str,
        typer.Option("--name", help="Destination name; also the prefix of the DCE and DCR names."),
    ] = "edgewatch",
    gadget: Annotated[
        Optional[list[str]],  # noqa: UP045 - typer needs Optional
        typer.Option(
            "--gadget",
            "-g",
            metavar="GADGET",
            help="A gadget to deliver (repeatable). Default: every gadget the layout routes.",
        ),
    ] = None,
    table: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option(
            "--table",
            metavar="GADGET=NAME",
            help="Name a gadget's custom table (repeatable), e.g. sni=EdgeWatchTls_CL.",
        ),
    ] = None,
    retention_days: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(
            "--retention-days",
            help="Interactive retention of the custom tables (4-730). Default: the workspace's.",
        ),
    ] = None,
    total_retention_days: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(
            "--total-retention-days",
            help="Total retention of the custom tables (4-4383). Default: the table's.",
        ),
    ] = None,
    plan: Annotated[
        TablePlan, typer.Option("--plan", help="Table plan of the custom tables.")
    ] = TablePlan.Analytics,
    no_dce: Annotated[
        bool,
        typer.Option(
            "--no-dce",
            help="No data collection endpoint: the agent posts to the DCR's own endpoint.",
        ),
    ] = False,
    alerts: Annotated[
        bool,
        typer.Option(
            "--alerts",
            help="Add the EdgeWatchAlert_CL table and stream for the agent's detections.",
        ),
    ] = False,
    output: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--output", "-o", help="Write the template here (default: stdout)."),
    ] = None,
) -> None:
    """Write the ARM template that prepares a Log Analytics workspace for the agent.

    Deployed once per workspace, it creates the data collection endpoint, the
    data collection rule (an input stream per table, and the transformation
    into the table), the custom tables of the layout, and the Monitoring
    Metrics Publisher role on the rule for the identity the agent signs in
    with. How to deploy it, and which of its outputs go into the agent config,
    is printed to stderr.

    Examples:

        edgewatch deploy azure -o edgewatch-azure.json

        edgewatch deploy azure --layout asim -g tcp -g dns -o sentinel.json

        edgewatch deploy azure --table sni=Tls_CL --retention-days 90 > t.json
    """
    from edgewatch.deploy.azure import arm_template

    families = _families(gadget) if gadget else None
    names = _table_names(table) if table else None
    try:
        template = arm_template(
            layout.value,
            name,
            families=families,
            table_names=names,
            retention_days=retention_days,
            total_retention_days=total_retention_days,
            plan=plan.value,
            data_collection_endpoint=not no_dce,
            alerts=alerts,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=_option_for(str(exc))) from None
    if names:
        _check_renamed(template, names)
    text = json.dumps(template, indent=2) + "\n"
    if output is None or str(output) == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        template_file = "<the template file>"
    else:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            typer.echo(f"cannot write {output}: {exc.strerror}", err=True)
            raise typer.Exit(2) from None
        template_file = str(output)
    typer.echo(_next_steps(template_file, name, layout.value, not no_dce), err=True)
