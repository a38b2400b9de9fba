"""The OpenAPI 3.1 description of the center's HTTP API, served at ``GET /api/v1/openapi.json``.

The admin paths are made from the operations table (``center.operations``), the same one the routes and the CLI
use; a test checks that every route of the app is described here and every path here is routed.
"""

from __future__ import annotations

from typing import Any

from center.operations import ADMIN_PREFIX, OPERATIONS, Operation
from center.statuses import CustomsStatus, SafeStatus, SubmissionStatus
from sync.access import (
    ACCOUNT_TYPES,
    API_ACCESS_ACCOUNT,
    API_ACCESS_ACCOUNTS,
    API_PERMISSIONS,
    ARRIVING_ACCOUNT_HEADER,
)
from sync.algorithms import ALGORITHMS
from sync.enroll import API_CA, API_ENROLL, API_ENROLL_CHECK
from sync.enroll import KINDS as ENROLL_KINDS
from sync.protocol import API_BATCHES, API_PORTS, API_UPDATES

API_OPENAPI = "/api/v1/openapi.json"
API_METRICS = "/metrics"

STRING = {"type": "string"}
NULLABLE_STRING = {"type": ["string", "null"]}
NULLABLE_DATE = {"type": ["string", "null"], "format": "date"}
DATE = {"type": "string", "format": "date"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _obj(properties: dict[str, Any], required: list[str] | None = None, extra: bool = True) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties, "required": required or list(properties)}
    if not extra:
        schema["additionalProperties"] = False
    return schema


REFUSED = _json(_ref("Refusal"), "refused: a stable code and the reason in Chinese and English")

FORM = _obj(
    {
        "form_no": {"type": "string", "pattern": "^[0-9A-Z]{9}$"},
        "enterprise_code": STRING,
        "safe_status": {"enum": [s.value for s in SafeStatus]},
        "customs_status": {"enum": [s.value for s in CustomsStatus]},
        "submission_status": {"enum": [s.value for s in SubmissionStatus]},
        "port": NULLABLE_STRING,
        "issue_date": DATE,
        "declaration_no": NULLABLE_STRING,
        "export_date": NULLABLE_DATE,
        "submit_date": NULLABLE_DATE,
        "updated_at": {"type": "string", "format": "date-time"},
        "safe_status_zh": STRING,
        "customs_status_zh": STRING,
        "submission_status_zh": STRING,
    }
)

RESULT = _obj(
    {
        "seq": {"type": "integer"},
        "status": {"enum": ["OK", "ERROR"]},
        "code": STRING,
        "message_zh": STRING,
        "message_en": STRING,
        "form_no": NULLABLE_STRING,
        "unified_no": NULLABLE_STRING,
        "apply_date": NULLABLE_DATE,
        "account": NULLABLE_STRING,
        "expires_at": {"type": ["string", "null"], "format": "date-time"},
        "operation": {"type": ["string", "null"], "description": "checks: the operation checked"},
        "safe_status_zh": {"type": ["string", "null"], "description": "checks: the form's statuses now"},
        "customs_status_zh": NULLABLE_STRING,
        "submission_status_zh": NULLABLE_STRING,
        "filed_port": {"type": ["string", "null"], "description": "checks: the port the form is filed at now"},
    },
    required=["seq", "status", "code", "message_zh", "message_en"],
)

DATE_TIME = {"type": "string", "format": "date-time"}
NULLABLE_DATE_TIME = {"type": ["string", "null"], "format": "date-time"}

