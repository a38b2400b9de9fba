"""Every refusal the center can give: a stable code, a Chinese and an English message, an HTTP status.

Codes are part of the wire (the agent writes them into result files and clerks search for them), so they never
change meaning. Messages are templates filled with the facts of the case (``{form_no}``, ``{status_zh}``...).
Per-record codes appear inside a batch answer (the batch itself succeeds); their HTTP status is what a future
single-record endpoint would answer. Batch-level codes refuse the whole batch and are sent with their HTTP status.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Reason:
    http_status: int
    zh: str
    en: str


OK_CODE = "OK"

REASONS: dict[str, Reason] = {
    # The success answer of a filing (the manual's "设置成功").
    OK_CODE: Reason(200, "设置成功", "Filed at port"),
    # Per-record: filing (口岸备案 / 批量备案).
    "FORM_NOT_FOUND": Reason(
        404,
        "核销单{form_no}不存在或不属于本企业。",
        "Form {form_no} does not exist or does not belong to this enterprise.",
    ),
    "PORT_NOT_FOUND": Reason(
        422,
        "口岸“{port}”不存在，请输入口岸代码（4位关区代码）或准确的口岸名称。",
        "Port '{port}' does not exist; give the 4-digit customs district code or the exact port name.",
    ),
    "FORM_ALREADY_FILED": Reason(
        409,
        "核销单{form_no}的海关使用状态为“{status_zh}”。已备案的核销单需要先进行“撤销备案”操作并获得确认后，"
        "才能再次进行口岸备案操作。",
        "Form {form_no} is already filed (customs status: {status_en}). A filed form must have its filing "
        "cancelled, and the cancellation confirmed by customs, before it can be filed again.",
    ),
    "FORM_NOT_VALID": Reason(
        409,
        "核销单{form_no}的外汇局使用状态为“{status_zh}”，不能进行此操作。",
        "Form {form_no} cannot be used: its SAFE status is {status_en} ({status_zh}).",
    ),
    "FORM_ALREADY_USED": Reason(
        409,
        "核销单{form_no}的海关使用状态为“已用”，已用于出口报关，不能再备案。",
        "Form {form_no} has already been used in an export declaration (customs status: used) and cannot be filed.",
    ),
    "RECORD_INVALID": Reason(
        422,
        "记录格式错误：{detail_zh}",
        "Malformed record: {detail_en}",
    ),
    # Batch-level: the whole batch is refused and nothing is applied.
    "BAD_REQUEST": Reason(400, "请求格式错误：{detail}", "Malformed request: {detail}"),
    "PAYLOAD_TOO_LARGE": Reason(
        413,
        "请求过大（上限{limit_mb} MB），请将批次拆分后重新发送。",
        "The request is too large (limit {limit_mb} MB); split the batch and send it again.",
    ),
    "SIGNATURE_INVALID": Reason(
        401,
        "签名验证失败，批次内容与操作员卡的签名不符。",
        "The signature does not verify: the batch content does not match the operator card's signature.",
    ),
    "CERTIFICATE_UNTRUSTED": Reason(
        401,
        "操作员证书不是由本数据中心签发的。",
        "The operator certificate was not issued by this data center's authority.",
    ),
    "CERTIFICATE_EXPIRED": Reason(
        401,
        "操作员证书不在有效期内（有效期至{not_after}），请重新办理操作员卡证书。",
        "The operator certificate is outside its validity period (valid until {not_after}); renew the card's "
        "certificate.",
    ),
    "OPERATOR_UNKNOWN": Reason(
        403,
        "操作员卡未在数据中心登记。",
        "The operator card is not enrolled at the data center.",
    ),
    "OPERATOR_REVOKED": Reason(
        403,
        "操作员卡已被注销，不能再进行业务操作。",
        "The operator card has been revoked and can no longer be used.",
    ),
    "FX_PERMISSION_EXPIRED": Reason(
        403,
        "IC卡在外汇管理局的使用权限已于{until}到期。请使用企业法人卡通过电子口岸向外汇管理局申请延期，"
        "外汇局审批通过后IC卡将恢复使用权限。",
        "The operator card's foreign-exchange permission expired on {until}. Apply for an extension with the "
        "enterprise's legal-person card through E-Port; the card works again once SAFE approves it.",
    ),
    "ENTERPRISE_MISMATCH": Reason(
        403,
        "批次中的经营单位代码{enterprise}与操作员卡所属企业不符。",
        "The batch names enterprise {enterprise}, which is not the operator card's enterprise.",
    ),
    "BATCH_ID_REUSED": Reason(
        409,
        "批次号{batch_id}已用于内容不同的另一批次，请使用新的批次号。",
        "Batch id {batch_id} was already used for a batch with other content; use a new batch id.",
    ),
    "KIND_UNSUPPORTED": Reason(
        400,
        "数据中心暂不受理“{kind}”类批次。",
        "The data center does not accept batches of kind '{kind}'.",
    ),
    "INTERNAL_ERROR": Reason(
        500,
        "数据中心内部错误，本批次未被处理，请稍后重新发送。",
        "Internal error at the data center; the batch was not applied, send it again later.",
    ),
    # Administration (CLI, enrollment, issuance).
    "ENTERPRISE_CODE_INVALID": Reason(
        400,
        "经营单位代码“{code}”无效，应为10位数字或大写字母。",
        "Enterprise code '{code}' is invalid: it is 10 digits or capital letters.",
    ),
    "ENTERPRISE_EXISTS": Reason(
        409,
        "经营单位代码{code}已登记为“{name}”。",
        "Enterprise {code} is already registered as '{name}'.",
    ),
    "ENTERPRISE_NOT_FOUND": Reason(404, "企业{code}未登记。", "Enterprise {code} is not registered."),
    "NAME_REQUIRED": Reason(400, "{what_zh}不能为空。", "The {what_en} must not be empty."),
    "KEY_INVALID": Reason(
        400,
        "操作员公钥无效：{detail}（需要ECC P-256公钥）。",
        "The operator public key is not usable: {detail} (an ECC P-256 public key is required).",
    ),
    "COPIES_INVALID": Reason(
        400,
        "份数“{copies}”无效，应为1至1000。",
        "Copies '{copies}' is invalid: give a number from 1 to 1000.",
    ),
}


class Refusal(Exception):
    """A business or protocol refusal, raised below and turned into an answer once (HTTP middleware, CLI)."""

    def __init__(self, code: str, /, **facts: Any) -> None:
        reason = REASONS[code]
        self.code = code
        self.http_status = reason.http_status
        self.zh = reason.zh.format(**facts)
        self.en = reason.en.format(**facts)
        self.facts = facts
        super().__init__(f"{code}: {self.en}")

    def as_json(self) -> dict[str, str]:
        return {"code": self.code, "message_zh": self.zh, "message_en": self.en}
