"""``eport-center``: serve the data center and administer it (enterprises, operator cards, the authorities' operations,
admin tokens, ports, the simulator, the CA).

Every command that changes or shows data takes ``--db``; the authority commands also take ``--json`` to print their
outcome (or, when refused, the refusal) as JSON. A refusal exits with status 1 and prints its code.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from center import serving, upkeep
from center.app import DEFAULT_HOST, DEFAULT_PORT
from center.ca import cert_serial_hex, certificate_pem
from center.enrollment import DEFAULT_VALID_HOURS
from center.operations import OPERATIONS, Operation
from center.refusals import Refusal
from center.registry import require_center
from center.registry_cli import add_device_commands, add_enterprise_commands, add_init, add_operator_commands
from center.registry_cli import run as run_registry
from center.service import Center
from center.simulate import STEPS, Delays, Simulator
from sync.access import LEGAL_PERSON_ROLE, OPERATOR_ROLE
from sync.algorithms import PublicKey, load_public_key_pem
from sync.enroll import DEVICE_KIND, OPERATOR_KIND

PARAM_TYPES = {"integer": int, "string": str, "decimal": str}


def _with_db(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument(
        "--db",
        required=True,
        metavar="PATH_OR_URL",
        help="the center's SQLite file path or database URL (postgresql://user@host/db), made by 'eport-center init'",
    )
    return p


def _with_json(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--json", action="store_true", help="print the outcome (or the refusal) as JSON")
    return p


def _with_valid_hours(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument(
        "--valid-hours",
        type=int,
        default=DEFAULT_VALID_HOURS,
        help=f"how long the code works (default {DEFAULT_VALID_HOURS})",
    )
    return p


def _add_operation(commands: Any, operation: Operation) -> None:
    command = _with_json(_with_db(commands.add_parser(operation.action, help=operation.summary)))
    command.set_defaults(operation=operation)
    for param in operation.params:
        command.add_argument(
            param.flag, dest=param.name, required=param.required, type=PARAM_TYPES[param.kind], help=param.help
        )


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("eport-agent")  # the one distribution that installs both programs
    except PackageNotFoundError:
        return "unknown"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="eport-center", description="E-Port export FX collection data center.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = _with_db(commands.add_parser("serve", help="run the HTTP API"))
    serve.add_argument("--host", default=DEFAULT_HOST)
    serve.add_argument("--port", type=int, default=DEFAULT_PORT)
    serve.add_argument("--tls-cert", type=Path, help="PEM certificate chain (required off loopback)")
    serve.add_argument("--tls-key", type=Path, help="PEM private key of --tls-cert")
    serving.add_options(serve)
    add_init(commands)

    enterprise = commands.add_parser("enterprise", help="enterprises (经营单位)")
    enterprise_cmds = enterprise.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = _with_db(enterprise_cmds.add_parser("create", help="register an enterprise"))
    create.add_argument("--code", required=True, help="10-character enterprise code (经营单位代码)")
    create.add_argument("--name", required=True)
    create.add_argument(
        "--org-code", help="组织机构代码 (GB 11714: 8 characters and a check character, e.g. 12345678-8)"
    )
    add_enterprise_commands(enterprise_cmds)

    operator = commands.add_parser("operator", help="operator cards")
    operator_cmds = operator.add_subparsers(dest="action", required=True, metavar="ACTION")
    enroll = _with_db(operator_cmds.add_parser("enroll", help="certify an operator card's public key"))
    enroll.add_argument("--enterprise", required=True)
    enroll.add_argument("--name", required=True, help="operator name")
    enroll.add_argument("--public-key", required=True, type=Path, help="the card's public key (PEM: P-256 or SM2)")
    enroll.add_argument("--card-serial", help="the IC card's serial number")
    enroll.add_argument(
        "--days", type=int, default=365, help="certificate validity (the FX permission is SAFE's: safe set-permission)"
    )
    enroll.add_argument(
        "--role",
        choices=(OPERATOR_ROLE, LEGAL_PERSON_ROLE),
        default=OPERATOR_ROLE,
        help="legal-person: the enterprise's legal-person card (法人卡), which requests permission extensions",
    )
    enroll.add_argument("--out", required=True, type=Path, help="where to write the operator certificate (PEM)")
    invite = _with_json(
        _with_db(operator_cmds.add_parser("invite", help="a one-time code to enroll a card over the wire"))
    )
    invite.add_argument("--enterprise", required=True)
    invite.add_argument("--name", required=True, help="operator name (the certificate's CN)")
    invite.add_argument(
        "--role", choices=(OPERATOR_ROLE, LEGAL_PERSON_ROLE), default=OPERATOR_ROLE, help="legal-person: 法人卡"
    )
    invite.add_argument(
        "--days", type=int, default=365, help="certificate validity (the FX permission is SAFE's: safe set-permission)"
    )
    _with_valid_hours(invite)
    add_operator_commands(operator_cmds)

    tls = commands.add_parser("tls", help="the center's own TLS certificate, from the CA agents pin")
    tls_cmds = tls.add_subparsers(dest="action", required=True, metavar="ACTION")
    tls_issue = _with_db(tls_cmds.add_parser("issue", help="issue a server certificate for serve --tls-cert/--tls-key"))
    tls_issue.add_argument("--host", action="append", required=True, help="a name or address agents use (repeat)")
    tls_issue.add_argument("--cert-out", required=True, type=Path, help="certificate chain (PEM)")
    tls_issue.add_argument("--key-out", required=True, type=Path, help="private key (PEM, written owner-only)")

    device = commands.add_parser("device", help="agents' own keys (unattended sync and update pulls)")
    device_cmds = device.add_subparsers(dest="action", required=True, metavar="ACTION")
    device_enroll = _with_db(device_cmds.add_parser("enroll", help="certify an agent's device key"))
    device_enroll.add_argument("--enterprise", required=True)
    device_enroll.add_argument("--name", required=True, help="which PC, e.g. 'finance-pc-2'")
    device_enroll.add_argument("--public-key", required=True, type=Path, help="the agent's state/device-key public key")
    device_enroll.add_argument("--out", required=True, type=Path, help="where to write the device certificate (PEM)")
    device_invite = _with_json(
        _with_db(device_cmds.add_parser("invite", help="a one-time code to enroll an agent PC over the wire"))
    )
    device_invite.add_argument("--enterprise", required=True)
    device_invite.add_argument("--name", help="which PC (default: the name the PC gives, its host name)")
    _with_valid_hours(device_invite)
    add_device_commands(device_cmds)

    for authority, title in (
        ("safe", "SAFE (外汇局) operations"),
        ("customs", "customs (海关) operations"),
        ("access", "17999 access accounts (上网卡注册子系统) and the network's reports"),
    ):
        actions = commands.add_parser(authority, help=title).add_subparsers(
            dest="action", required=True, metavar="ACTION"
        )
        for operation in OPERATIONS:
            if operation.authority == authority:
                _add_operation(actions, operation)

    admin = commands.add_parser("admin", help="the admin HTTP API")
    admin_cmds = admin.add_subparsers(dest="action", required=True, metavar="ACTION")
    token = _with_json(_with_db(admin_cmds.add_parser("token", help="make a bearer token (printed once)")))
    token.add_argument("--name", default="admin", help="who or what the token is for")

    ports = commands.add_parser("ports", help="the port table (关区代码表)")
    ports_cmds = ports.add_subparsers(dest="action", required=True, metavar="ACTION")
    port_import = _with_json(_with_db(ports_cmds.add_parser("import", help="add and rename ports from a CSV file")))
    port_import.add_argument("file", type=Path, help="CSV with the header code,name (or 关区代码,关区名称)")
    search = _with_json(_with_db(ports_cmds.add_parser("search", help="ports matching part of a name or code")))
    search.add_argument("text")

    simulate = _with_db(commands.add_parser("simulate", help="play customs and SAFE automatically"))
    simulate.add_argument("--delay", type=float, default=10.0, help="seconds each step waits (default 10)")
    simulate.add_argument(
        "--step-delay",
        action="append",
        default=[],
        metavar="STEP=SECONDS",
        help=f"another delay for one step ({', '.join(STEPS)}); repeatable",
    )
    simulate.add_argument("--interval", type=float, default=1.0, help="seconds between passes (default 1)")
    simulate.add_argument("--once", action="store_true", help="one pass, then exit")

    _with_db(commands.add_parser("ca", help="print the CA certificate (PEM) that agents pin"))
    upkeep.add_commands(commands)
    return parser


def _load_public_key(path: Path) -> PublicKey:
    try:
        return load_public_key_pem(path.read_bytes())
    except ValueError as exc:
        raise Refusal("KEY_INVALID", detail=f"{path} is not a PEM P-256 or SM2 public key") from exc


def _serve(args: argparse.Namespace) -> int:
    require_center(args.db)
    return serving.serve(args)


def _print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2))


def _describe(outcome: dict[str, Any]) -> str:
    """An operation's outcome for a person: issued form numbers one per line, else its facts."""
    if "forms" in outcome:
        return "\n".join(outcome["forms"])
    if "accounts" in outcome:
        lines = [
            f"{a['account']} {a['type']} ({a['type_zh']}) until {a['until']}: {a['status']}"
            for a in outcome["accounts"]
        ]
        return "\n".join([*lines, f"business {'open' if outcome['open'] else 'closed'}"])
    if "permission" in outcome:
        words = {"valid": "有效 valid", "expired": "已到期 expired", "not_granted": "未开通 none"}
        state = words[outcome["permission"]]
        return f"card {outcome['card']} ({outcome['enterprise']}): 出口收汇权限 {state} until {outcome['until'] or '-'}"
    form = outcome.get("form")
    if form is not None:
        return (
            f"form {form['form_no']} ({form['enterprise_code']}): {form['safe_status_zh']} / "
            f"{form['customs_status_zh']} / {form['submission_status_zh']}, port {form['port'] or '-'}"
        )
    return ", ".join(f"{key} {value}" for key, value in outcome.items())


