"""Builds a running agent from a workspace and its agent.toml: the only place its parts are put together."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from apscheduler.triggers.base import BaseTrigger
from cryptography import x509
from watchdog.observers.polling import PollingObserver

from agent.card.apdu import Connection
from agent.card.errors import NoCardError
from agent.center_link import load_center_ca, load_device, pinned_tls
from agent.config import AgentConfig
from agent.facade import Agent
from agent.intake import Intake
from agent.intake_process import ProcessIntake
from agent.operator_card import OperatorCard, PresenceWatcher
from agent.roles import RESIDENT_LOCK, SENDER_LOCK, Role
from agent.signer import Signer
from agent.store import Store
from agent.worker import Announcer, Worker
from agent.workspace import Workspace
from inbox.watcher import CLOSE_SETTLE_SECONDS, QUIET_SECONDS, InboxWatcher
from outbox.deliver import Delivery
from outbox.tidy import KEEP_DAYS
from sync.client import CenterClient
from sync.engine import SyncEngine

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


def assemble(
    workspace: Workspace,
    client: CenterClient,
    center_ca: x509.Certificate,
    card: OperatorCard | None,
    schedule: BaseTrigger | None = None,
    settle_quiet: float = QUIET_SECONDS,
    retry_cap: float = 300.0,
    polling: bool = False,
    keep_days: int = KEEP_DAYS,
    settle_close: float = CLOSE_SETTLE_SECONDS,
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
        watcher = InboxWatcher(
            workspace.inbox, ProcessIntake(intake).handle, quiet=settle_quiet, observer=observer, settle=settle_close
        )
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
    workspace: Workspace, config: AgentConfig | None = None, settle_quiet: float | None = None, headless: bool = False
) -> Agent:
    """The resident agent, or with ``headless`` the sync daemon, as agent.toml describes them."""
    config = config or AgentConfig.load(workspace)
    return assemble(
        workspace,
        CenterClient(config.center_url, ssl_context=pinned_tls(config), device=load_device(workspace)),
        load_center_ca(config),
        None if headless else open_card(config, workspace),
        schedule=config.sync_trigger(),
        settle_quiet=config.inbox_quiet if settle_quiet is None else settle_quiet,
        settle_close=config.inbox_settle,
        retry_cap=config.retry_cap,
        polling=config.inbox_polling,
        keep_days=config.keep_days,
    )
