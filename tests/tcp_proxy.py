"""A TCP proxy a test controls, to put in front of PostgreSQL (or anything else on TCP).

    proxy = TcpProxy("127.0.0.1", 5432).start()   # forwards 127.0.0.1:proxy.port → :5432
    proxy.cut()      # existing connections are reset and new ones refused: the server is gone
    proxy.stall()    # connections are accepted, nothing is forwarded either way: a hung server
    proxy.restore()  # forward again (stalled connections resume, as after a network partition)
    proxy.stop()

One thread accepts, two threads per connection pump bytes; every socket is closed on `stop`.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
from typing import Literal

Mode = Literal["forward", "stall", "cut"]


class TcpProxy:
    def __init__(
        self, upstream_host: str, upstream_port: int, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.host = host
        self.port = port
        self.mode: Mode = "forward"
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._accepting: threading.Thread | None = None
        self._stopped = threading.Event()
        self.accepted = 0  # connections accepted so far (tests assert on new connections)

    # --- control ----------------------------------------------------------------------------
    def start(self) -> TcpProxy:
        self._listen()
        return self

    def cut(self) -> None:
        """Refuse new connections (the port is closed) and reset every open one."""
        with self._lock:
            self.mode = "cut"
            listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)  # stop listening now, not when select wakes
            _close(listener)
        self._close_all()

    def stall(self) -> None:
        """Accept connections, forward nothing: like a server that hangs (SIGSTOP, dead disk)."""
        with self._lock:
            self.mode = "stall"
        if self._listener is None:
            self._listen()

    def restore(self) -> None:
        with self._lock:
            self.mode = "forward"
        if self._listener is None:
            self._listen()

    def stop(self) -> None:
        self._stopped.set()
        self.cut()
        if self._accepting is not None:
            self._accepting.join(timeout=2)

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # --- plumbing ---------------------------------------------------------------------------
    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        with self._lock:
            self._listener = listener
        self._accepting = threading.Thread(
            target=self._accept_loop, args=(listener,), name="tcp-proxy-accept", daemon=True
        )
        self._accepting.start()

    def _accept_loop(self, listener: socket.socket) -> None:
        while not self._stopped.is_set():
            try:
                ready, _, _ = select.select([listener], [], [], 0.1)
                if not ready:
                    continue
                client, _addr = listener.accept()
            except (OSError, ValueError):  # closed by cut() or stop()
                return
            self.accepted += 1
            self._track(client)
            threading.Thread(
                target=self._serve, args=(client,), name="tcp-proxy-conn", daemon=True
            ).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.upstream, timeout=5)
        except OSError:
            _close(client)
            return
        upstream.settimeout(None)
        self._track(upstream)
        for source, target in ((client, upstream), (upstream, client)):
            threading.Thread(
                target=self._pump, args=(source, target), name="tcp-proxy-pump", daemon=True
            ).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while not self._stopped.is_set():
                if self.mode != "forward":  # stall: leave the bytes where they are
                    if self.mode == "cut":
                        break
                    self._stopped.wait(0.05)
                    continue
                ready, _, _ = select.select([source], [], [], 0.05)
                if not ready:
                    continue
                if self.mode != "forward":  # stalled while waiting: do not forward this
                    continue
                data = source.recv(65536)
                if not data:
                    break
                target.sendall(data)
        except (OSError, ValueError):
            pass
        _close(source)
        _close(target)

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)
            if self.mode == "cut":
                self._sockets.discard(sock)
                _close(sock)

    def _close_all(self) -> None:
        with self._lock:
            sockets, self._sockets = list(self._sockets), set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                # RST, not FIN: the client sees "connection reset", like a crashed server.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            _close(sock)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.close()
