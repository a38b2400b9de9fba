"""The card on the command line: `eport-agent unlock`, `card info`, `card enroll` and `device enroll` — the PIN from
the terminal, the card's facts, and enrollment over the wire with a one-time code from the center
(agent.enrollment). The management key and `card change-pin|change-puk` are agent.card_admin_cli's."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
import sys
from typing import Any

from agent import permission
from agent.card.errors import CardError, InvalidPinError, PinBlockedError
from agent.card_admin_cli import (
    ManagementKeyPrompt,
    add_admin_commands,
    add_management_key_option,
    cmd_change_reference,
)
from agent.config import AgentConfig, ConfigError
from agent.control import AgentNotRunning, ControlClient
from agent.workspace import Workspace
from l10n import MESSAGES, say
from l10n.times import local_text
from sync.access import LEGAL_PERSON_ROLE
from sync.client import CenterUnavailable
from sync.enroll import CodeError, EnrollmentCode

# The facts `card info` shows, in order; their labels are the message table's card.<field>.
CARD_FIELDS = (
    "reader",
    "card_type",
    "algorithm",
    "serial",
    "state",
    "pin_tries_left",
    "subject",
    "operator",
    "enterprise",
    "enterprise_name",
    "not_after",
    "fx_permission",
    "problem",
)


def _card_value(key: str, value: Any) -> Any:
    """A fact as the clerk reads it: the card's state in words, its expiry in local time."""
    if key == "state":
        return say(f"card_state.{value}") if f"card_state.{value}" in MESSAGES else value
    if key == "fx_permission":
        return permission.describe(value)
    return local_text(value) if key == "not_after" else value


def read_pin(args: Any) -> str:
    """The PIN from the terminal (not echoed), or one line of stdin with --pin-stdin (for scripts)."""
    if args.pin_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise ConfigError(say("cli.no_terminal_pin"))
    return getpass.getpass(say("cli.pin_prompt"))


def pin_failure(exc: Exception) -> int:
    """Tell the clerk what a failed PIN means and what to do; the PIN itself is never printed."""
    if isinstance(exc, InvalidPinError):
        print(say("cli.wrong_pin", tries=exc.tries_left), file=sys.stderr)
    elif isinstance(exc, PinBlockedError):
        print(say("cli.blocked"), file=sys.stderr)
    else:
        print(say("cli.card_error", error=exc), file=sys.stderr)
    return 1


def cmd_unlock(workspace: Workspace, args: Any) -> int:
    """Unlock the card held by the running agent (`run` or `demo`), through its control channel."""
    try:
        agent = ControlClient.for_state(workspace.state)
        card = agent.status()["card"]  # is it there? Ask before the PIN is typed in vain
    except AgentNotRunning:
        print(say("cli.unlock_no_agent", root=workspace.root), file=sys.stderr)
        return 3
    if card == "unlocked":  # a mistyped PIN would only spend one of the card's tries
        print(say("pin.already"))
        return 0
    try:
        agent.unlock(read_pin(args))
    except (CardError, ValueError) as exc:
        return pin_failure(exc)
    print(say("cli.unlocked"))
    return 0


def add_commands(commands: Any, common: Any, pin: Any) -> None:
    """The ``card`` and ``device`` subcommands, on the parent parsers of the other commands."""
    card = commands.add_parser("card", help="the operator card: info, enroll, change-pin, change-puk")
    verbs = card.add_subparsers(dest="card_command", required=True)
    info = verbs.add_parser("info", parents=[common], help="reader, serial, certificate, PIN tries left")
    info.add_argument("--json", action="store_true", help="print JSON")
    enroll = verbs.add_parser(
        "enroll", parents=[common, pin], help="new key on the card, certified by the center with a one-time code"
    )
    add_management_key_option(enroll)
    add_admin_commands(verbs, common, pin)
    device = commands.add_parser("device", help="this PC's own key (unattended sync): enroll")
    device_enroll = device.add_subparsers(dest="device_command", required=True).add_parser(
        "enroll", parents=[common], help="certify this PC's device key with a one-time code"
    )
    device_enroll.add_argument("--name", help="how the center names this PC (default: its host name)")
    for command, made_by in ((enroll, "operator invite"), (device_enroll, "device invite")):
        command.add_argument("--center", required=True, help="the center's address, e.g. https://center.example.cn")
        command.add_argument(
            "--code", required=True, help=f"the enrollment code (注册码) from 'eport-center {made_by}', all of it"
        )


def _refused(what: str, exc: Exception) -> int:
    from agent.enrollment import EnrollmentRefused

    if isinstance(exc, EnrollmentRefused):
        print(f"eport-agent: 数据中心拒绝注册 / the center refused: {exc.code}: {exc.zh} / {exc.en}", file=sys.stderr)
    else:
        print(f"eport-agent: {what}: {exc}", file=sys.stderr)
    return 1


def _settled(workspace: Workspace) -> None:
    config = AgentConfig.load(workspace)
    print(
        f"已固定数据中心CA证书 / the center's CA is pinned in {config.ca_file}; "
        f"agent.toml points at {config.center_url}"
    )


