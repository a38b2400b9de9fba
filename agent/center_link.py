"""How this PC reaches its center: the pinned CA (receipts and TLS are checked against it) and the PC's own device
credential for unattended requests. Used by the resident agent and by the one-shot commands alike."""

from __future__ import annotations

import ssl

from cryptography import x509

from agent.config import AgentConfig, ConfigError
from agent.workspace import Workspace
from sync.algorithms import SM2SM3, algorithm_of_certificate, load_private_key_pem
from sync.client import DeviceCredential
from sync.protocol import software_signer
from sync.sm2_tls import ServerPin


def ca_missing(config: AgentConfig) -> ConfigError:
    """The first run of a PC that is not enrolled yet: what to do, not just what is missing."""
    return ConfigError(
        f"本机尚未注册到数据中心（缺少数据中心CA证书 {config.ca_file}）：请向数据中心索取注册码，然后运行 "
        "eport-agent card enroll --center URL --code CODE"
        f" / this PC is not enrolled with a center yet ({config.ca_file} is missing): ask the center for an "
        "enrollment code and run 'eport-agent card enroll --center URL --code CODE'"
    )


def load_center_ca(config: AgentConfig) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(config.ca_file.read_bytes())
    except FileNotFoundError as exc:
        raise ca_missing(config) from exc
    except ValueError as exc:
        raise ConfigError(f"{config.ca_file} is not a PEM certificate") from exc


def load_device(workspace: Workspace) -> DeviceCredential | None:
    """The agent's device key and certificate from state/, if it was enrolled (else no unattended pulls)."""
    key_file, cert_file = workspace.state / "device-key.pem", workspace.state / "device-cert.pem"
    if not (key_file.exists() and cert_file.exists()):
        return None
    try:
        key = load_private_key_pem(key_file.read_bytes())  # P-256 or SM2
    except ValueError:
        raise ConfigError(f"{key_file} is not an ECC P-256 or SM2 key") from None
    return DeviceCredential([x509.load_pem_x509_certificate(cert_file.read_bytes())], software_signer(key))


def pinned_tls(config: AgentConfig) -> ssl.SSLContext | ServerPin | None:
    """For an https center: trust exactly the center's CA (pinned in agent.toml), nothing else. An SM2 center's
    server certificate is checked against it by sync.sm2_tls: OpenSSL 3.0 cannot check an SM2 CA's signature."""
    if not config.center_url.startswith("https:"):
        return None
    if not config.ca_file.exists():
        raise ca_missing(config)
    ca = load_center_ca(config)
    if algorithm_of_certificate(ca) == SM2SM3:
        return ServerPin(ca)
    return ssl.create_default_context(cafile=str(config.ca_file))