# 17999 access accounts and card permissions (sync.access, center.access, center.permissions).
ACCESS_SCHEMAS: dict[str, Any] = {
    "AccessAccount": _obj(
        {
            "account": STRING,
            "type": {"enum": list(ACCOUNT_TYPES)},
            "type_zh": STRING,
            "months": {"type": "integer"},
            "registered_at": DATE_TIME,
            "valid_from": DATE_TIME,
            "expires_at": DATE_TIME,
            "until": DATE,
            "hours_used": {"type": "number"},
            "hour_limit": {"type": ["integer", "null"]},
            "user_may_delete": {"type": "boolean"},
            "status": {"enum": ["valid", "deleted", "expired", "hours_used_up"]},
            "removed_at": NULLABLE_DATE_TIME,
        }
    ),
    "Emergency": _obj(
        {
            "enterprise": STRING,
            "reason": STRING,
            "granted_at": DATE_TIME,
            "until": DATE_TIME,
            "ended_at": NULLABLE_DATE_TIME,
        }
    ),
    "AccessAccounts": _obj(
        {
            "enterprise": STRING,
            "enterprise_name": NULLABLE_STRING,
            "org_code": {"type": ["string", "null"], "description": "组织机构代码 (GB 11714)"},
            "open": {"type": "boolean", "description": "whether the enterprise's business is open (rule 12)"},
            "accounts": {"type": "array", "items": _ref("AccessAccount")},
            "emergency": {"oneOf": [_ref("Emergency"), {"type": "null"}]},
        }
    ),
    "AccessRegistration": _obj(
        {
            "account": {"type": "string", "description": "xxxxxxxxxxx@17999.e163"},
            "type": {"type": "string", "description": "a type's name in English or Chinese"},
            "months": {"type": ["integer", "string"], "description": "broadband: 6 or 12"},
            "password": {"type": "string", "description": "broadband and leased-line cards; kept only as a hash"},
        },
        required=["account", "type"],
        extra=False,
    ),
    "AccessUsage": _obj({"account": STRING, "hours_used": {"type": "number"}}),
    "AccessSweep": _obj({"removed": {"type": "integer"}}),
    "PermissionDocument": _obj(
        {
            "payload": _obj(
                {
                    "v": {"const": 1},
                    "request_id": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
                    "enterprise": STRING,
                    "card": {"type": "string", "description": "the IC card's serial (IC卡卡号)"},
                    "created_at": DATE_TIME,
                }
            ),
            "signature": {
                "type": "string",
                "description": "detached compact JWS (ES256 or SM2SM3), legal-person card in x5c",
            },
        }
    ),
    "PermissionRequest": _obj(
        {
            "request_no": {"type": "integer"},
            "enterprise": STRING,
            "card": STRING,
            "requested_by": NULLABLE_STRING,
            "requested_at": DATE_TIME,
            "levels_approved": {"type": "integer", "minimum": 0, "maximum": 3},
            "approvals": {
                "type": "array",
                "items": _obj({"level": {"type": "integer"}, "approved_at": DATE_TIME}),
            },
            "status": {"enum": ["pending", "approved"]},
            "permission_until": NULLABLE_DATE,
        }
    ),
    "CardPermission": _obj(
        {
            "enterprise": STRING,
            "card": {"type": "string", "description": "the IC card's serial (or its certificate's serial)"},
            "permission": {"enum": ["valid", "expired", "not_granted"], "description": "出口收汇 permission (rule 11)"},
            "until": NULLABLE_DATE,
            "changed_at": NULLABLE_DATE_TIME,
        }
    ),
    "EnterpriseFacts": _obj({"code": STRING, "name": NULLABLE_STRING, "org_code": NULLABLE_STRING}),
    "PermissionRequests": _obj(
        {
            "requests": {"type": "array", "items": _ref("PermissionRequest")},
            "cards": {
                "type": "array",
                "items": {
                    "allOf": [
                        _ref("CardPermission"),
                        _obj({"name": STRING, "certificates": {"type": "array", "items": STRING}}),
                    ]
                },
                "description": "the enterprise's cards with their 出口收汇 permission",
            },
            "enterprise": _ref("EnterpriseFacts"),
        }
    ),
}

