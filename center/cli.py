"""``eport-center``: serve the data center and administer it (enterprises, operator cards, form issuance, CA)."""

from __future__ import annotations

import argparse
import json
import ssl
import sys
from collections.abc import Sequence
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from center.app import DEFAULT_HOST, DEFAULT_PORT, run_center
from center.ca import cert_serial_hex, certificate_pem
from center.refusals import Refusal
from center.service import Center


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="eport-center", description="E-Port export FX collection data center.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_db(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument(
            "--db",
            required=True,
            metavar="PATH_OR_URL",
            help="SQLite file path (created if missing) or a SQLAlchemy URL (postgresql://...)",
        )
        return p

    serve = with_db(commands.add_parser("serve", help="run the HTTP API"))
    serve.add_argument("--host", default=DEFAULT_HOST)
    serve.add_argument("--port", type=int, default=DEFAULT_PORT)
    serve.add_argument("--tls-cert", type=Path, help="PEM certificate chain (required off loopback)")
    serve.add_argument("--tls-key", type=Path, help="PEM private key of --tls-cert")

    enterprise = commands.add_parser("enterprise", help="enterprises (经营单位)")
    enterprise_cmds = enterprise.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = with_db(enterprise_cmds.add_parser("create", help="register an enterprise"))
    create.add_argument("--code", required=True, help="10-character enterprise code (经营单位代码)")
    create.add_argument("--name", required=True)

    operator = commands.add_parser("operator", help="operator cards")
    operator_cmds = operator.add_subparsers(dest="action", required=True, metavar="ACTION")
    enroll = with_db(operator_cmds.add_parser("enroll", help="certify an operator card's public key"))
    enroll.add_argument("--enterprise", required=True)
    enroll.add_argument("--name", required=True, help="operator name")
    enroll.add_argument("--public-key", required=True, type=Path, help="the card's P-256 public key (PEM)")
    enroll.add_argument("--card-serial", help="the IC card's serial number")
    enroll.add_argument("--days", type=int, default=365, help="certificate and FX permission validity")
    enroll.add_argument("--out", required=True, type=Path, help="where to write the operator certificate (PEM)")

    safe = commands.add_parser("safe", help="SAFE authority operations")
    safe_cmds = safe.add_subparsers(dest="action", required=True, metavar="ACTION")
    issue = with_db(safe_cmds.add_parser("issue", help="issue new verification forms (核销单) to an enterprise"))
    issue.add_argument("--enterprise", required=True)
    issue.add_argument("--copies", required=True, type=int)
    issue.add_argument("--json", action="store_true", help='print {"forms": [...]}')

    with_db(commands.add_parser("ca", help="print the CA certificate (PEM) that agents pin"))
    return parser


def _load_public_key(path: Path) -> ec.EllipticCurvePublicKey:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except ValueError as exc:
        raise Refusal("KEY_INVALID", detail=f"{path} is not a PEM public key") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise Refusal("KEY_INVALID", detail=f"{path} is not an EC key")
    return key


def _serve(args: argparse.Namespace) -> int:
    context = None
    if args.tls_cert or args.tls_key:
        if not (args.tls_cert and args.tls_key):
            raise SystemExit("eport-center: --tls-cert and --tls-key go together")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.tls_cert, args.tls_key)
    with Center.open(args.db) as center:
        run_center(center, args.host, args.port, context)
    return 0


def _run(args: argparse.Namespace) -> int:
    if args.command == "serve":
        return _serve(args)
    with Center.open(args.db) as center:
        if args.command == "ca":
            print(center.ca_certificate_pem(), end="")
        elif args.command == "enterprise":
            created = center.create_enterprise(args.code, args.name)
            print(f"enterprise {args.code} {'created' if created else 'already registered'}: {args.name}")
        elif args.command == "operator":
            cert = center.enroll_operator(
                args.enterprise, _load_public_key(args.public_key), args.name, args.card_serial, args.days
            )
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(certificate_pem(cert), encoding="ascii")
            print(f"operator certificate (serial {cert_serial_hex(cert)}) written to {args.out}")
            print("CA certificate to pin:")
            print(center.ca_certificate_pem(), end="")
        elif args.command == "safe":
            numbers = center.issue_forms(args.enterprise, args.copies)
            print(json.dumps({"forms": numbers}) if args.json else "\n".join(numbers))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except Refusal as refusal:
        print(f"eport-center: {refusal.code}: {refusal.zh} / {refusal.en}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        print(f"eport-center: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
