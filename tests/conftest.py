"""Shared fixtures: the center's databases, center, HTTP client and clock in tests/center_support.py, the real PC/SC
stack (pcscd + vpcd + the emulated card) in tests/pcsc_support.py (which uses the former: it comes first)."""

import os
import tempfile

pytest_plugins = ["tests.center_support", "tests.pcsc_support"]

# `eport-agent init --workspace DIR` notes DIR as the user's workspace (agent.workspace.remembered_file): the tests'
# notes go to a folder of their own, not the user's ~/.config.
os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="eport-test-config-")