def _code(args: Any) -> EnrollmentCode | None:
    try:
        return EnrollmentCode.parse(args.code)
    except CodeError as exc:
        print(f"eport-agent: 注册码格式不对 / not an enrollment code: {exc}", file=sys.stderr)
        return None


def _announce(terms: dict[str, Any]) -> None:
    role = "legal-person card (法人卡)" if terms.get("role") == LEGAL_PERSON_ROLE else "operator card (操作员卡)"
    print(
        f"注册码有效 / the code is good: the card becomes the {role} of {terms['name']} ({terms['enterprise']}); "
        "the card now makes a new key (its old key, if any, is replaced)",
        flush=True,
    )


def cmd_card_enroll(workspace: Workspace, args: Any) -> int:
    """New key on the card, its certificate from the center over the wire, written to the card."""
    from agent.enrollment import EnrollmentError, EnrollmentRefused, enroll_operator_card

    with contextlib.suppress(AgentNotRunning):
        ControlClient.for_state(workspace.state).status()
        print(
            "eport-agent: stop the running agent first: enrolling replaces the key of the card it holds",
            file=sys.stderr,
        )
        return 2
    code = _code(args)
    if code is None:
        return 2
    management_key = ManagementKeyPrompt(args.management_key_stdin)
    try:
        certificate = asyncio.run(
            enroll_operator_card(workspace, args.center, code, lambda: read_pin(args), management_key, _announce)
        )
    except (EnrollmentError, EnrollmentRefused, CenterUnavailable) as exc:
        return _refused("card enroll", exc)
    except (CardError, ValueError) as exc:
        return pin_failure(exc)
    _settled(workspace)
    management_key.advise()
    print(
        f"操作员卡注册成功 / card enrolled: {certificate.subject.rfc4514_string()}, "
        f"valid until {certificate.not_valid_after_utc:%Y-%m-%d}"
    )
    print(say("cli.enrolled_fx"))
    return 0


def cmd_device_enroll(workspace: Workspace, args: Any) -> int:
    """This PC's device key, certified over the wire for unattended sync and update pulls."""
    from agent.enrollment import EnrollmentError, EnrollmentRefused, enroll_device

    code = _code(args)
    if code is None:
        return 2
    try:
        certificate = asyncio.run(enroll_device(workspace, args.center, code, args.name))
    except (EnrollmentError, EnrollmentRefused, CenterUnavailable) as exc:
        return _refused("device enroll", exc)
    _settled(workspace)
    print(
        "本机注册成功 / this PC is enrolled for unattended sync and update pulls: "
        f"{certificate.subject.rfc4514_string()}, valid until {certificate.not_valid_after_utc:%Y-%m-%d}"
    )
    return 0


def _card_info_from_card(workspace: Workspace) -> dict[str, Any]:
    """Read the card directly (only when no agent holds it: our disconnect resets the card)."""
    from agent.card.piv import PivSession
    from agent.card_identity import describe_card
    from agent.operator_card import CardState
    from agent.runtime import EMULATED_LABEL, card_connector

    connection = card_connector(AgentConfig.load(workspace), workspace)()
    try:
        session = PivSession(connection)
        tries = session.pin_tries_left()
        state = CardState.BLOCKED if tries == 0 else CardState.LOCKED
        reader = str(getattr(connection, "reader", EMULATED_LABEL))
        info, _certificate = describe_card(session, reader, state.value, tries)
    finally:
        connection.close()
    return {**info.as_dict(), "warnings": info.warnings()}


def _with_permission(workspace: Workspace, info: dict[str, Any]) -> dict[str, Any]:
    """The card read directly, with its 出口收汇 permission as the agent last heard it from the center."""
    from agent.store import Store

    known = permission.fact(Store(workspace.store_file)) if workspace.store_file.exists() else None
    if known is None or known.get("card") != info.get("serial"):
        return info
    fx = permission.warning(known)
    return {**info, "fx_permission": known, "warnings": [*info.get("warnings", []), *([fx] if fx else [])]}


def run_card(workspace: Workspace, args: Any) -> int:
    """`eport-agent card VERB`."""
    if args.card_command == "enroll":
        return cmd_card_enroll(workspace, args)
    if args.card_command in ("change-pin", "change-puk"):
        return cmd_change_reference(workspace, args)
    return cmd_card_info(workspace, args)


def cmd_card_info(workspace: Workspace, args: Any) -> int:
    try:
        info = {**ControlClient.for_state(workspace.state).card_info(), "source": "agent"}
    except AgentNotRunning:
        try:
            info = {**_card_info_from_card(workspace), "source": "card"}
        except CardError as exc:
            print(f"eport-agent: {say('cli.card_error', error=exc)}", file=sys.stderr)
            return 1
    if info["source"] == "card":
        print(say("cli.card_from_card"), file=sys.stderr)
        info = _with_permission(workspace, info)
    info["enterprise_name"] = permission.enterprise_line(info.get("fx_permission"))
    if args.json:
        print(json.dumps(info, ensure_ascii=False, indent=2))
        return 0
    for key in CARD_FIELDS:
        if info.get(key) is not None:
            print(f"{say(f'card.{key}')}：{_card_value(key, info[key])}")
    for warning in info.get("warnings") or ():
        print(say("cli.warning", text=warning))
    return 0