SCHEMAS: dict[str, Any] = {
    "Refusal": _obj({"code": STRING, "message_zh": STRING, "message_en": STRING}),
    "Port": _obj({"code": {"type": "string", "pattern": "^[0-9]{4}$"}, "name": STRING}, extra=False),
    "Ports": {"type": "array", "items": _ref("Port")},
    "BatchDocument": _obj(
        {
            "payload": _obj(
                {
                    "v": {"const": 1},
                    "batch_id": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
                    "kind": {
                        "enum": [
                            "applications",
                            "filings",
                            "cancellations",
                            "submissions",
                            "losses",
                            "queries",
                            "access",
                            "checks",
                        ]
                    },
                    "enterprise": STRING,
                    "created_at": {"type": "string", "format": "date-time"},
                    "records": {"type": "array", "items": {"type": "object"}},
                }
            ),
            "signature": {
                "type": "string",
                "description": "detached compact JWS (ES256 or SM2SM3), operator chain in x5c",
            },
        }
    ),
    "Result": RESULT,
    "BatchAnswer": _obj(
        {
            "batch_id": STRING,
            "results": {"type": "array", "items": _ref("Result")},
            "rows": {"type": "array", "items": {"type": "object"}, "description": "queries only"},
            "receipt": {
                "type": "string",
                "description": "compact JWS signed by the center's receipt key (ES256 or SM2SM3: the CA's algorithm)",
            },
        },
        required=["batch_id", "results", "receipt"],
    ),
    "Form": FORM,
    "FormOutcome": _obj({"form": _ref("Form"), "declaration_no": STRING}, required=["form"]),
    "IssueOutcome": _obj(
        {"forms": {"type": "array", "items": STRING}, "unified_no": STRING, "enterprise": STRING}, required=["forms"]
    ),
    "ApprovalOutcome": _obj(
        {"unified_no": STRING, "enterprise": STRING, "approved_copies": {"type": "integer"}, "approval_date": DATE}
    ),
    "Health": _obj(
        {
            "status": {"enum": ["ok", "unavailable"]},
            "database": {"enum": ["ok", "unreachable"]},
            "keys": {"enum": ["loaded", "not loaded"], "description": "the CA and receipt private keys"},
            "pid": {"type": "integer", "description": "the process that answered (one of serve --workers N)"},
        }
    ),
    "Update": _obj(
        {
            "seq": {"type": "integer"},
            "form_no": {"type": ["string", "null"], "description": "null: an entry about an application"},
            "event": STRING,
            "event_zh": STRING,
            "safe_status": {"enum": [*(s.value for s in SafeStatus), None]},
            "safe_status_zh": NULLABLE_STRING,
            "customs_status": {"enum": [*(s.value for s in CustomsStatus), None]},
            "customs_status_zh": NULLABLE_STRING,
            "submission_status": {"enum": [*(s.value for s in SubmissionStatus), None]},
            "submission_status_zh": NULLABLE_STRING,
            "port": NULLABLE_STRING,
            "issue_date": NULLABLE_DATE,
            "unified_no": NULLABLE_STRING,
            "declaration_no": NULLABLE_STRING,
            "export_date": NULLABLE_DATE,
            "submit_date": NULLABLE_DATE,
            "revoked_zh": {"enum": ["是", "否", None], "description": "是否撤销 (the issuance register)"},
            "count": {"type": ["integer", "null"], "description": "an application's entry: forms approved/issued"},
            "forms": {"type": ["string", "null"], "description": "an application's issued forms, as runs"},
            "at": {"type": "string", "format": "date-time"},
        }
    ),
    "Updates": _obj({"updates": {"type": "array", "items": _ref("Update")}}),
    "EnrollmentRequest": _obj(
        {
            "request": {
                "type": "string",
                "description": "compact JWS (ES256, or SM2SM3 for an SM2 key: jwk crv SM2) with the new public key as "
                "jwk in its protected header, signed by that key; payload {v: 1, kind: operator|device, code, name?, "
                "card_serial?} (sync.enroll)",
            }
        },
        extra=False,
    ),
    "EnrollmentCheck": _obj(
        {"v": {"const": 1}, "kind": {"enum": list(ENROLL_KINDS)}, "code": STRING}, required=["kind", "code"]
    ),
    "EnrollmentTerms": _obj(
        {
            "kind": {"enum": list(ENROLL_KINDS)},
            "enterprise": STRING,
            "name": NULLABLE_STRING,
            "expires_at": DATE_TIME,
            "role": {"type": "string", "description": "operator cards: operator or legal-person"},
            "days": {"type": "integer", "description": "operator cards: the certificate's validity"},
            "algorithm": {
                "enum": list(ALGORITHMS),
                "description": "the key to make: ES256 (ECC P-256) or SM2SM3 (SM2), the center's own algorithm",
            },
        },
        required=["kind", "enterprise", "name", "expires_at", "algorithm"],
    ),
    "EnrollmentAnswer": _obj(
        {
            "kind": {"enum": list(ENROLL_KINDS)},
            "enterprise": STRING,
            "certificate": {"type": "string", "description": "PEM"},
            "chain": {"type": "array", "items": STRING, "description": "PEM, the issuers up to the CA"},
        }
    ),
    **ACCESS_SCHEMAS,
}

