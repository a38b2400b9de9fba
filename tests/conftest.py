"""Shared fixtures: the center's databases, center, HTTP client and clock in tests/center_support.py, the real PC/SC
stack (pcscd + vpcd + the emulated card) in tests/pcsc_support.py (which uses the former: it comes first)."""

pytest_plugins = ["tests.center_support", "tests.pcsc_support"]
