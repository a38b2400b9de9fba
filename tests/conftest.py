"""Shared fixtures: the real PC/SC stack (pcscd + vpcd + the emulated card) in tests/pcsc_support.py, the center's
databases, center, HTTP client and clock in tests/center_support.py."""

pytest_plugins = ["tests.pcsc_support", "tests.center_support"]