def _operation(center: Center, args: argparse.Namespace) -> None:
    operation: Operation = args.operation
    raw = {p.name: getattr(args, p.name) for p in operation.params}
    outcome = operation.call(center, raw)
    if args.json:
        _print_json(outcome)
    else:
        print(_describe(outcome))


def _delays(args: argparse.Namespace) -> Delays:
    delays = Delays.every(args.delay)
    for item in args.step_delay:
        step, sep, seconds = item.partition("=")
        if not sep:
            raise ValueError(f"--step-delay takes STEP=SECONDS, not {item!r}")
        delays = delays.with_step(step.strip(), float(seconds))
    return delays


async def _simulate_until_stopped(simulator: Simulator) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    await simulator.run(stop)


def _simulate(center: Center, args: argparse.Namespace) -> None:
    simulator = Simulator(center, _delays(args), args.interval)
    if args.once:
        for action in simulator.step():
            print(f"{action.step} {action.subject} {action.code}")
        return
    print(f"simulating customs and SAFE on {args.db}; Ctrl-C stops.", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_simulate_until_stopped(simulator))


def _ports(center: Center, args: argparse.Namespace) -> None:
    if args.action == "import":
        counts = center.import_ports(args.file.read_text(encoding="utf-8-sig"))
        print(json.dumps(counts) if args.json else ", ".join(f"{k} {v}" for k, v in counts.items()))
        return
    found = center.search_ports(args.text)
    if args.json:
        _print_json(found)
    else:
        print("\n".join(f"{p['code']} {p['name']}" for p in found))


