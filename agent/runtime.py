"""Builds a running agent from a workspace and its agent.toml."""

from __future__ import annotations

from cryptography import x509

from agent.card.apdu import Connection
from agent.card.errors import NoCardError
from agent.config import AgentConfig, ConfigError
from agent.engine import Agent
from agent.operator_card import OperatorCard
from agent.workspace import Workspace
from sync.client import CenterClient

EMULATED = "emulated"


def emulated_card_file(workspace: Workspace) -> str:
    return str(workspace.state / "emulated-card.json")


def open_card(config: AgentConfig, workspace: Workspace) -> OperatorCard:
    if config.card_reader == EMULATED:
        from agent.card.emulated import EmulatedConnection, EmulatedPivCard

        card = EmulatedPivCard.load(emulated_card_file(workspace))
        return OperatorCard(lambda: EmulatedConnection(card))

    def connect() -> Connection:
        # Imported here so that the emulated card (demo) works on machines without a PC/SC library.
        from agent.card.pcsc import PcscConnection, readers_with_card

        wanted = config.card_reader
        readers = [r for r in readers_with_card() if wanted == "auto" or wanted in r]
        if not readers:
            raise NoCardError(f"no card in {'any reader' if wanted == 'auto' else wanted!r}: insert the operator card")
        return PcscConnection(readers[0])

    return OperatorCard(connect)


def load_center_ca(config: AgentConfig) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(config.ca_file.read_bytes())
    except FileNotFoundError as exc:
        raise ConfigError(f"the center's CA certificate {config.ca_file} is missing") from exc
    except ValueError as exc:
        raise ConfigError(f"{config.ca_file} is not a PEM certificate") from exc


def build_agent(workspace: Workspace, config: AgentConfig | None = None, settle_quiet: float = 0.1) -> Agent:
    config = config or AgentConfig.load(workspace)
    return Agent(
        workspace,
        open_card(config, workspace),
        CenterClient(config.center_url),
        load_center_ca(config),
        schedule=config.sync_trigger(),
        retry_cap=config.retry_cap,
        settle_quiet=settle_quiet,
    )
