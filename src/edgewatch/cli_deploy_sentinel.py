"""``edgewatch deploy sentinel-content``: hunting queries and analytics rules for Sentinel."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from edgewatch.cli_deploy import deploy


@deploy.command("sentinel-content")
def sentinel_content(
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            help="Directory to write into: hunting/*.yaml and analytics/*.yaml.",
        ),
    ],
    sigma: Annotated[
        Optional[list[Path]],  # noqa: UP045 - typer needs Optional
        typer.Option(
            "--sigma",
            help="More Sigma rule files or directories to export (besides the bundled ones).",
        ),
    ] = None,
    no_bundled_sigma: Annotated[
        bool, typer.Option("--no-bundled-sigma", help="Leave the bundled Sigma rules out.")
    ] = False,
) -> None:
    """Export edgewatch's detection content as Microsoft Sentinel YAML.

    Every bundled hunting query becomes a Sentinel hunting query (it is KQL over
    ContainerLogV2, so it runs there unchanged). Every Sigma rule that translates to
    KQL becomes a scheduled analytics-rule template over the edgewatch custom tables,
    with host, process, IP and DNS entity mappings; one more rule turns the agent's
    own high-severity alerts (EdgeWatchAlert_CL) into incidents. Sigma rules that
    cannot be mapped are listed on stderr with the reason.

    The files follow the Azure-Sentinel repository's schema: commit them to a
    repository connected to Sentinel, or import them with your content tooling.

    Examples:

        edgewatch deploy sentinel-content -o sentinel/

        edgewatch deploy sentinel-content -o sentinel/ --sigma ./my-sigma-rules
    """
    from edgewatch.deploy.sentinel import export
    from edgewatch.detect import sigma as sigma_mod
    from edgewatch.hunt.catalog import bundled

    loaded = sigma_mod.load(bundled=not no_bundled_sigma, paths=sigma or [])
    done = export(output, bundled(), loaded.rules)
    for problem in loaded.unmapped:
        print(f"not exported: {problem}", file=sys.stderr)
    print(
        f"wrote {len(done.hunting)} hunting queries to {output / 'hunting'} and "
        f"{len(done.analytics)} analytics rules to {output / 'analytics'}",
        file=sys.stderr,
    )
