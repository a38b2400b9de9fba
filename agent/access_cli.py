"""`eport-agent access register|list|show|delete` and `eport-agent permission request|list`.

The access commands ask the center directly (plain endpoints, the agent's device credential, the account this PC
is online through from ``[access] account``): no running agent and no card are needed. `permission request` signs
with the legal-person card in the reader, so no agent may hold the card meanwhile.

Only the parsers are built when the command line is read; the agent's machinery is imported when a command runs.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import sys
from collections.abc import Callable
from typing import Any

from agent.card.errors import ApduError, CardError
from agent.config import AgentConfig, ConfigError
from agent.control import AgentNotRunning, ControlClient
from agent.workspace import Workspace
from l10n import say
from l10n.times import local_text
from sync.access import ACCOUNT_TYPES, account_type_name, is_account
from sync.client import CenterClient, CenterRefused, CenterUnavailable

PASSWORD_REQUIRED = "ACCESS_PASSWORD_REQUIRED"  # the center's refusal of a registration that needs the card's password


def add_commands(commands: Any, common: Any, pin: Any) -> None:
    """The ``access`` and ``permission`` subcommands, on the parent parsers of the other commands."""
    output = {"action": "store_true", "help": "print JSON"}
    access = commands.add_parser("access", help="17999 access accounts (上网卡): register, list, show, delete")
    verbs = access.add_subparsers(dest="access_command", required=True)
    register = verbs.add_parser("register", parents=[common], help="register a 17999 account (注册卡号)")
    register.add_argument("account", help="the card's account, e.g. 02012345678@17999.e163")
    register.add_argument(
        "--type", required=True, help=" | ".join(f"{name} ({zh})" for name, zh in ACCOUNT_TYPES.items())
    )
    register.add_argument("--months", type=int, choices=(6, 12), help="broadband cards: 6 (half-year) or 12")
    register.add_argument(
        "--password-stdin", action="store_true", help="read the card's password from standard input (for scripts)"
    )
    register.add_argument("--json", **output)
    verbs.add_parser("list", parents=[common], help="the enterprise's accounts (帐号管理)").add_argument(
        "--json", **output
    )
    for verb, what in (("show", "one account, also a removed one"), ("delete", "delete an account")):
        command = verbs.add_parser(verb, parents=[common], help=what)
        command.add_argument("account")
        command.add_argument("--json", **output)

    permission = commands.add_parser("permission", help="IC card permission extensions (IC卡权限延期)")
    verbs = permission.add_subparsers(dest="permission_command", required=True)
    request = verbs.add_parser(
        "request", parents=[common, pin], help="request an extension, signed by the legal-person card in the reader"
    )
    request.add_argument("--card", required=True, help="the operator card's serial (IC卡卡号, see 'card info')")
    request.add_argument("--json", **output)
    verbs.add_parser("list", parents=[common], help="the enterprise's extension requests").add_argument(
        "--json", **output
    )


def _print(args: Any, answer: dict[str, Any], lines: list[str]) -> None:
    print(json.dumps(answer, ensure_ascii=False, indent=2) if args.json else "\n".join(lines))


def _refused(refusal: CenterRefused) -> int:
    print(say("access.refused", code=refusal.code, zh=refusal.zh, en=refusal.en), file=sys.stderr)
    return 1


def _password(args: Any) -> str:
    """The card's password, for a type the center says needs one: from the terminal (not echoed) or one line of
    stdin."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise ConfigError("no terminal to ask the card's password on: pass --password-stdin")
    return getpass.getpass(say("access.password_prompt", type=account_type_name(args.type) or args.type))


def _register(client: CenterClient, args: Any) -> dict[str, Any]:
    """注册卡号. Which types need the card's password is the center's rule: it is asked for when the center says so."""
    from agent.access import call

    try:
        return call(client, client.register_access(args.account, args.type, args.months))
    except CenterRefused as refusal:
        if refusal.code != PASSWORD_REQUIRED:
            raise
    return call(client, client.register_access(args.account, args.type, args.months, _password(args)))


