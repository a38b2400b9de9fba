"""The authorities' operations as ``eport-center`` commands and as the admin HTTP API (bearer token), and the
OpenAPI description that the center serves, kept true against the app's routes and real answers."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
import sqlalchemy as sa

from center import db
from center.admin import FailedLogins
from center.app import create_app
from center.cli import main
from center.openapi import openapi_spec
from center.operations import OPERATIONS
from center.service import Center
from tests.center_support import (
    ENTERPRISE,
    Card,
    Client,
    Desk,
    center_cli,
    enroll,
    filing_payload,
    loopback_client,
    run_cli,
    status,
    use_form,
)


def file_forms(center: Center, card: Card, *forms: str, port: str = "5300") -> None:
    records = [{"seq": i, "form_no": n, "port": port} for i, n in enumerate(forms, start=1)]
    answer = center.receive_batch(card.sign(filing_payload(f"file-{forms[0]}", records)))
    assert {r["code"] for r in answer["results"]} == {"OK"}


# The commands.


def test_authority_commands_take_a_form_through_its_life(center: Center, db_url: str) -> None:
    card = enroll(center)
    unified_no = center.receive_batch(
        card.sign(filing_payload("apply", [{"seq": 1, "copies": 2}], kind="applications"))
    )["results"][0]["unified_no"]
    code, approved, _ = center_cli(db_url, "safe", "approve", "--unified-no", unified_no, "--copies", "1")
    assert (code, approved["approved_copies"]) == (0, 1)
    code, issued, _ = center_cli(db_url, "safe", "issue", "--unified-no", unified_no)
    assert code == 0 and issued["unified_no"] == unified_no
    [form_no] = issued["forms"]
    file_forms(center, card, form_no)
    declaration_no = "530020241000000007"
    code, used, _ = center_cli(
        db_url, "customs", "use", "--form-no", form_no, "--declaration-no", declaration_no,
        "--port", "5300", "--export-date", "2024-05-06",
    )  # fmt: skip
    assert (code, used["form"]["customs_status"]) == (0, "used")
    code, declared, _ = center_cli(
        db_url, "customs", "declare", "--declaration-no", declaration_no, "--form-no", form_no,
        "--export-date", "2024-05-06", "--port", "深圳海关", "--trade-mode", "一般贸易", "--amount", "100.5",
        "--currency", "usd",
    )  # fmt: skip
    assert (code, declared["declaration_no"]) == (0, declaration_no)
    center.receive_batch(card.sign(filing_payload("submit", [{"seq": 1, "form_no": form_no}], kind="submissions")))
    code, modified, _ = center_cli(db_url, "customs", "modify", "--declaration-no", declaration_no, "--amount", "99")
    assert (code, modified["form"]["submission_status"]) == (0, "resubmit_required")
    center.receive_batch(card.sign(filing_payload("resubmit", [{"seq": 1, "form_no": form_no}], kind="submissions")))
    code, verified, _ = center_cli(db_url, "safe", "verify", "--form-no", form_no)
    assert (code, verified["form"]["safe_status"]) == (0, "verified")


def test_cancellation_commands(center: Center, db_url: str) -> None:
    card = enroll(center)
    first, second = center.issue_forms(ENTERPRISE, 2)
    file_forms(center, card, first, second)
    records = [{"seq": 1, "form_no": first}, {"seq": 2, "form_no": second}]
    center.receive_batch(card.sign(filing_payload("cancel", records, kind="cancellations")))
    code, confirmed, _ = center_cli(db_url, "customs", "confirm-cancel", "--form-no", first)
    assert (code, confirmed["form"]["customs_status"], confirmed["form"]["port"]) == (0, "unused", None)
    code, refused, _ = center_cli(db_url, "customs", "refuse-cancel", "--form-no", second)
    assert (code, refused["form"]["customs_status"]) == (0, "filed")


def test_a_refused_command_exits_1_with_the_code(center: Center, db_url: str) -> None:
    [form_no] = center.issue_forms(ENTERPRISE, 1)
    code, refusal, err = center_cli(db_url, "customs", "confirm-cancel", "--form-no", form_no)
    assert code == 1 and refusal["code"] == "CANCEL_NOT_PENDING" and "CANCEL_NOT_PENDING" in err
    assert refusal["message_zh"] and refusal["message_en"]
    code, refusal, _ = center_cli(db_url, "safe", "issue", "--unified-no", "209900000001")
    assert (code, refusal["code"]) == (1, "APPLICATION_NOT_FOUND")


def test_text_output_describes_the_form(center: Center, db_url: str) -> None:
    card = enroll(center)
    [form_no] = center.issue_forms(ENTERPRISE, 1)
    file_forms(center, card, form_no)
    center.receive_batch(card.sign(filing_payload("c", [{"seq": 1, "form_no": form_no}], kind="cancellations")))
    ran = run_cli(main, "customs", "confirm-cancel", "--db", db_url, "--form-no", form_no)
    assert ran.code == 0 and f"form {form_no} ({ENTERPRISE}): 有效 / 未用 / 未交单, port -" in ran.out


# The admin API.


async def test_admin_api_needs_a_valid_token(center: Center) -> None:
    [form_no] = center.issue_forms(ENTERPRISE, 1)
    # More failures than an address may make in a minute (tests/test_center_admin_failures.py): allowed here.
    async with loopback_client(center, admin_failures=FailedLogins(allowed=100)) as client:
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}):
            response = await client.post("/api/v1/admin/safe/verify", json={"form_no": form_no}, headers=headers)
            assert (response.status, (await response.json())["code"]) == (401, "ADMIN_UNAUTHORIZED")
            response = await client.get(f"/api/v1/admin/forms/{form_no}", headers=headers)
            assert response.status == 401


async def test_admin_token_is_stored_only_as_a_hash(center: Center, db_url: str) -> None:
    token = center.create_admin_token("ops")
    with center.engine.connect() as conn:
        stored = [tuple(r) for r in conn.execute(sa.select(db.admin_tokens))]
    assert len(stored) == 1 and not any(token in str(cell) for cell in stored[0])
    assert center.admin_token_name(token) == "ops" and center.admin_token_name(token + "x") is None


def test_admin_token_command(db_url: str) -> None:
    assert center_cli(db_url, "init")[0] == 0
    code, made, _ = center_cli(db_url, "admin", "token", "--name", "simulator")
    assert code == 0 and made["name"] == "simulator"
    with Center.open(db_url) as center:
        assert center.admin_token_name(made["token"]) == "simulator"


async def test_admin_api_operations(center: Center, client: Client) -> None:
    headers = {"Authorization": f"Bearer {center.create_admin_token('test')}"}
    desk = Desk(center, client, enroll(center))
    unified_no = (await desk.one("applications", copies=2))["unified_no"]

    async def admin(path: str, body: Any) -> tuple[int, Any]:
        response = await client.post(f"/api/v1/admin/{path}", json=body, headers=headers)
        return response.status, await response.json()

    assert (await admin("safe/approve", {"unified_no": unified_no}))[1]["approved_copies"] == 2
    _, issued = await admin("safe/issue", {"unified_no": unified_no})
    first, second = issued["forms"]
    await desk.send("filings", [{"form_no": first, "port": "5300"}, {"form_no": second, "port": "5300"}])
    number = "530020241000000042"
    use = {"form_no": first, "declaration_no": number, "port": "5300", "export_date": "2024-05-06"}
    assert (await admin("customs/use", use))[1]["form"]["customs_status"] == "used"
    declare = {
        "declaration_no": number,
        "form_no": first,
        "export_date": "2024-05-06",
        "port": "5300",
        "trade_mode": "一般贸易",
        "amount": 12.5,
        "currency": "USD",
    }
    assert (await admin("customs/declare", declare))[0] == 200
    await desk.one("submissions", form_no=first)
    assert (await admin("customs/modify", {"declaration_no": number, "amount": "13"}))[0] == 200
    await desk.one("submissions", form_no=first)
    assert (await admin("safe/verify", {"form_no": first}))[1]["form"]["safe_status"] == "verified"
    await desk.one("cancellations", form_no=second)
    assert (await admin("customs/refuse-cancel", {"form_no": second}))[1]["form"]["customs_status"] == "filed"
    await desk.one("cancellations", form_no=second)
    assert (await admin("customs/confirm-cancel", {"form_no": second}))[1]["form"]["customs_status"] == "unused"
    response = await client.get(f"/api/v1/admin/forms/{first}", headers=headers)
    assert (await response.json())["safe_status_zh"] == "已核销"
    assert status(center, first) == ("verified", "used", "submitted")


@pytest.mark.parametrize(
    ("path", "body", "http", "code"),
    [
        ("safe/verify", {"form_no": "99999999Z"}, 404, "FORM_NOT_FOUND"),
        ("safe/verify", {}, 400, "ARGUMENT_INVALID"),
        ("safe/verify", {"form_no": 1}, 400, "ARGUMENT_INVALID"),
        ("safe/verify", {"form_no": "000000001", "extra": 1}, 400, "ARGUMENT_INVALID"),
        ("safe/approve", {"unified_no": "1", "copies": "2"}, 400, "ARGUMENT_INVALID"),
        ("safe/issue", {"enterprise": ENTERPRISE, "copies": 0}, 400, "COPIES_INVALID"),
        ("safe/verify", ["000000001"], 400, "BAD_REQUEST"),
        ("customs/confirm-cancel", {"form_no": "000000001"}, 409, "CANCEL_NOT_PENDING"),
    ],
)
async def test_admin_api_refusals(center: Center, client: Client, path: str, body: Any, http: int, code: str) -> None:
    center.issue_forms(ENTERPRISE, 1)
    headers = {"Authorization": f"Bearer {center.create_admin_token('test')}"}
    response = await client.post(f"/api/v1/admin/{path}", json=body, headers=headers)
    assert (response.status, (await response.json())["code"]) == (http, code)
    response = await client.get("/api/v1/admin/forms/99999999Z", headers=headers)
    assert (response.status, (await response.json())["code"]) == (404, "FORM_NOT_FOUND")


# The OpenAPI description.


def _schema(spec: dict[str, Any], name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}", "components": spec["components"]}


def test_every_route_is_described_and_every_description_is_routed(center: Center) -> None:
    app = create_app(center)
    routed = {
        (r.method.lower(), r.resource.canonical)
        for r in app.router.routes()
        if r.resource is not None and r.method != "HEAD"
    }
    spec = openapi_spec()
    described = {(method, path) for path, item in spec["paths"].items() for method in item}
    assert routed == described
    assert {op.path for op in OPERATIONS} <= set(spec["paths"])
    jsonschema.Draft202012Validator.check_schema(_schema(spec, "BatchAnswer"))


async def test_real_answers_validate_against_the_spec(center: Center, client: Client) -> None:
    spec = await (await client.get("/api/v1/openapi.json")).json()
    assert spec == json.loads(json.dumps(openapi_spec()))
    desk = Desk(center, client, enroll(center))
    headers = {"Authorization": f"Bearer {center.create_admin_token('test')}"}
    forms = center.issue_forms(ENTERPRISE, 2)
    await desk.send("filings", [{"form_no": forms[0], "port": "5300"}])
    use_form(center, forms[0])

    def check(name: str, instance: Any) -> None:
        jsonschema.validate(instance, _schema(spec, name), cls=jsonschema.Draft202012Validator)

    check("BatchAnswer", await desk.send("filings", [{"start_form_no": forms[0], "count": 2, "port": "5300"}]))
    check("BatchAnswer", await desk.send("applications", [{"copies": 1}, {"copies": 0}]))
    check("BatchAnswer", await desk.query(("form", "form_no", "prefix", "0")))
    check("Ports", await (await client.get("/api/v1/ports?q=深圳")).json())
    check("Port", await (await client.get("/api/v1/ports/5300")).json())
    check("Refusal", await (await client.get("/api/v1/ports/9999")).json())
    check("Health", await (await client.get("/healthz")).json())
    check("Form", await (await client.get(f"/api/v1/admin/forms/{forms[0]}", headers=headers)).json())
    verify = await client.post("/api/v1/admin/safe/verify", json={"form_no": forms[0]}, headers=headers)
    check("Refusal", await verify.json())
    issued = await client.post(
        "/api/v1/admin/safe/issue", json={"enterprise": ENTERPRISE, "copies": 1}, headers=headers
    )
    check("IssueOutcome", await issued.json())
    used = center.form(forms[0]) or {}
    check("FormOutcome", {"form": used})
    with pytest.raises(jsonschema.ValidationError):
        check("Form", {**used, "safe_status": "mislaid"})
