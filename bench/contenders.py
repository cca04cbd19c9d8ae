"""One function per contender; each reads ``src``, writes kept lines to ``dst`` and
returns (lines in, lines out). They run in a fresh process pinned to one core."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import BinaryIO

import msgspec

from bench.cases import EDGEWATCH_FILTERS, keep


def edgewatch_path(src: list[Path], dst: BinaryIO, fmt: str, per_gadget: bool) -> tuple[int, int]:
    """The real agent path: NDJSON source -> runtime -> decode -> filter -> stdout sink."""
    from edgewatch.agent import build_pipeline
    from edgewatch.config import parse_config
    from edgewatch.events import resolve
    from edgewatch.pipeline.runtime import Runtime
    from edgewatch.sinks.stdout import StdoutSink
    from edgewatch.sources.ndjson import NdjsonSource

    cfg = parse_config(EDGEWATCH_FILTERS + "dead_letter: {enabled: false}\n")
    sink = StdoutSink(fmt, stream=dst, name="out")  # type: ignore[arg-type]
    pipeline, _ = build_pipeline(cfg, sinks=[sink])
    if per_gadget:
        # one stream per gadget, like the seed's one ig container per gadget (or run mode)
        sources = [
            NdjsonSource([str(p)], gadget=resolve(p.name.split(".")[0]), name=p.name) for p in src
        ]
    else:
        sources = [NdjsonSource([str(p) for p in src], name="input")]
    Runtime(sources, pipeline).run()
    pipeline.close()
    stats = pipeline.stats
    out = sum(n for (s, _), n in stats.events_out.items() if s == "out")
    return stats.lines_in, out


def json_loads_pipeline(src: list[Path], dst: BinaryIO) -> tuple[int, int]:
    """What one writes first: json.loads every line, test, write the line back."""
    n_in = n_out = 0
    for path in src:
        with open(path, "rb") as fh:
            for line in fh:
                n_in += 1
                if keep(json.loads(line)):
                    dst.write(line)
                    n_out += 1
    return n_in, n_out


class _Addr(msgspec.Struct, gc=False):
    addr: str = ""


class _K8s(msgspec.Struct, gc=False):
    namespace: str = ""


class _Needed(msgspec.Struct, gc=False):
    k8s: _K8s = msgspec.field(default_factory=_K8s)
    qr: str | None = None
    name: str = ""
    accept_fd: int | None = None
    dst: _Addr = msgspec.field(default_factory=_Addr)
    src: _Addr = msgspec.field(default_factory=_Addr)
    nameserver: _Addr = msgspec.field(default_factory=_Addr)


def _lo(addr: str) -> bool:
    return addr.startswith("127.") or addr == "::1"


def bare_msgspec_loop(src: list[Path], dst: BinaryIO) -> tuple[int, int]:
    """The near-floor for Python: decode only the needed fields, no framing, no checks."""
    decode = msgspec.json.Decoder(_Needed).decode
    n_in = n_out = 0
    for path in src:
        with open(path, "rb") as fh:
            for line in fh:
                n_in += 1
                e = decode(line)
                if e.k8s.namespace == "kube-system":
                    continue
                if e.qr is not None:
                    if e.name.endswith(".cluster.local."):
                        continue
                    server = e.nameserver.addr or (e.dst.addr if e.qr == "Q" else e.src.addr)
                    if _lo(server):
                        continue
                elif e.accept_fd is not None and _lo(e.dst.addr):
                    continue
                dst.write(line)
                n_out += 1
    return n_in, n_out


def duckdb_reader(src: list[Path], dst: BinaryIO) -> tuple[int, int]:
    """DuckDB's vectorized NDJSON reader counting the same rows: the near-limit."""
    import duckdb

    files = [str(p) for p in src]
    con = duckdb.connect()
    con.execute("SET threads TO 1")
    rel = con.sql(
        "SELECT count(*) AS n_in, count(*) FILTER (WHERE keep) AS n_out FROM ("
        " SELECT coalesce(k8s.namespace, '') <> 'kube-system' AND CASE"
        "  WHEN qr IS NOT NULL THEN NOT coalesce(name, '') LIKE '%.cluster.local.'"
        "   AND NOT (CASE WHEN coalesce(nameserver.addr, '') <> '' THEN nameserver.addr"
        "            WHEN qr = 'Q' THEN dst.addr ELSE src.addr END LIKE '127.%'"
        "            OR CASE WHEN coalesce(nameserver.addr, '') <> '' THEN nameserver.addr"
        "            WHEN qr = 'Q' THEN dst.addr ELSE src.addr END = '::1')"
        "  WHEN accept_fd IS NOT NULL THEN NOT (dst.addr LIKE '127.%' OR dst.addr = '::1')"
        "  ELSE true END AS keep"
        f" FROM read_ndjson({files!r}, columns = {{"
        "  'k8s': 'STRUCT(namespace VARCHAR)', 'qr': 'VARCHAR', 'name': 'VARCHAR',"
        "  'accept_fd': 'BIGINT', 'dst': 'STRUCT(addr VARCHAR)', 'src': 'STRUCT(addr VARCHAR)',"
        "  'nameserver': 'STRUCT(addr VARCHAR)'}}))"
    )
    n_in, n_out = rel.fetchone()  # type: ignore[misc]
    return int(n_in), int(n_out)


def main() -> None:
    """``python -m bench.contenders <name> <out> <fmt> <per_gadget> <files...>``: one run."""
    import os
    import resource
    import time

    name, out, fmt, per_gadget, *files = sys.argv[1:]
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    if name == "edgewatch":
        # interpreter and import start-up is paid once per agent, not per event
        import edgewatch.agent
        import edgewatch.pipeline.runtime
        import edgewatch.sources.ndjson  # noqa: F401
    paths = [Path(f) for f in files]
    with open(out, "wb") as dst:
        start_wall = time.perf_counter()
        start_cpu = time.process_time()
        if name == "edgewatch":
            n_in, n_out = edgewatch_path(paths, dst, fmt, per_gadget == "1")
        elif name == "json.loads":
            n_in, n_out = json_loads_pipeline(paths, dst)
        elif name == "msgspec-bare":
            n_in, n_out = bare_msgspec_loop(paths, dst)
        elif name == "duckdb":
            n_in, n_out = duckdb_reader(paths, dst)
        else:
            raise SystemExit(f"unknown contender {name}")
        wall = time.perf_counter() - start_wall
        cpu = time.process_time() - start_cpu
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"wall": wall, "cpu": cpu, "rss": rss, "in": n_in, "out": n_out}))


if __name__ == "__main__":
    main()
