"""The card's secrets on the command line: the card management key that `card enroll` needs on a real PIV card (asked
once, kept nowhere, the well-known default offered only when the card says it still has it), and `card change-pin` /
`card change-puk` (CHANGE REFERENCE DATA, once, never retried; docs/CARDS.md)."""

from __future__ import annotations

import contextlib
import getpass
import sys
from collections.abc import Callable
from typing import Any

from agent.card.errors import CardError, InvalidPinError, PinBlockedError, PukBlockedError, WrongPukError
from agent.card.piv import PivSession
from agent.card.piv_admin import (
    DEFAULT_MANAGEMENT_KEY,
    ManagementKeyInfo,
    change_pin,
    change_puk,
    check_puk,
    parse_management_key,
)
from agent.config import AgentConfig, ConfigError
from agent.control import AgentNotRunning, ControlClient
from agent.workspace import Workspace

DEFAULT_KEY_WARNING = (
    "警告：这张卡仍使用公开的默认管理密钥（010203…0708），任何拿到卡的人都能改写卡上的密钥和证书。"
    "注册后请立即更改管理密钥（见 docs/CARDS.md“管理密钥”）。\n"
    "WARNING: this card still has the well-known default management key (010203...0708): anyone holding the card "
    "can replace its key and certificate. Change the management key right after enrolling (docs/CARDS.md, "
    "'The management key')."
)


def add_admin_commands(verbs: Any, common: Any, pin: Any) -> None:
    """`card change-pin` and `card change-puk`."""
    verbs.add_parser(
        "change-pin", parents=[common, pin], help="change the card's PIN (with --pin-stdin: current, new on two lines)"
    )
    verbs.add_parser(
        "change-puk", parents=[common, pin], help="change the card's PUK (with --pin-stdin: current, new on two lines)"
    )


def add_management_key_option(command: Any) -> None:
    command.add_argument(
        "--management-key-stdin",
        action="store_true",
        help="read the card management key from standard input (after the PIN with --pin-stdin); an empty line "
        "takes the well-known default, only when the card reports it still has it",
    )


class ManagementKeyPrompt:
    """Asks for the management key once, when the card is known (a ``ManagementKeySource``); remembers only whether
    the default was used, to advise changing it afterwards."""

    def __init__(self, from_stdin: bool) -> None:
        self.from_stdin = from_stdin
        self.used_default = False

    def __call__(self, info: ManagementKeyInfo) -> bytes:
        if info.is_default:
            print(DEFAULT_KEY_WARNING, file=sys.stderr, flush=True)
        offer = " [回车 = 默认密钥 / Enter = the default]" if info.is_default else ""
        if self.from_stdin:
            text = sys.stdin.readline().rstrip("\r\n")
        elif sys.stdin.isatty():
            text = getpass.getpass(f"卡管理密钥（十六进制） / card management key (hex){offer}: ")
        else:
            raise ConfigError(
                "没有终端可询问卡管理密钥：请加 --management-key-stdin 并从标准输入提供"
                " / no terminal to ask the management key on: pass --management-key-stdin and give it on standard input"
            )
        if not text.strip():
            if not info.is_default:
                raise ValueError(
                    "需要输入卡管理密钥：这张卡没有报告它仍使用默认密钥"
                    " / type the card's management key: the card does not report that it still has the default"
                )
            key = DEFAULT_MANAGEMENT_KEY
        else:
            key = parse_management_key(text)
        self.used_default = key == DEFAULT_MANAGEMENT_KEY
        return key

    def advise(self) -> None:
        """After a successful enrollment with the default key: say it again, loudly."""
        if self.used_default:
            print(DEFAULT_KEY_WARNING, file=sys.stderr)


def _secret(args: Any, prompt: str) -> str:
    if args.pin_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise ConfigError("no terminal to ask on: pass --pin-stdin and give the current and the new value on two lines")
    return getpass.getpass(prompt)


def _old_and_new(args: Any, what: str) -> tuple[str, str] | None:
    old = _secret(args, f"当前{what} / current {what}: ")
    new = _secret(args, f"新{what} / new {what}: ")
    if not args.pin_stdin and _secret(args, f"再次输入新{what} / new {what} again: ") != new:
        print(f"eport-agent: 两次输入的新{what}不一致，未做任何更改 / the new {what}s differ: nothing was changed")
        return None
    return old, new


def _on_card(workspace: Workspace, work: Callable[[PivSession], None]) -> None:
    """``work`` on a session of its own on the configured card; the emulated card is saved afterwards."""
    from agent.card_identity import select_piv
    from agent.runtime import EMULATED, card_connector, emulated_card_file

    config = AgentConfig.load(workspace)
    connection = card_connector(config, workspace)()
    try:
        work(select_piv(connection))
    finally:
        connection.close()
        if config.card_reader == EMULATED:
            from agent.card.emulated import EmulatedConnection

            assert isinstance(connection, EmulatedConnection)
            connection.card.save(emulated_card_file(workspace))


def cmd_change_reference(workspace: Workspace, args: Any) -> int:
    """`card change-pin` / `card change-puk`: one CHANGE REFERENCE DATA, its failure reported with the tries left."""
    is_pin = args.card_command == "change-pin"
    what = "PIN" if is_pin else "PUK"
    with contextlib.suppress(AgentNotRunning):
        ControlClient.for_state(workspace.state).status()
        print(
            f"eport-agent: 请先退出正在运行的 eport-agent（它占用着这张卡），再更改{what}"
            f" / stop the running agent first (it holds the card), then change the {what}",
            file=sys.stderr,
        )
        return 2
    pair = _old_and_new(args, what)
    if pair is None:
        return 2
    old, new = pair
    try:
        if not is_pin:
            check_puk(new)  # a PUK that cannot be typed later is refused before the card is touched
        _on_card(workspace, lambda session: (change_pin if is_pin else change_puk)(session, old, new))
    except InvalidPinError as exc:
        print(
            f"eport-agent: 当前PIN不正确，PIN未更改；再错{exc.tries_left}次卡将被锁定"
            f" / wrong current PIN, the PIN was not changed: {exc.tries_left} tries left before the card blocks",
            file=sys.stderr,
        )
        return 1
    except PinBlockedError:
        print(
            "eport-agent: 卡的PIN已锁定，需用PUK解锁（见 docs/CARDS.md） / the card's PIN is blocked: it is unblocked "
            "with the PUK (docs/CARDS.md)",
            file=sys.stderr,
        )
        return 1
    except (WrongPukError, PukBlockedError) as exc:
        print(f"eport-agent: PUK未更改 / the PUK was not changed: {exc}", file=sys.stderr)
        return 1
    except (CardError, ValueError) as exc:
        print(f"eport-agent: {what}未更改 / the {what} was not changed: {exc}", file=sys.stderr)
        return 1
    print(f"{what}已更改 / the card's {what} is changed")
    return 0
