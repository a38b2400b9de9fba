"""``eport-center init`` (a new center, once) and the register's commands: ``enterprise list``, ``operator
list|revoke``, ``device list|revoke`` (center.registry). Registered on center.cli's parser; each command it adds
carries its handler (``registry``), so center.cli dispatches them without knowing them."""

from __future__ import annotations

import argparse
import json
from typing import Any

from center.registry import (
    create_center,
    fingerprint_hex,
    list_devices,
    list_enterprises,
    list_operators,
    revoke_device,
    revoke_operator,
)
from center.service import Center
from sync.algorithms import CHOICES, NAMES


def _db(p: argparse.ArgumentParser, help: str = "SQLite file path or database URL of the center") -> None:
    p.add_argument("--db", required=True, metavar="PATH_OR_URL", help=help)
    p.add_argument("--json", action="store_true", help="print the outcome (or the refusal) as JSON")


def add_init(commands: Any) -> None:
    init = commands.add_parser("init", help="create the center (its CA and receipt key) in a new database, once")
    _db(init, "the new database: a SQLite file path (its folder is created) or a database URL")
    init.add_argument(
        "--algorithm",
        choices=sorted(CHOICES),
        default="p256",
        help="the CA's keys and signatures, and the only kind of card and PC key the center certifies and accepts: "
        "p256 (ECDSA P-256, ES256; the default) or sm2 (SM2 with SM3, 国密)",
    )
    init.set_defaults(registry=_init)


def add_enterprise_commands(actions: Any) -> None:
    listing = actions.add_parser("list", help="the enterprises, with their active cards and PCs")
    _db(listing)
    listing.set_defaults(registry=_enterprises)


def add_operator_commands(actions: Any) -> None:
    listing = actions.add_parser("list", help="the operator cards' certificates (revoked ones too)")
    _db(listing)
    listing.add_argument("--enterprise", help="only this enterprise's")
    listing.set_defaults(registry=_operators)
    revoke = actions.add_parser("revoke", help="revoke a lost or retired card: its batches are refused from now on")
    _db(revoke)
    which = revoke.add_mutually_exclusive_group(required=True)
    which.add_argument("--card", metavar="CARD_SERIAL", help="every certificate of this card serial (card info)")
    which.add_argument("--certificate", metavar="SERIAL", help="one certificate, by its serial (operator list)")
    revoke.set_defaults(registry=_revoke_operator)


def add_device_commands(actions: Any) -> None:
    listing = actions.add_parser("list", help="the agent PCs' device certificates (revoked ones too)")
    _db(listing)
    listing.add_argument("--enterprise", help="only this enterprise's")
    listing.set_defaults(registry=_devices)
    revoke = actions.add_parser("revoke", help="revoke a lost or retired PC: its unattended requests are refused")
    _db(revoke)
    revoke.add_argument("--certificate", required=True, metavar="SERIAL", help="its serial (device list)")
    revoke.set_defaults(registry=_revoke_device)


def run(args: argparse.Namespace) -> int:
    """Run the command's handler; refusals go back to center.cli's main."""
    handler = args.registry
    if handler is _init:
        return _init(args)
    from center.registry import require_center

    require_center(args.db)
    with Center.open(args.db) as center:
        return int(handler(center, args))


def _print(args: argparse.Namespace, data: Any, lines: list[str]) -> int:
    print(json.dumps(data, ensure_ascii=False, indent=2) if args.json else "\n".join(lines))
    return 0


def _init(args: argparse.Namespace) -> int:
    with create_center(args.db, CHOICES[args.algorithm]) as center:
        fingerprint = fingerprint_hex(center.ca_certificate())
        algorithm = center.algorithm
    data = {"db": args.db, "ca_fingerprint": fingerprint, "algorithm": algorithm}
    lines = [
        f"数据中心已创建 / the center is created in {args.db}",
        f"CA证书指纹 / CA fingerprint (SHA-256): {fingerprint}",
        f"签名算法 / algorithm: {NAMES[algorithm]}",
        "下一步 / next: eport-center tls issue, eport-center serve, eport-center enterprise create, "
        "eport-center operator invite (docs/OPERATOR.md)",
    ]
    return _print(args, data, lines)


def _enterprises(center: Center, args: argparse.Namespace) -> int:
    found = list_enterprises(center)
    lines = [
        f"{e['code']} {e['name']}  组织机构代码 org code {e['org_code'] or '-'}  操作员卡 cards {e['cards']}  "
        f"本机 PCs {e['pcs']}"
        for e in found
    ]
    return _print(args, found, lines or ["（没有企业 / no enterprises）"])


def _state(revoked: bool) -> str:
    return "已注销 revoked" if revoked else "有效 active"


def _permission(operator: dict[str, Any]) -> str:
    if operator["fx_permission"] == "not_granted":
        return "未开通 none"
    word = "有效 valid" if operator["fx_permission"] == "valid" else "已到期 expired"
    return f"{word} {operator['fx_permission_until']}"


def _operators(center: Center, args: argparse.Namespace) -> int:
    found = list_operators(center, args.enterprise)
    lines = [
        f"{o['certificate']}  {o['enterprise']} {o['name']} ({o['role']})  卡号 card {o['card_serial'] or '-'}  "
        f"有效期至 valid until {o['valid_until']}  出口收汇权限 FX permission {_permission(o)}  {_state(o['revoked'])}"
        for o in found
    ]
    return _print(args, found, lines or ["（没有操作员卡 / no operator cards）"])


def _devices(center: Center, args: argparse.Namespace) -> int:
    found = list_devices(center, args.enterprise)
    lines = [
        f"{d['certificate']}  {d['enterprise']} {d['name']}  有效期至 valid until {d['valid_until']}  "
        f"{_state(d['revoked'])}"
        for d in found
    ]
    return _print(args, found, lines or ["（没有登记的本机 / no agent PCs）"])


def _revoked(args: argparse.Namespace, revoked: list[dict[str, Any]], what_zh: str, what_en: str, after: str) -> int:
    lines = [
        f"{what_zh}{r['name']}（证书 {r['certificate']}）{'早已注销' if r['was_revoked'] else '已注销'}"
        f" / {what_en} of {r['name']} (certificate {r['certificate']}) "
        f"{'was already revoked' if r['was_revoked'] else 'is revoked'}"
        for r in revoked
    ]
    return _print(args, revoked, [*lines, after])


def _revoke_operator(center: Center, args: argparse.Namespace) -> int:
    revoked = revoke_operator(center, certificate=args.certificate, card=args.card)
    after = (
        "此后该卡签名的批次一律被拒绝（OPERATOR_REVOKED）；新卡用 eport-center operator invite 注册"
        " / batches signed by it are refused from now on (OPERATOR_REVOKED); enroll a new card with "
        "'eport-center operator invite'"
    )
    return _revoked(args, revoked, "操作员卡", "the operator card", after)


def _revoke_device(center: Center, args: argparse.Namespace) -> int:
    revoked = revoke_device(center, args.certificate)
    after = (
        "此后该机的自动同步请求一律被拒绝（DEVICE_UNKNOWN）；重新登记用 eport-center device invite"
        " / its unattended requests are refused from now on (DEVICE_UNKNOWN); enroll it again with "
        "'eport-center device invite'"
    )
    return _revoked(args, revoked, "本机", "the agent PC", after)
