"""Deployment tests reuse the browser fixtures."""

from tests.browser.conftest import browser  # noqa: F401 - shared session fixture
