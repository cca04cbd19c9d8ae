"""Delivery benchmark; writes the "Delivery to Sentinel" section of BENCHMARKS.md.

    python -m bench.delivery                      # 200,000 events, 3 runs
    python -m bench.delivery --events 50000 --runs 2 --output /tmp/B.md

The agent path: ``edgewatch run --once`` (a real process) reads simulated IG output,
shapes the custom-table records, appends them to the disk buffer and delivers them over
TLS to the local Logs Ingestion API stand-in (``tests/fake_azure``, in this process),
then exits when everything is acknowledged. Next to it, in the same rounds, the
transport alone (``AzureDelivery.send`` of the same records, already built) to the same
server: the part of the cost that is HTTP, gzip and the server, not edgewatch's.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- delivery:begin -->", "<!-- delivery:end -->"
MI = "6d7a4e0c-1b0e-4a51-9c7e-5f0d1f3f0a01"


def main() -> None:
    ap = argparse.ArgumentParser(
        prog="python -m bench.delivery",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    args = ap.parse_args()

    import trustme
    from tests.fake_azure import FakeAzure, random_dcr_id

    from bench.store import write_section
    from edgewatch import simulate
    from edgewatch.decode.decoder import LineDecoder
    from edgewatch.sinks.azure import AzureDelivery, AzureLogsIngestionConfig
    from edgewatch.tables import LAYOUTS

    tmp = Path(tempfile.mkdtemp(prefix="edgewatch-bench-"))
    capture = tmp / "capture.ndjson"
    with open(capture, "wb") as fh:
        simulate.write(simulate.generate(args.events, seed=3), fh, "current")
    layout = LAYOUTS["custom"]
    streams = sorted({layout.stream_for(f) for f in ("tcp", "dns", "sni", "exec", "seccomp")})
    events = LineDecoder(node="bench").decode(capture.read_bytes().splitlines()).events
    records = layout.records(events)
    ca = trustme.CA()
    bundle = tmp / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    agent_rates: list[float] = []
    transport_rates: list[float] = []
    with FakeAzure(ca) as fake:
        fake.set_limits(requests_per_minute=10**7, bytes_per_minute=10**13)
        env = {**os.environ, **fake.imds_env()}
        for key in ("IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_ENDPOINT", "IMDS_ENDPOINT"):
            env.pop(key, None)
        os.environ.update(fake.imds_env())
        for run in range(args.runs):
            dcr = random_dcr_id()
            fake.add_dcr(dcr, streams)
            fake.system_identity(MI, grant=[dcr])
            state = tmp / f"state-{run}"
            cfg = tmp / f"agent-{run}.yaml"
            cfg.write_text(
                f"state_dir: {state}\nsources: [{{type: file, path: {capture}}}]\n"
                "sinks: []\ndestinations:\n"
                f"  - {{name: ws, type: azure_logs_ingestion, endpoint: {fake.endpoint}, "
                f"dcr_immutable_id: {dcr}, layout: custom, "
                f"credential: {{type: managed_identity}}, ca_bundle: {bundle}}}\n"
            )
            started = time.perf_counter()
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "edgewatch",
                    "run",
                    "-c",
                    str(cfg),
                    "--once",
                    "--log-level",
                    "warning",
                ],
                env=env,
                check=True,
                cwd=ROOT,
            )
            wall = time.perf_counter() - started
            delivered = sum(len(fake.rows(dcr, s)) for s in streams)
            if delivered != args.events:
                raise SystemExit(f"run {run}: {delivered:,} of {args.events:,} delivered")
            agent_rates.append(delivered / wall)

            dcr2 = random_dcr_id()
            fake.add_dcr(dcr2, streams)
            fake.grant(MI, dcr2)
            cfg2 = AzureLogsIngestionConfig.model_validate(
                {
                    "type": "azure_logs_ingestion",
                    "name": "ws",
                    "endpoint": fake.endpoint,
                    "dcr_immutable_id": dcr2,
                    "ca_bundle": str(bundle),
                }
            )
            with AzureDelivery(cfg2) as dlv:
                started = time.perf_counter()
                for stream, recs in records.items():
                    outcome = dlv.send(stream, recs)
                    if outcome.retry is not None:
                        raise SystemExit(f"transport run {run}: {outcome.retry}")
                wall = time.perf_counter() - started
            transport_rates.append(args.events / wall)
            print(
                f"run {run + 1}: agent {agent_rates[-1]:,.0f}/s, "
                f"transport alone {transport_rates[-1]:,.0f}/s",
                file=sys.stderr,
            )
    ratio = statistics.median(a / t for a, t in zip(agent_rates, transport_rates, strict=True))
    agent = statistics.median(agent_rates)
    section = "\n".join(
        [
            BEGIN,
            "## Delivery to Sentinel (local Logs Ingestion API stand-in)",
            "",
            f"`python -m bench.delivery --events {args.events} --runs {args.runs}`; medians. "
            "The agent is a real `edgewatch run --once` process (start-up included): "
            "decode, custom-table records, disk buffer (fsync per batch), delivery over "
            "TLS with gzip. The transport alone sends the same records, already built, "
            "to the same server, in the same rounds. The server is Python on the same two "
            "cores, so both rates include its share.",
            "",
            "| path | events/s |",
            "|---|---:|",
            f"| agent: buffered and delivered | {agent:,.0f} |",
            f"| transport alone (`AzureDelivery.send`) | "
            f"{statistics.median(transport_rates):,.0f} |",
            "",
            f"agent / transport alone, same round: {ratio:.2f}. Target ≥ 100,000 events/s "
            f"buffered and delivered: {'met' if agent >= 100_000 else '**not met**'}.",
            "",
            END,
        ]
    )
    write_section(args.output, section, BEGIN, END)
    print(f"wrote {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