def _account_lines(account: dict[str, Any]) -> list[str]:
    hours = (
        say("access.hours", used=account["hours_used"], limit=account["hour_limit"]) if account["hour_limit"] else ""
    )
    who = say("access.user_may_delete" if account["user_may_delete"] else "access.system_removes")
    return [
        f"{account['account']}  {account['type_zh']}（{account['type']}）：{account['status']}",
        say(
            "access.detail",
            valid_from=local_text(account["valid_from"]),
            expires_at=local_text(account["expires_at"]),
            until=account["until"],
            hours=hours,
        ),
        say("access.registered", at=local_text(account["registered_at"]), who=who),
    ]


def _access(client: CenterClient, workspace: Workspace, args: Any) -> int:
    from agent.access import call, describe, remember

    if args.access_command == "list":
        overview = call(client, client.access_accounts())
        remember(workspace, overview)
        _print(args, overview, describe(overview))
        return 0
    if not is_account(args.account):
        raise ConfigError(f"{args.account!r} is not a 17999 account: it is xxxxxxxxxxx@17999.e163 (keep the suffix)")
    if args.access_command == "register":
        account = _register(client, args)
        _print(args, account, [say("access.done_register"), *_account_lines(account)])
    elif args.access_command == "show":
        account = call(client, client.access_account(args.account))
        _print(args, account, _account_lines(account))
    else:
        account = call(client, client.delete_access(args.account))
        _print(args, account, [say("access.done_delete"), *_account_lines(account)])
    return 0


def run_access(workspace: Workspace, args: Any) -> int:
    from agent.access import access_client

    try:
        return _access(access_client(workspace), workspace, args)
    except CenterRefused as refusal:
        return _refused(refusal)
    except CenterUnavailable as exc:
        print(f"eport-agent: {exc}", file=sys.stderr)
        return 1


def _request_lines(request: dict[str, Any]) -> list[str]:
    until = say("permission.until", until=request["permission_until"]) if request["permission_until"] else ""
    return [
        say(
            "permission.request",
            no=request["request_no"],
            card=request["card"],
            status=request["status"],
            levels=request["levels_approved"],
            until=until,
        )
    ]


def _sign_request(workspace: Workspace, card: str, read_pin: Callable[[], str]) -> dict[str, Any]:
    """Read the card in the reader, check it is the legal-person card, then ask the PIN once and sign."""
    from agent.access import legal_person_certificate, permission_request
    from agent.card.piv import PivSession
    from agent.runtime import card_connector

    connection = card_connector(AgentConfig.load(workspace), workspace)()
    try:
        try:
            session = PivSession(connection)
            certificate = legal_person_certificate(session)
        except ApduError as exc:
            raise CardError("the card in the reader is not an E-Port card with a certificate") from exc
        session.verify_pin(read_pin())
        return permission_request(session, certificate, card)
    finally:
        connection.close()


def run_permission(
    workspace: Workspace, args: Any, read_pin: Callable[[], str], pin_failure: Callable[[Exception], int]
) -> int:
    from agent.access import access_client, call

    try:
        listing = args.permission_command == "list"  # a request is authenticated by the card's signature instead
        client = access_client(workspace, need_device=listing)
        if listing:
            requests = call(client, client.permissions())
            lines = [line for r in requests["requests"] for line in _request_lines(r)] or [say("permission.none")]
            _print(args, requests, lines)
            return 0
        with contextlib.suppress(AgentNotRunning):
            ControlClient.for_state(workspace.state).status()
            print(
                "eport-agent: stop the running agent first: this command reads the card in the reader", file=sys.stderr
            )
            return 2
        try:
            document = _sign_request(workspace, args.card, read_pin)
        except (CardError, ValueError) as exc:
            return pin_failure(exc)
        request = call(client, client.request_permission(document))
    except CenterRefused as refusal:
        return _refused(refusal)
    except CenterUnavailable as exc:
        print(f"eport-agent: {exc}", file=sys.stderr)
        return 1
    lines = [*_request_lines(request), say("permission.next")]
    _print(args, request, lines)
    return 0
