"""The library versions EnergyApp's private hooks were written and checked against.

Two modules reach past public APIs (docs/Arquitectura.md lists them):
- energyapp/reflex_patches.py wraps Reflex internals (the websocket namespace, the disk state
  manager's purge loop, the Redis token manager, the router data's pickling, Reflex's log
  handlers);
- energyapp/llm/pacing.py sets httpx's transport's httpcore pool `_network_backend`, and the
  ollama client is handed that transport.

An upgrade of any of these packages fails here on purpose, so that it is never silent: review
the hooks against the new version's source, then move the pin below (and in requirements.txt).
"""

from __future__ import annotations

from importlib.metadata import version

import pytest

REVIEW_REFLEX = (
    "energyapp/reflex_patches.py: every wrapped Reflex internal (EventNamespace connect and "
    "disconnect, StateManagerDisk's purge, RedisTokenManager's socket records, RouterData and "
    "HeaderData pickling, reflex_base.utils.log handlers) and its tests/test_reflex_patches.py; "
    "states/gate.py's use of RegistrationContext and StateUpdate"
)
REVIEW_TRANSPORT = (
    "energyapp/llm/pacing.py: httpx.AsyncHTTPTransport()._pool._network_backend and "
    "httpcore.AsyncNetworkStream/AsyncNetworkBackend, with tests/llm/test_pacing.py; the "
    "ollama client must still pass `transport=` to its httpx.AsyncClient (llm/client.py)"
)
PINNED = [
    ("reflex", "0.10.1", REVIEW_REFLEX),
    ("reflex-base", "0.10.1", REVIEW_REFLEX),
    ("httpcore", "1.0.9", REVIEW_TRANSPORT),
    ("httpx", "0.28.1", REVIEW_TRANSPORT),
    ("ollama", "0.6.3", REVIEW_TRANSPORT),
]


@pytest.mark.parametrize(("package", "written_for", "review"), PINNED)
def test_the_private_hooks_were_reviewed_for_the_installed_version(
    package: str, written_for: str, review: str
) -> None:
    installed = version(package)
    assert installed == written_for, (
        f"{package} is {installed}, but the private hooks were written for {written_for}. "
        f"Review {review}; then update the pin in tests/test_private_hooks_versions.py."
    )
