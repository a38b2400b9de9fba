"""TLS with a pinned CA: the agent talks to the center over TLS and trusts exactly the center's own
CA — a center with a certificate from any other authority is not the center."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from agent.center_link import pinned_tls
from agent.config import AgentConfig
from agent.workspace import Workspace, config_text
from center.app import start_center
from center.service import Center
from sync.client import CenterClient, CenterUnavailable


def server_context(center: Center, tmp_path: Path) -> ssl.SSLContext:
    key_pem, chain_pem = center.issue_tls_certificate(["127.0.0.1", "localhost"])
    (tmp_path / "key.pem").write_text(key_pem)
    (tmp_path / "chain.pem").write_text(chain_pem)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "chain.pem", tmp_path / "key.pem")
    return context


def agent_config(tmp_path: Path, url: str, ca_pem: bytes) -> AgentConfig:
    workspace = Workspace(tmp_path / "ws")
    workspace.init()
    workspace.config_file.write_text(config_text(url), encoding="utf-8")
    (workspace.state / "center-ca.pem").write_bytes(ca_pem)
    return AgentConfig.load(workspace)


async def test_the_agent_trusts_the_pinned_center_and_no_other(tmp_path: Path) -> None:
    center = Center.open(str(tmp_path / "center.db"))
    stranger = Center.open(str(tmp_path / "stranger.db"))  # another CA altogether
    runner, port = await start_center(center, "127.0.0.1", 0, server_context(center, tmp_path))
    url = f"https://127.0.0.1:{port}"
    try:
        pinned = agent_config(tmp_path, url, center.ca_certificate().public_bytes(Encoding.PEM))
        client = CenterClient(url, ssl_context=pinned_tls(pinned))
        assert {"code": "2200", "name": "上海海关"} in await client.ports()
        await client.close()

        wrong = agent_config(tmp_path / "w", url, stranger.ca_certificate().public_bytes(Encoding.PEM))
        client = CenterClient(url, ssl_context=pinned_tls(wrong))
        with pytest.raises(CenterUnavailable, match="certificate"):
            await client.ports()
        await client.close()
    finally:
        await runner.cleanup()
        center.close()
        stranger.close()


def test_plain_http_is_refused_off_loopback(tmp_path: Path) -> None:
    from agent.config import ConfigError

    workspace = Workspace(tmp_path)
    workspace.init()
    workspace.config_file.write_text(config_text("http://center.example.cn:8710"), encoding="utf-8")
    with pytest.raises(ConfigError, match="plain http is allowed on loopback only"):
        AgentConfig.load(workspace)
