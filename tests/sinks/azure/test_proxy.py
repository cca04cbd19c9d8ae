"""Proxy and CA settings from the environment, read once when the client is built.

Edge sites often reach Azure only through an HTTP proxy named in ``HTTPS_PROXY``. The
client resolves it (and ``NO_PROXY``, ``REQUESTS_CA_BUNDLE``) at start instead of on
every request; these tests hold it to behaving as ``requests`` would.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from edgewatch.sinks.azure import AzureDelivery, AzureLogsIngestionConfig
from edgewatch.sinks.azure.config import _environment_once
from tests.fake_azure import FakeAzure
from tests.sinks.azure.conftest import DCR, STREAM, records, seqs

MakeCfg = Callable[..., AzureLogsIngestionConfig]


class ConnectProxy:
    """A minimal HTTP CONNECT proxy on loopback that records the tunnels it opens."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.tunnels: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> ConnectProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.sock.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._tunnel, args=(client,), daemon=True).start()

    def _tunnel(self, client: socket.socket) -> None:
        with contextlib.ExitStack() as stack:
            stack.enter_context(client)
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = client.recv(4096)
                if not chunk:
                    return
                head += chunk
            method, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
            if method != "CONNECT":
                client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                return
            host, port = target.rsplit(":", 1)
            upstream = stack.enter_context(socket.create_connection((host, int(port))))
            self.tunnels.append(target)
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            pair = {client: upstream, upstream: client}
            while not self._stop.is_set():
                ready, _, _ = select.select(list(pair), [], [], 0.2)
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    pair[s].sendall(data)


@pytest.fixture
def proxy() -> Iterator[ConnectProxy]:
    with ConnectProxy() as p:
        yield p


def test_requests_go_through_the_proxy_named_in_https_proxy(
    fake: FakeAzure, make_cfg: MakeCfg, proxy: ConnectProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    for name in ("NO_PROXY", "no_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    with AzureDelivery(make_cfg()) as dlv:
        monkeypatch.delenv("HTTPS_PROXY")  # read when the client was built, not later
        assert dlv.send(STREAM, records(3)).complete
        assert dlv.send(STREAM, records(2, start=3)).complete
    assert seqs(fake.rows(DCR, STREAM)) == [0, 1, 2, 3, 4]
    host = fake.endpoint.split("://", 1)[1]
    assert proxy.tunnels and set(proxy.tunnels) == {host}


def test_no_proxy_is_honoured(
    fake: FakeAzure, make_cfg: MakeCfg, proxy: ConnectProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with AzureDelivery(make_cfg()) as dlv:
        assert dlv.send(STREAM, records(2)).complete
    assert proxy.tunnels == []
    assert seqs(fake.rows(DCR, STREAM)) == [0, 1]


def test_ca_bundle_from_the_environment_unless_configured(
    make_cfg: MakeCfg, ca_bundle: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/site/ca.pem")
    got = _environment_once(make_cfg(ca_bundle=None), {})
    assert got == {"use_env_settings": False, "connection_verify": "/etc/site/ca.pem"}
    configured = {"connection_verify": str(ca_bundle)}
    assert _environment_once(make_cfg(), configured)["connection_verify"] == str(ca_bundle)
