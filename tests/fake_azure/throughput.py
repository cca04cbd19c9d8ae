"""Throughput of the Azure delivery path against the fake, for the numbers in reports.

    .venv/bin/python -m tests.fake_azure.throughput [records] [rounds]

The fake runs in a child process so its JSON parsing does not share our GIL. Measured:
planning alone (encode + chunk + gzip), ``AzureDelivery.send`` end to end over TLS,
``AzureDelivery.send_encoded`` of the same records already encoded (the agent's path from
its disk buffer), and the SDK's own ``upload(list)`` path on the same client. Timings are
printed, never asserted.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import msgspec
import trustme

DCR = "dcr-" + "ab" * 16
STREAM = "Custom-EdgeWatchNetwork"
MI = "6d7a4e0c-1b0e-4a51-9c7e-5f0d1f3f0a01"


def rows(n: int) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        out.append(
            {
                "TimeGenerated": f"2026-11-27T01:{(i // 60) % 60:02d}:{i % 60:02d}.{i % 1000:03d}Z",
                "Computer": f"edge-node-{i % 7}",
                "PodNamespace": ("shop", "kube-system", "payments")[i % 3],
                "PodName": f"checkout-7d9f{i % 97:02d}-x{i % 13}",
                "ContainerName": "app",
                "ContainerImage": "registry.example/shop/checkout:1.42.7",
                "SrcIpAddr": f"10.42.{i % 256}.{(i * 7) % 256}",
                "SrcPortNumber": 32768 + i % 28000,
                "DstIpAddr": f"20.{(i * 3) % 256}.{(i * 11) % 256}.{(i * 13) % 256}",
                "DstPortNumber": (443, 53, 8080, 5432)[i % 4],
                "DstHostname": ("api.example.com", "db.internal", "login.example.net")[i % 3],
                "NetworkProtocol": "TCP",
                "NetworkDirection": "Outbound",
                "EventType": "EndpointNetworkSession",
                "EventCount": 1 + i % 5,
                "ProcessName": ("curl", "python3", "java", "nginx")[i % 4],
                "ProcessId": 1000 + i % 30000,
                "ParentProcessName": "bash",
                "UserId": 1000,
                "Seq": i,
            }
        )
    return out


def _serve(conn: Connection) -> None:
    from tests.fake_azure import FakeAzure

    ca = trustme.CA()
    path = Path(tempfile.mkdtemp()) / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    with FakeAzure(ca) as fake:
        fake.add_dcr(DCR, [STREAM])
        fake.system_identity(MI, grant=[DCR])
        conn.send((fake.endpoint, str(path), fake.imds_env()))
        while True:
            cmd = conn.recv()
            if cmd == "count":
                conn.send((len(fake.rows(DCR, STREAM)), len(fake.calls)))
            elif cmd == "reset":
                fake.reset()
                conn.send(None)
            else:
                return


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    parent, child = mp.Pipe()
    proc = mp.get_context("fork").Process(target=_serve, args=(child,), daemon=True)
    proc.start()
    endpoint, ca_path, env = parent.recv()
    os.environ.update(env)

    from edgewatch.sinks.azure import AzureDelivery, AzureLogsIngestionConfig
    from edgewatch.sinks.azure.batch import Batcher

    data = rows(n)
    size = len(msgspec.json.encode(data)) / n
    cfg = AzureLogsIngestionConfig(endpoint=endpoint, dcr_immutable_id=DCR, ca_bundle=Path(ca_path))
    print(f"{n} records, {size:.0f} B JSON each, {rounds} rounds (median)")

    plan_t, send_t, enc_t, sdk_t = [], [], [], []
    encoded = [msgspec.json.encode(r) for r in data]
    batcher = Batcher(cfg.batch.limits())
    plan = batcher.plan(data)
    wire = sum(len(c.body) for c in plan.chunks)
    for _ in range(rounds):
        t = time.perf_counter()
        batcher.plan(data)
        plan_t.append(time.perf_counter() - t)
    with AzureDelivery(cfg) as dlv:
        dlv.send(STREAM, data[:10])  # token + connection, outside the timing
        for _ in range(rounds):
            parent.send("reset")
            parent.recv()
            t = time.perf_counter()
            out = dlv.send(STREAM, data)
            send_t.append(time.perf_counter() - t)
            assert out.complete and out.delivered == n
            parent.send("count")
            got, calls = parent.recv()
            assert got == n, got
        for _ in range(rounds):
            parent.send("reset")
            parent.recv()
            t = time.perf_counter()
            out = dlv.send_encoded(STREAM, encoded)
            enc_t.append(time.perf_counter() - t)
            assert out.complete and out.delivered == n
        client = dlv._client  # the same SDK client, through its own list path
        for _ in range(rounds):
            t = time.perf_counter()
            client.upload(rule_id=DCR, stream_name=STREAM, logs=data)
            sdk_t.append(time.perf_counter() - t)

    def rate(ts: list[float]) -> str:
        med = statistics.median(ts)
        return f"{n / med:>10,.0f} records/s  ({med * 1000:7.1f} ms)"

    print(
        f"requests per batch: {calls}, gzip on wire {wire / n:.1f} B/record "
        f"(ratio {size * n / wire:.1f}x)"
    )
    print(f"plan (encode+chunk+gzip):       {rate(plan_t)}")
    print(f"AzureDelivery.send -> fake:     {rate(send_t)}")
    print(f"  send_encoded -> fake:         {rate(enc_t)}")
    print(f"SDK upload(list) -> fake:       {rate(sdk_t)}")
    parent.send("stop")
    proc.join(timeout=5)


if __name__ == "__main__":
    main()
