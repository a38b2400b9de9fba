"""The authority operations as one table: the ``eport-center safe|customs`` commands, the admin HTTP API and its
OpenAPI description are all made from it, so the three cannot disagree about names or arguments.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from center.ledger.identifiers import invalid_argument, is_int
from center.service import Center

ADMIN_PREFIX = "/api/v1/admin"


@dataclass(frozen=True)
class Param:
    name: str
    help: str
    kind: str = "string"  # "string", "integer" or "decimal" (text or a JSON number)
    required: bool = True

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def check(self, value: Any) -> Any:
        if self.kind == "integer" and not is_int(value):
            raise invalid_argument(f"{self.name} 应为整数", f"{self.name} must be an integer")
        if self.kind == "decimal" and (isinstance(value, bool) or not isinstance(value, str | int | float)):
            raise invalid_argument(f"{self.name} 应为数字", f"{self.name} must be a number")
        if self.kind == "string" and not isinstance(value, str):
            raise invalid_argument(f"{self.name} 应为文字", f"{self.name} must be text")
        return str(value) if self.kind == "decimal" else value


@dataclass(frozen=True)
class Operation:
    authority: str  # "safe", "customs", or "access" (the data center's 17999 subsystem and the network)
    action: str
    summary: str
    params: tuple[Param, ...]
    method: str  # the Center method that does it
    outcome: str = "FormOutcome"  # the OpenAPI schema of what it answers

    @property
    def path(self) -> str:
        return f"{ADMIN_PREFIX}/{self.authority}/{self.action}"

    def arguments(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """Checked keyword arguments for the Center method, from a JSON body or parsed command-line options."""
        names = {p.name for p in self.params}
        unknown = sorted(set(raw) - names)
        if unknown:
            raise invalid_argument(f"未知参数 {', '.join(unknown)}", f"unknown argument(s) {', '.join(unknown)}")
        arguments: dict[str, Any] = {}
        for param in self.params:
            value = raw.get(param.name)
            if value is None:
                if param.required:
                    raise invalid_argument(f"缺少参数 {param.name}", f"{param.name} is required")
                continue
            arguments[param.name] = param.check(value)
        return arguments

    def call(self, center: Center, raw: Mapping[str, Any]) -> dict[str, Any]:
        outcome: dict[str, Any] = getattr(center, self.method)(**self.arguments(raw))
        return outcome


FORM_NO = Param("form_no", "form number (核销单号)")
DECLARATION_NO = Param("declaration_no", "declaration number (报关单号, 18 digits)")
ENTERPRISE = Param("enterprise", "the enterprise code (经营单位代码)")
ACCOUNT = Param("account", "the 17999 account, e.g. 02012345678@17999.e163")
CARD = Param("card", "the IC card's serial (IC卡卡号, as card info shows it)")

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "safe",
        "approve",
        "approve an application (审批表: same unified number, approval date, approved copies)",
        (
            Param("unified_no", "the application's unified number (统一编号)"),
            Param("copies", "copies approved (default: as applied for)", "integer", required=False),
        ),
        "safe_approve",
        "ApprovalOutcome",
    ),
    Operation(
        "safe",
        "issue",
        "issue forms against an approval (--unified-no), or directly (--enterprise and --copies)",
        (
            Param("unified_no", "issue the approved copies of this application", required=False),
            Param("enterprise", "issue directly to this enterprise (经营单位代码)", required=False),
            Param("copies", "how many forms to issue directly (1-1000)", "integer", required=False),
        ),
        "safe_issue",
        "IssueOutcome",
    ),
    Operation("safe", "verify", "verify a submitted form (已核销)", (FORM_NO,), "safe_verify"),
    Operation(
        "safe",
        "void",
        "void a form (注销): a valid form customs has not used (its port filing released), or a lost one",
        (FORM_NO,),
        "safe_void",
    ),
    Operation(
        "safe",
        "revoke-issuance",
        "revoke a form's issuing (发放登记表 是否撤销 = 是); the unused form is voided with it",
        (FORM_NO,),
        "safe_revoke_issuance",
    ),
    Operation(
        "safe",
        "approve-permission",
        "approve an IC card permission extension at one of its 3 levels, in order; the 3rd gives the card a year",
        (
            Param("request_no", "the extension request's number", "integer"),
            Param("level", "the approval level: 1, 2 or 3", "integer"),
        ),
        "safe_approve_permission",
        "PermissionRequest",
    ),
    Operation(
        "safe",
        "set-permission",
        "set an IC card's 出口收汇 permission (FAQ 3): through --until DATE, or for --days N from today",
        (
            CARD,
            Param("until", "the last day of the permission (2026-12-31, 2026/12/31, 2026年12月31日)", required=False),
            Param("days", "or: how many days from today", "integer", required=False),
            Param("enterprise", "the card's enterprise, if its serial is ambiguous", required=False),
        ),
        "safe_set_permission",
        "CardPermission",
    ),
    Operation(
        "safe",
        "end-permission",
        "end an IC card's 出口收汇 permission today (出口收汇 greyed out until it is set again or a request approved)",
        (CARD, Param("enterprise", "the card's enterprise, if its serial is ambiguous", required=False)),
        "safe_end_permission",
        "CardPermission",
    ),
    Operation(
        "customs",
        "use",
        "use a filed form in an export declaration at its port (已用)",
        (
            FORM_NO,
            DECLARATION_NO,
            Param("port", "the declaring port (code or exact name)"),
            Param("export_date", "export date (YYYY-MM-DD)"),
        ),
        "customs_use",
    ),
    Operation(
        "customs",
        "declare",
        "the declaration's electronic data arrives (报关单; 批准文号 = form number)",
        (
            DECLARATION_NO,
            Param("form_no", "the form the declaration used (批准文号)"),
            Param("export_date", "export date (YYYY-MM-DD)"),
            Param("port", "the declaring port (code or exact name)"),
            Param("trade_mode", "trade mode (贸易方式), e.g. 一般贸易"),
            Param("amount", "total amount (成交总价)", "decimal"),
            Param("currency", "currency code (币制), e.g. USD"),
        ),
        "customs_declare",
    ),
    Operation(
        "customs",
        "modify",
        "modify a declaration; a submitted form must then be submitted again",
        (
            DECLARATION_NO,
            Param("export_date", "new export date", required=False),
            Param("trade_mode", "new trade mode", required=False),
            Param("amount", "new amount", "decimal", required=False),
            Param("currency", "new currency", required=False),
        ),
        "customs_modify",
    ),
    Operation(
        "customs",
        "confirm-cancel",
        "confirm a filing's cancellation (未用, port cleared)",
        (FORM_NO,),
        "customs_confirm_cancel",
    ),
    Operation(
        "customs",
        "refuse-cancel",
        "refuse a filing's cancellation (the filing stands)",
        (FORM_NO,),
        "customs_refuse_cancel",
    ),
    Operation(
        "access",
        "register",
        "register a 17999 account as its issuer (the telecom registers old annual cards when it sells them)",
        (
            ENTERPRISE,
            ACCOUNT,
            Param("type", "timed, new-annual, broadband, leased-line or old-annual (or 计时卡 ... 旧年卡)"),
            Param("months", "the card's term: broadband 6 or 12; the others 12", "integer", required=False),
        ),
        "access_register",
        "AccessAccount",
    ),
    Operation(
        "access",
        "list",
        "an enterprise's 17999 accounts, its emergency authorisation, and whether its business is open",
        (ENTERPRISE,),
        "access_accounts",
        "AccessAccounts",
    ),
    Operation(
        "access",
        "grant-emergency",
        "open an enterprise's business for some hours without an account (紧急授权, FAQ (七)); the enterprise by its "
        "code or by the 组织机构代码 the fax gives",
        (
            Param("enterprise", "the enterprise code (经营单位代码), or give --org-code", required=False),
            Param("org_code", "the organisation code (组织机构代码, GB 11714, e.g. 12345678-8)", required=False),
            Param("hours", "how long, 1 to 168 hours", "integer"),
            Param("reason", "what it rests on, e.g. the fax and who approved it"),
        ),
        "access_grant_emergency",
        "Emergency",
    ),
    Operation(
        "access",
        "end-emergency",
        "end an enterprise's emergency authorisation before its time",
        (ENTERPRISE,),
        "access_end_emergency",
        "Emergency",
    ),
    Operation(
        "access",
        "record-usage",
        "the 17999 network reports a card's online hours (the annual cards stop at 1,200)",
        (ACCOUNT, Param("hours", "online hours to add", "decimal")),
        "access_record_usage",
        "AccessUsage",
    ),
    Operation(
        "access",
        "sweep",
        "remove every enterprise's lapsed accounts now (the center also does it every 10 minutes)",
        (),
        "access_sweep",
        "AccessSweep",
    ),
)