_PARAM_TYPES: dict[str, dict[str, Any]] = {
    "string": STRING,
    "integer": {"type": "integer"},
    "decimal": {"type": ["string", "number"]},
}


def _admin_path(operation: Operation) -> dict[str, Any]:
    body = _obj(
        {p.name: {**_PARAM_TYPES[p.kind], "description": p.help} for p in operation.params},
        required=[p.name for p in operation.params if p.required],
        extra=False,
    )
    return {
        "post": {
            "summary": f"{operation.authority} {operation.action}: {operation.summary}",
            "tags": ["admin"],
            "security": [{"adminToken": []}],
            "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
            "responses": {"200": _json(_ref(operation.outcome), "done"), "default": REFUSED},
        }
    }


def _get(summary: str, ok: dict[str, Any], parameters: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": summary, "responses": {"200": ok, "default": REFUSED}}
    if parameters:
        operation["parameters"] = parameters
    return {"get": operation}


def _path_param(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": STRING, "description": description}


def _access_operation(
    summary: str, ok: dict[str, Any], body: str | None = None, device: bool = True, account: bool = False
) -> dict[str, Any]:
    arriving = {
        "name": ARRIVING_ACCOUNT_HEADER,
        "in": "header",
        "required": False,
        "schema": STRING,
        "description": "the 17999 account the request arrives through (agent.toml [access] account)",
    }
    operation: dict[str, Any] = {
        "summary": summary,
        "tags": ["access"],
        "parameters": [arriving, *([_path_param("account", "the 17999 account")] if account else [])],
        "responses": {"200": ok, "default": REFUSED},
    }
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(body)}}}
    if device:
        operation["security"] = [{"deviceCredential": []}]
    return operation


def _access_paths() -> dict[str, Any]:
    account = _json(_ref("AccessAccount"), "the account")
    return {
        API_ACCESS_ACCOUNTS: {
            "get": _access_operation(
                "帐号管理: the device's enterprise's 17999 accounts and whether its business is open",
                _json(_ref("AccessAccounts"), "accounts"),
            ),
            "post": _access_operation("注册卡号: register a 17999 account", account, body="AccessRegistration"),
        },
        API_ACCESS_ACCOUNT: {
            "get": _access_operation("one 17999 account (its last registration)", account, account=True),
            "delete": _access_operation("delete a 17999 account (not broadband or leased-line)", account, account=True),
        },
        API_PERMISSIONS: {
            "get": _access_operation(
                "the device's enterprise's IC card permission extension requests",
                _json(_ref("PermissionRequests"), "requests"),
            ),
            "post": _access_operation(
                "IC卡权限延期: an extension request signed by the legal-person card (its signature authenticates it)",
                _json(_ref("PermissionRequest"), "the request"),
                body="PermissionDocument",
                device=False,
            ),
        },
    }


