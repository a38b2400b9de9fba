"""TLS to an SM2 center: its server certificate (a P-256 key, signed SM2-with-SM3 by the center's CA) is checked by
the agent against the pinned SM2 CA and then pinned for the connection (sync.sm2_tls), since OpenSSL 3.0 cannot check
it; another center's certificate, a certificate for another host and a renewed certificate are handled as a clerk
would want: refused, refused, and taken after it was checked."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from agent.center_link import pinned_tls
from center.app import start_center
from center.service import Center
from sync.algorithms import SM2SM3, SignatureError
from sync.client import CenterClient, CenterUnavailable
from sync.sm2_tls import ServerPin, check_server_certificate
from tests.test_tls import agent_config, server_context


def folder(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


async def ports_through(center: Center, tmp_path: Path, url_host: str = "127.0.0.1") -> list[dict[str, str]]:
    """The port table, asked over https of ``center`` by an agent that pins ``center``'s CA."""
    runner, port = await start_center(center, "127.0.0.1", 0, server_context(center, folder(tmp_path)))
    url = f"https://{url_host}:{port}"
    pinned = agent_config(tmp_path / "agent", url, center.ca_certificate().public_bytes(Encoding.PEM))
    trust = pinned_tls(pinned)
    assert isinstance(trust, ServerPin)
    client = CenterClient(url, ssl_context=trust)
    try:
        return await client.ports()
    finally:
        await client.close()
        await runner.cleanup()


async def test_an_agent_reaches_an_sm2_center_over_https_and_no_other(tmp_path: Path) -> None:
    with Center.open(str(tmp_path / "center.db"), algorithm=SM2SM3) as center:
        assert {"code": "2200", "name": "上海海关"} in await ports_through(center, tmp_path / "a")
        assert await ports_through(center, tmp_path / "b", "localhost")  # the certificate names both

        with Center.open(str(tmp_path / "stranger.db"), algorithm=SM2SM3) as stranger:
            runner, port = await start_center(
                stranger, "127.0.0.1", 0, server_context(stranger, folder(tmp_path / "s"))
            )
            url = f"https://127.0.0.1:{port}"
            config = agent_config(tmp_path / "w", url, center.ca_certificate().public_bytes(Encoding.PEM))
            client = CenterClient(url, ssl_context=pinned_tls(config))
            try:
                with pytest.raises(CenterUnavailable, match="the center's certificate is not the pinned CA's"):
                    await client.ports()
            finally:
                await client.close()
                await runner.cleanup()


async def test_a_renewed_certificate_is_checked_and_taken(tmp_path: Path) -> None:
    with Center.open(str(tmp_path / "center.db"), algorithm=SM2SM3) as center:
        runner, port = await start_center(center, "127.0.0.1", 0, server_context(center, folder(tmp_path / "1")))
        url = f"https://127.0.0.1:{port}"
        trust = pinned_tls(agent_config(tmp_path / "w", url, center.ca_certificate().public_bytes(Encoding.PEM)))
        client = CenterClient(url, ssl_context=trust)
        try:
            assert await client.ports()
            await runner.cleanup()  # eport-center tls issue again, the center restarted on the same port
            runner, _ = await start_center(center, "127.0.0.1", port, server_context(center, folder(tmp_path / "2")))
            outcomes = []
            for _ in range(3):  # the pinned certificate is not the one presented now: that request fails, and the
                try:  # new certificate is checked against the CA and pinned for the next one
                    outcomes.append(bool(await client.ports()))
                except CenterUnavailable:
                    outcomes.append(False)
            assert outcomes[0] is False and outcomes[-1] is True
        finally:
            await client.close()
            await runner.cleanup()


def test_the_server_certificate_must_name_the_host_and_be_a_server_certificate(tmp_path: Path) -> None:
    from cryptography import x509

    with Center.open(str(tmp_path / "center.db"), algorithm=SM2SM3) as center:
        _key, chain = center.issue_tls_certificate(["center.example.cn", "10.0.0.5"])
        server = x509.load_pem_x509_certificate(chain.encode())
        ca = center.ca_certificate()
        check_server_certificate(server, ca, "center.example.cn")
        check_server_certificate(server, ca, "10.0.0.5")
        for host in ("other.example.cn", "10.0.0.6"):
            with pytest.raises(SignatureError, match="not for"):
                check_server_certificate(server, ca, host)
        card_certificate = center._authority.receipt_chain[0]  # issued by the CA, but no server certificate
        with pytest.raises(SignatureError, match="not a TLS server certificate"):
            check_server_certificate(card_certificate, ca, "center.example.cn")
        assert server.not_valid_after_utc > dt.datetime.now(dt.UTC)
