"""Builds a running agent from a workspace and its agent.toml: the only place its parts are put together."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING

from apscheduler.triggers.base import BaseTrigger
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from watchdog.observers.polling import PollingObserver

from agent.card.apdu import Connection
from agent.card.errors import NoCardError
from agent.config import AgentConfig, ConfigError
from agent.facade import Agent, Announcer, Worker
from agent.intake import Intake
from agent.operator_card import OperatorCard, PresenceWatcher
from agent.roles import RESIDENT_LOCK, SENDER_LOCK, Role
from agent.signer import Signer
from agent.store import Store
from agent.workspace import Workspace
from inbox.watcher import InboxWatcher
from outbox.deliver import Delivery
from outbox.tidy import KEEP_DAYS
from sync.client import CenterClient, DeviceCredential
from sync.engine import SyncEngine
from sync.protocol import software_signer

if TYPE_CHECKING:
    from agent.card.monitor import Presence

EMULATED = "emulated"
EMULATED_LABEL = "emulated card (NOT FOR PRODUCTION)"


def emulated_card_file(workspace: Workspace) -> str:
    return str(workspace.state / "emulated-card.json")


def card_connector(config: AgentConfig, workspace: Workspace) -> Callable[[], Connection]:
    """Opens a new connection to the configured card (a PC/SC reader, or the emulated card's file)."""
    if config.card_reader == EMULATED:
        from agent.card.emulated import EmulatedConnection, EmulatedPivCard

        card = EmulatedPivCard.load(emulated_card_file(workspace))
        return lambda: EmulatedConnection(card)

    def connect() -> Connection:
        # Imported here so that the emulated card (demo) works on machines without a PC/SC library.
        from agent.card.pcsc import PcscConnection, readers_with_card

        wanted = config.card_reader
        readers = [r for r in readers_with_card() if wanted == "auto" or wanted in r]
        if not readers:
            raise NoCardError(f"no card in {'any reader' if wanted == 'auto' else wanted!r}: insert the operator card")
        return PcscConnection(readers[0])

    return connect


def open_card(config: AgentConfig, workspace: Workspace) -> OperatorCard:
    connect = card_connector(config, workspace)
    if config.card_reader == EMULATED:
        return OperatorCard(connect, label=EMULATED_LABEL)

    def watch(on_change: Callable[[Presence], None]) -> PresenceWatcher:
        from agent.card.monitor import CardMonitor

        return CardMonitor(on_change, config.card_reader)

    return OperatorCard(connect, watch)


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
    key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ConfigError(f"{key_file} is not an ECC key")
    return DeviceCredential([x509.load_pem_x509_certificate(cert_file.read_bytes())], software_signer(key))


def pinned_tls(config: AgentConfig) -> ssl.SSLContext | None:
    """For an https center: trust exactly the center's CA (pinned in agent.toml), nothing else."""
    if not config.center_url.startswith("https:"):
        return None
    if not config.ca_file.exists():
        raise ca_missing(config)
    return ssl.create_default_context(cafile=str(config.ca_file))


def assemble(
    workspace: Workspace,
    client: CenterClient,
    center_ca: x509.Certificate,
    card: OperatorCard | None,
    schedule: BaseTrigger | None = None,
    settle_quiet: float = 0.1,
    retry_cap: float = 300.0,
    polling: bool = False,
    keep_days: int = KEEP_DAYS,
) -> Agent:
    """The agent from its parts. With a card: the resident agent (watcher, signer, control channel); without one:
    the headless sync daemon, which only sends, delivers and pulls, and has no signer at all."""
    store = Store(workspace.store_file)
    worker, announcer = Worker(), Announcer()
    delivery = Delivery(workspace.out, store, announcer, workspace.archive, keep_days)
    signer = Signer(store, card) if card is not None else None
    sender = Role(workspace.state / SENDER_LOCK)
    engine = SyncEngine(store, client, center_ca, delivery, worker.run, sender, signer=signer, retry_cap=retry_cap)
    watcher, intake = None, None
    if card is not None:
        # A new batch asks the agent (made just below) for a sync.
        intake = Intake(workspace, store, announcer, on_batch=lambda: agent.request_sync())
        observer = PollingObserver(timeout=1) if polling else None  # network shares send no file events
        watcher = InboxWatcher(workspace.inbox, intake.handle, quiet=settle_quiet, observer=observer)
    agent = Agent(
        workspace,
        store,
        engine,
        delivery,
        worker,
        announcer,
        card=card,
        watcher=watcher,
        intake=intake,
        resident=Role(workspace.state / RESIDENT_LOCK) if card is not None else None,
        schedule=schedule,
    )
    return agent


def build_agent(
    workspace: Workspace, config: AgentConfig | None = None, settle_quiet: float = 0.1, headless: bool = False
) -> Agent:
    """The resident agent, or with ``headless`` the sync daemon, as agent.toml describes them."""
    config = config or AgentConfig.load(workspace)
    return assemble(
        workspace,
        CenterClient(config.center_url, ssl_context=pinned_tls(config), device=load_device(workspace)),
        load_center_ca(config),
        None if headless else open_card(config, workspace),
        schedule=config.sync_trigger(),
        settle_quiet=settle_quiet,
        retry_cap=config.retry_cap,
        polling=config.inbox_polling,
        keep_days=config.keep_days,
    )
