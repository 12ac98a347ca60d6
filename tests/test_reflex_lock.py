"""reflex.lock/ is tracked: package.json's exact versions pair with bun.lock, so a clean machine
installs the same frontend packages (offline, from the lockfile). Every build (`make run`, the
browser tests) writes both files back from the build folder, so they are kept byte for byte as
Reflex writes them: a build leaves `git status` clean (.ci/run checks it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
PACKAGE_JSON = PROJECT / "reflex.lock" / "package.json"


def test_package_json_is_in_the_format_reflex_writes() -> None:
    text = PACKAGE_JSON.read_text()
    # Reflex renders it with json.dumps (one line, no final newline); a pretty-printed copy
    # is rewritten onto one line by the next build, and the tree is dirty.
    assert text == json.dumps(json.loads(text)), (
        "reflex.lock/package.json is not as Reflex writes it: run the app once (`make run`) "
        "and commit the file it leaves, unformatted"
    )


def test_a_build_renders_the_same_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    """What Reflex renders from the persisted file (refreshing its own scripts) is the file."""
    from reflex.utils.frontend_skeleton import _compile_package_json

    monkeypatch.chdir(PROJECT)  # Reflex reads reflex.lock/ from the working directory
    assert _compile_package_json() == PACKAGE_JSON.read_text()
