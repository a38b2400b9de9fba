"""Moved to tests/center_support.py: this name only re-exports it while the test files move over (no tests here)."""

from tests.center_support import *  # noqa: F403
