"""Running the dashboard: uvicorn on a socket we bind ourselves.

Binding first lets the caller learn the port (``port=0`` in tests) and fail early with
a clear message when the address is taken. Uvicorn's access log is off: the one-time
login link carries its key in the query string, and secrets are never logged.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass

import uvicorn

from edgewatch.web.app import ServeSettings, create_app
from edgewatch.web.security import Guard


@dataclass
class Listener:
    host: str
    port: int
    tls_cert: str | None = None
    tls_key: str | None = None

    @property
    def scheme(self) -> str:
        return "https" if self.tls_cert else "http"

    def base_url(self, port: int) -> str:
        host = self.host
        if host in ("0.0.0.0", "::", ""):
            host = socket.getfqdn()
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"{self.scheme}://{host}:{port}"


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


class Dashboard:
    """One running dashboard; ``run`` blocks, ``start``/``stop`` run it on a thread."""

    def __init__(self, settings: ServeSettings, listener: Listener) -> None:
        self.settings = settings
        self.listener = listener
        self.app = create_app(settings)
        self.sock = bind(listener.host, listener.port)
        self.port = self.sock.getsockname()[1]
        guard = settings.guard
        if guard.token is None and guard.allowed_hosts and listener.port != self.port:
            # bound to port 0: browsers name the port the system chose in the Host header
            guard.allowed_hosts = Guard.for_bind(listener.host, self.port, None).allowed_hosts
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=False,
            ssl_certfile=listener.tls_cert,
            ssl_keyfile=listener.tls_key,
            timeout_graceful_shutdown=2,
        )
        self.server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return self.listener.base_url(self.port)

    def login_url(self) -> str | None:
        return self.settings.guard.login_url(self.url)

    def run(self) -> None:
        try:
            self.server.run(sockets=[self.sock])
        finally:
            self.app.state.access.close()

    def _run_thread(self) -> None:
        try:
            self.run()
        except BaseException as exc:  # e.g. a TLS key that does not load: told by start
            self._error = exc

    def start(self) -> None:
        """Serve on a thread of its own; returns once requests are answered."""
        self._thread = threading.Thread(target=self._run_thread, name="dashboard", daemon=True)
        self._thread.start()
        while not self.server.started and self._thread.is_alive():
            threading.Event().wait(0.02)
        if not self.server.started:
            self.sock.close()
            why = f"{type(self._error).__name__}: {self._error}" if self._error else "see the log"
            raise OSError(f"the dashboard did not start ({why})")

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        self.sock.close()
