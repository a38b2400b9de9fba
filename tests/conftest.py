"""Shared fixtures: the real PC/SC stack (pcscd + vpcd + the emulated card) in tests/pcsc_support.py, the center's
databases and HTTP client in tests/center_fixtures.py."""

pytest_plugins = ["tests.pcsc_support", "tests.center_fixtures"]