def openapi_spec() -> dict[str, Any]:
    paths: dict[str, Any] = {
        API_BATCHES: {
            "post": {
                "summary": "apply a batch signed with an operator card; one result per record (per form of a range)",
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("BatchDocument")}}},
                "responses": {"200": _json(_ref("BatchAnswer"), "the answer and its receipt"), "default": REFUSED},
            }
        },
        API_PORTS: _get(
            "the port table, or with q the pick-list for part of a port's name or code",
            _json(_ref("Ports"), "ports"),
            [{"name": "q", "in": "query", "required": False, "schema": STRING, "description": "part of a name/code"}],
        ),
        API_PORTS + "/{port}": _get(
            "one port by code or exact name", _json(_ref("Port"), "the port"), [_path_param("port", "code or name")]
        ),
        API_ENROLL: {
            "post": {
                "summary": "enroll an operator card or an agent PC with a one-time code (eport-center operator/device "
                "invite); the key proves itself by signing the request",
                "tags": ["enrollment"],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("EnrollmentRequest")}},
                },
                "responses": {
                    "200": _json(_ref("EnrollmentAnswer"), "the certificate and its chain"),
                    "default": REFUSED,
                },
            }
        },
        API_ENROLL_CHECK: {
            "post": {
                "summary": "what a one-time enrollment code would enroll, if it can be used now (nothing changes; "
                "asked before a card makes a new key)",
                "tags": ["enrollment"],
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("EnrollmentCheck")}}},
                "responses": {"200": _json(_ref("EnrollmentTerms"), "the code's terms"), "default": REFUSED},
            }
        },
        API_CA: _get(
            "the CA certificate that agents pin",
            {"description": "PEM", "content": {"application/x-pem-file": {"schema": STRING}}},
        ),
        API_OPENAPI: _get("this description", _json({"type": "object"}, "OpenAPI 3.1")),
        "/healthz": {
            "get": {
                "summary": "health of the process that answers: it reaches the database and holds its keys",
                "responses": {
                    "200": _json(_ref("Health"), "healthy"),
                    "503": _json(_ref("Health"), "the database is unreachable or the keys are not loaded"),
                },
            }
        },
        API_METRICS: {
            "get": {
                "summary": "metrics in Prometheus text format, of all the center's processes together",
                "responses": {
                    "200": {
                        "description": "Prometheus text exposition format",
                        "content": {"text/plain": {"schema": STRING}},
                    }
                },
            }
        },
        API_UPDATES: {
            "get": {
                **_get(
                    "the device's enterprise's form changes after a cursor, oldest first (the update feed)",
                    _json(_ref("Updates"), "changes"),
                    [
                        {"name": "after", "in": "query", "required": False, "schema": {"type": "integer"}},
                        {"name": "limit", "in": "query", "required": False, "schema": {"type": "integer"}},
                    ],
                )["get"],
                "security": [{"deviceCredential": []}],
            }
        },
        ADMIN_PREFIX + "/forms/{form_no}": {
            "get": {
                **_get("any enterprise's form", _json(_ref("Form"), "the form"), [_path_param("form_no", "form")])[
                    "get"
                ],
                "tags": ["admin"],
                "security": [{"adminToken": []}],
            }
        },
    }
    paths.update({operation.path: _admin_path(operation) for operation in OPERATIONS})
    paths.update(_access_paths())
    return {
        "openapi": "3.1.0",
        "info": {"title": "E-Port export FX collection data center", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "adminToken": {"type": "http", "scheme": "bearer", "description": "eport-center admin token"},
                "deviceCredential": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "EPort-Device <compact JWS over method, path, body digest and time, by the "
                    "agent's device key>",
                },
            },
        },
    }