def _enroll(center: Center, args: argparse.Namespace) -> None:
    cert = center.enroll_operator(
        args.enterprise, _load_public_key(args.public_key), args.name, args.card_serial, args.days, args.role
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(certificate_pem(cert), encoding="ascii")
    print(f"operator certificate (serial {cert_serial_hex(cert)}) written to {args.out}")
    print("CA certificate to pin:")
    print(center.ca_certificate_pem(), end="")


def _invite(center: Center, args: argparse.Namespace) -> None:
    """A one-time enrollment code (sync.enroll), printed once: only its hash is kept."""
    if args.command == "operator":
        invitation = center.invite(OPERATOR_KIND, args.enterprise, args.name, args.role, args.days, args.valid_hours)
        what = f"{'legal-person' if args.role == LEGAL_PERSON_ROLE else 'operator'} card of {args.name}"
        command = "card enroll"
    else:
        invitation = center.invite(DEVICE_KIND, args.enterprise, args.name, valid_hours=args.valid_hours)
        what, command = f"agent PC {args.name or '(named by the PC)'}", "device enroll"
    if args.json:
        _print_json(invitation)
        return
    until = dt.datetime.fromisoformat(invitation["expires_at"])
    print(
        f"注册码 / enrollment code: {what} of {args.enterprise}; single use, until {until:%Y-%m-%d %H:%M} UTC\n\n"
        f"    {invitation['code']}\n\n"
        f"on that PC: eport-agent {command} --center <this center's https address> --code <the code>\n"
        "(after the dot: the SHA-256 of this center's CA certificate, which the agent pins by it)"
    )


def _run(args: argparse.Namespace) -> int:
    if args.command == "serve":
        return _serve(args)
    if getattr(args, "upkeep", None) is not None:
        return int(args.upkeep(args))
    if getattr(args, "registry", None) is not None:
        return run_registry(args)
    require_center(args.db)  # a mistyped --db never makes a new center with a new CA
    with Center.open(args.db) as center:
        if args.command == "ca":
            print(center.ca_certificate_pem(), end="")
        elif args.command == "enterprise":
            created = center.create_enterprise(args.code, args.name, args.org_code)
            print(f"enterprise {args.code} {'created' if created else 'already registered'}: {args.name}")
        elif args.command in ("operator", "device") and args.action == "invite":
            _invite(center, args)
        elif args.command == "operator":
            _enroll(center, args)
        elif args.command == "tls":
            key_pem, chain_pem = center.issue_tls_certificate(args.host)
            args.key_out.touch(mode=0o600)
            args.key_out.write_text(key_pem, encoding="ascii")
            args.cert_out.write_text(chain_pem, encoding="ascii")
            print(f"TLS certificate for {', '.join(args.host)} written to {args.cert_out} (key {args.key_out})")
        elif args.command == "device":
            cert = center.enroll_device(args.enterprise, _load_public_key(args.public_key), args.name)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(certificate_pem(cert), encoding="ascii")
            print(
                f"device certificate (serial {cert_serial_hex(cert)}) written to {args.out}: "
                "copy it to the agent's state/device-cert.pem"
            )
        elif args.command in ("safe", "customs", "access"):
            _operation(center, args)
        elif args.command == "admin":
            token = center.create_admin_token(args.name)
            print(json.dumps({"name": args.name, "token": token}) if args.json else token)
        elif args.command == "ports":
            _ports(center, args)
        elif args.command == "simulate":
            _simulate(center, args)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except Refusal as refusal:
        if getattr(args, "json", False):
            _print_json(refusal.as_json())
        print(f"eport-center: {refusal.code}: {refusal.zh} / {refusal.en}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        print(f"eport-center: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
