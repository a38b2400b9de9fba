"""Shared fixtures: the real PC/SC stack (pcscd + vpcd + the emulated card) lives in tests/pcsc_support.py."""

pytest_plugins = ["tests.pcsc_support"]
