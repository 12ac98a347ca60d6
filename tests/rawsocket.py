"""A raw Reflex websocket client for tests: Engine.IO v4 / Socket.IO v5 frames written by hand
over a plain websocket (simple-websocket, which Reflex already installs), sending hand-made
Reflex events as an attacker would. No browser, no Reflex frontend code.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import simple_websocket

HYDRATE = "reflex___state____state.hydrate"
NAMESPACE = "/_event"  # Reflex names its Socket.IO namespace like the path


@dataclass
class Update:
    """One `event` packet from the server: a state delta and frontend events."""

    delta: dict[str, Any]
    events: list[dict[str, Any]]

    @property
    def text(self) -> str:
        return json.dumps({"delta": self.delta, "events": self.events}, ensure_ascii=False)

    def redirects(self) -> list[str]:
        """Paths of `_redirect` events, and scripts that navigate (`_call_script`)."""
        found = []
        for event in self.events:
            if event.get("name") == "_redirect":
                found.append(str(event.get("payload", {}).get("path", "")))
            elif event.get("name") == "_call_script":
                found.append(str(event.get("payload", {}).get("javascript_code", "")))
        return found


@dataclass
class RawSocket:
    base_url: str
    token: str = field(default_factory=lambda: str(uuid.uuid4()))
    cookie: str | None = None
    ws: Any = None

    def __enter__(self) -> RawSocket:
        url = self.base_url.replace("http://", "ws://").replace("https://", "wss://")
        # (simple-websocket sends its own User-Agent: a second one breaks the handshake)
        headers = {"Origin": self.base_url}
        if self.cookie:
            headers["Cookie"] = self.cookie
        for _attempt in range(3):  # a server busy building its first page may miss one
            self.ws = simple_websocket.Client.connect(
                f"{url}/_event/?EIO=4&transport=websocket&token={self.token}", headers=headers
            )
            opened = self.ws.receive(timeout=10)
            if opened:
                break
            self.ws.close()
        assert opened and opened.startswith("0"), opened
        self.ws.send(f"40{NAMESPACE},")
        while True:
            packet = self.ws.receive(timeout=10)
            assert packet is not None, "no Socket.IO connect acknowledgement"
            if packet.startswith(f"40{NAMESPACE},"):
                return self
            assert not packet.startswith(f"44{NAMESPACE},"), f"connect refused: {packet}"
            if packet == "2":
                self.ws.send("3")

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.ws is not None:
            self.ws.close()
            self.ws = None

    def emit(
        self,
        name: str,
        payload: dict[str, Any] | None = None,
        path: str = "/dashboard",
        query: dict[str, str] | None = None,
    ) -> None:
        router = {"pathname": path, "asPath": path}
        if query:
            router["query"] = query
        frame = ["event", {"name": name, "payload": payload or {}, "router_data": router}]
        self.ws.send(f"42{NAMESPACE}," + json.dumps(frame))

    def updates(self, seconds: float = 1.5, until: Any = None) -> list[Update]:
        """Every update received within `seconds`, or until `until(update)` is true."""
        deadline = time.monotonic() + seconds
        got: list[Update] = []
        while (left := deadline - time.monotonic()) > 0:
            packet = self.ws.receive(timeout=left)
            if packet is None:
                break
            if packet == "2":
                self.ws.send("3")
                continue
            if not packet.startswith(f"42{NAMESPACE},"):
                continue
            name, *args = json.loads(packet[len(NAMESPACE) + 3 :])
            if name != "event" or not args:
                continue
            body = args[0] if isinstance(args[0], dict) else {}
            update = Update(delta=body.get("delta") or {}, events=body.get("events") or [])
            got.append(update)
            if until is not None and until(update):
                break
        return got

    def call(
        self,
        name: str,
        payload: dict[str, Any] | None = None,
        path: str = "/dashboard",
        seconds: float = 3.0,
        quiet: float = 0.4,
    ) -> list[Update]:
        """Send one event; collect replies until `quiet` seconds pass without another."""
        self.emit(name, payload, path)
        got: list[Update] = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            more = self.updates(quiet)
            if not more and got:
                break
            got.extend(more)
        return got

    def hydrate(self, path: str = "/dashboard") -> list[Update]:
        return self.call(HYDRATE, path=path)


def text_of(updates: list[Update]) -> str:
    return "\n".join(update.text for update in updates)
