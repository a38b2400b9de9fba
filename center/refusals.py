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
    defaults: tuple[tuple[str, str], ...] = ()  # facts a refusal may leave out, and what they are then


OK_CODE = "OK"
SUBMITTED_ONE = "submissions, one form"  # the success of a submissions batch that names one form (企业交单)

# What each operation answers when it succeeds, in the manual's words where it has them (the code is always "OK").
SUCCESSES: dict[str, Reason] = {
    "applications": Reason(
        200, "核销单申请成功，统一编号{unified_no}。", "Application accepted, unified number {unified_no}."
    ),
    "filings": Reason(200, "设置成功", "Filed at port"),
    "cancellations": Reason(
        200,
        "撤销备案成功。需等待备案海关系统确认后才能正式完成撤销备案，可通过查询功能查询核销单的海关使用状态。",
        "Cancellation requested. It is complete once the customs office of the filing confirms it; query the form's "
        "customs status to see the confirmation.",
    ),
    "submissions": Reason(200, "交单成功", "Submitted to SAFE"),  # 批量交单: a batch that submits several forms
    SUBMITTED_ONE: Reason(200, "交单完成", "Submitted to SAFE"),  # 企业交单: a batch that submits one form
    "losses": Reason(200, "核销单挂失成功", "Form reported lost"),
    "queries": Reason(200, "查询条件已设定", "Condition applied"),
    "access": Reason(
        200,
        "17999卡账号{account}注册成功，有效期至{until}。",
        "17999 account {account} registered, valid until {until}.",
    ),
    "checks": Reason(
        200,
        "可以{action_zh}（仅为核对，未做任何更改）。{action_zh}后：外汇局使用状态“{safe_zh}”，"
        "海关使用状态“{customs_zh}”，交单状态“{submission_zh}”{port_zh}。",
        "It can be {action_en} (a check only: nothing was changed). Afterwards: SAFE status {safe_en}, customs "
        "status {customs_en}, submission status {submission_en}{port_en}.",
    ),
}

REASONS: dict[str, Reason] = {
    OK_CODE: Reason(
        200, "成功（各操作的成功提示见“成功提示”表）", "Success (each operation's own message is in the success table)"
    ),
    # Per-record: forms (口岸备案, 撤销备案, 企业交单, 核销单挂失) and the authority operations on them.
    "FORM_NOT_FOUND": Reason(
        404,
        "核销单{form_no}不存在或不属于本企业。",
        "Form {form_no} does not exist or does not belong to this enterprise.",
    ),
    "PORT_NOT_FOUND": Reason(
        422,
        "口岸“{port}”不存在{candidates_zh}。请输入口岸代码（4位关区代码）或准确的口岸名称。",
        "Port '{port}' does not exist{candidates_en}; give the 4-digit customs district code or the exact port name.",
        (("candidates_zh", ""), ("candidates_en", "")),
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
        "核销单{form_no}的海关使用状态为“已用”，已用于出口报关，不能{action_zh}。",
        "Form {form_no} has already been used in an export declaration (customs status: used) and cannot be "
        "{action_en}.",
    ),
    "FORM_NOT_FILED": Reason(
        409,
        "核销单{form_no}的海关使用状态为“{status_zh}”，尚未进行口岸备案，不能{action_zh}。",
        "Form {form_no} is not filed at a port (customs status: {status_en}) and cannot be {action_en}.",
    ),
    "FORM_CANCEL_PENDING": Reason(
        409,
        "核销单{form_no}的撤销备案正在等待备案海关确认，确认前不能{action_zh}。",
        "The cancellation of form {form_no}'s filing awaits the customs office's confirmation; until then it cannot "
        "be {action_en}.",
    ),
    "CANCEL_ALREADY_PENDING": Reason(
        409,
        "核销单{form_no}已撤销备案，正在等待备案海关系统确认，可通过查询功能查询核销单的海关使用状态。",
        "The filing of form {form_no} is already being cancelled and awaits the customs office's confirmation; "
        "query the form's customs status to see it.",
    ),
    "ISSUANCE_ALREADY_REVOKED": Reason(
        409,
        "核销单{form_no}的发放登记已撤销（是否撤销：是），外汇局使用状态为“{status_zh}”。",
        "The issuance of form {form_no} is already revoked; its SAFE status is {status_en}.",
    ),
    "CANCEL_NOT_PENDING": Reason(
        409,
        "核销单{form_no}没有待确认的撤销备案（海关使用状态为“{status_zh}”）。",
        "Form {form_no} has no filing cancellation awaiting confirmation (customs status: {status_en}).",
    ),
    "PORT_MISMATCH": Reason(
        409,
        "核销单{form_no}备案的口岸为{filed_port}，不能在口岸{port}报关使用。",
        "Form {form_no} is filed at port {filed_port} and cannot be used in a declaration at port {port}.",
    ),
    "FORM_FILED_NOT_USED": Reason(
        409,
        "核销单{form_no}的海关使用状态为“未用，已上传海关，可报关”，尚未被海关使用，不能交单。"
        "如货物实际已放行，说明该核销单需要补验核，请与申报海关的通关部门取得联系。",
        "Form {form_no} has not been used by customs yet (customs status: filed, ready for declaration) and cannot "
        "be submitted. If the goods were already released, the form needs supplementary verification: "
        "contact the clearance department of the customs office where it was declared.",
    ),
    "FORM_NOT_USED": Reason(
        409,
        "核销单{form_no}的海关使用状态为“{status_zh}”，尚未被海关用于出口报关，不能{action_zh}。",
        "Form {form_no} has not been used by customs in an export declaration (customs status: {status_en}) and "
        "cannot be {action_en}.",
    ),
    "DECLARATION_NOT_ARRIVED": Reason(
        409,
        "核销单{form_no}的海关使用状态为“已用”，但对应的报关单电子数据还没有从海关传送到电子口岸，暂不能交单。"
        "请拨打电子口岸服务热线(010)65195656联系查询。",
        "Form {form_no} is used, but the electronic data of its declaration has not yet reached E-Port from customs, "
        "so it cannot be submitted yet. Call the E-Port service hotline (010) 65195656.",
    ),
    "ALREADY_SUBMITTED": Reason(
        409,
        "核销单{form_no}已交单。只有报关单信息在交单后又做了修改，才需要再次交单。",
        "Form {form_no} has already been submitted. It is submitted again only after its declaration was modified.",
    ),
    "DECLARATION_MISMATCH": Reason(
        409,
        "报关单号{given}与核销单{form_no}对应的报关单不符。",
        "Declaration number {given} is not the declaration of form {form_no}.",
    ),
    "FORM_NOT_SUBMITTED": Reason(
        409,
        "核销单{form_no}的交单状态为“{status_zh}”，企业交单后才能核销。",
        "Form {form_no} cannot be verified: its submission status is {status_en}; the enterprise must submit it first.",
    ),
    "RANGE_INVALID": Reason(
        422,
        "核销单起始号“{start}”与份数{count}不构成有效的号段：{detail_zh}",
        "Start form number '{start}' and count {count} do not make a valid range: {detail_en}",
    ),
    # Per-condition: the combined query (组合查询).
    "QUERY_BUSINESS_UNKNOWN": Reason(
        422,
        "业务种类“{business}”不存在，可选：核销单、报关单、核销单发放登记表、核销单申请表、核销单申请审批表。",
        "Unknown business '{business}'; choose form, declaration, issuance, application or approval.",
    ),
    "QUERY_ATTRIBUTE_UNKNOWN": Reason(
        422,
        "业务种类“{business}”没有属性“{attribute}”，可选：{choices_zh}。",
        "Business '{business}' has no attribute '{attribute}'; choose one of: {choices_en}.",
    ),
    "QUERY_OP_UNKNOWN": Reason(
        422,
        "条件“{op}”不存在，可选：等于（eq）、以……开始（prefix）。",
        "Unknown condition '{op}'; use eq (equals) or prefix (starts with).",
    ),
    "QUERY_VALUE_INVALID": Reason(
        422,
        "属性“{attribute}”的值“{value}”无效：{detail_zh}",
        "Value '{value}' is not valid for attribute '{attribute}': {detail_en}",
    ),
    "QUERY_CONDITION_REQUIRED": Reason(
        400,
        "必须输入查询条件。如果希望查到多票核销单，请选择条件“以……开始”，然后在值中输入核销单的前8位或前7位。",
        "A query needs at least one condition with a value. To find many forms, use prefix (starts with) with the "
        "first 8 or 7 characters of the form number.",
    ),
    "QUERY_BUSINESS_MIXED": Reason(
        422,
        "一次组合查询只能选择一种业务，本条件的业务“{business}”与第一个条件的“{first}”不同。",
        "One combined query searches one business; this condition names '{business}' but the first names '{first}'.",
    ),
    "QUERY_NOT_RUN": Reason(
        422,
        "本次查询的其他条件有误，未执行查询。",
        "Another condition of this query is invalid, so the query was not run.",
    ),
    "RECORD_INVALID": Reason(
        422,
        "记录格式错误：{detail_zh}",
        "Malformed record: {detail_en}",
    ),
    # Per-record: 17999 access accounts (注册卡号, 帐号管理), in the manual's words (part one, chapter four).
    "ACCESS_ACCOUNT_INVALID": Reason(
        422,
        "17999卡账号“{account}”格式不对：卡号格式是“xxxxxxxxxxx@17999.e163”，后缀不可省略，也不可更改，大小写也要和卡上相同。",
        "17999 account '{account}' is malformed: it is 'xxxxxxxxxxx@17999.e163'; the suffix can be neither left out "
        "nor changed, and letters are as on the card.",
    ),
    "ACCESS_TYPE_UNKNOWN": Reason(
        422,
        "17999卡类型“{type}”不存在，可选：计时卡 timed、新年卡 new-annual、宽带卡 broadband、专线卡 leased-line、"
        "旧年卡 old-annual。请根据自己的17999卡的类型正确选择注册帐号类型。",
        "Unknown 17999 card type '{type}'; choose timed, new-annual, broadband, leased-line or old-annual, as the card "
        "you bought.",
    ),
    "ACCESS_TERM_INVALID": Reason(
        422,
        "{type_zh}的有效期月数应为{terms}（宽带卡：半年卡6，年卡12），填写的是“{months}”。",
        "A {type} card's term in months is {terms} (broadband: 6 for a half-year card, 12 for a year), not '{months}'.",
    ),
    "ACCESS_PASSWORD_REQUIRED": Reason(
        422,
        "注册{type_zh}账号需要在密码框中输入卡上的密码。",
        "Registering a {type} account needs the card's password.",
    ),
    "ACCESS_NOT_ONLINE": Reason(
        409,
        "注册失败，未检查到您注册的17999上网账号的在线信息！注册{type_zh}时系统会检查要注册的卡的在线状态，请务必使用需注册的"
        "上网卡（{account}）拨号上线后再注册（eport-agent access register，agent.toml 的 [access] account "
        "填写该账号）。本次请求经由的账号：{via}。",
        "Registration failed: account {account} was not found online. Registering a {type} card checks that the "
        "request arrives through the account being registered: dial up with it, set it as [access] account in "
        "agent.toml, and register with 'eport-agent access register'. This request arrived through: {via}.",
    ),
    "ACCESS_ACCOUNT_EXISTS": Reason(
        409,
        "17999卡账号{account}已由本企业注册，有效期至{until}。",
        "17999 account {account} is already registered by this enterprise, valid until {until}.",
    ),
    "ACCESS_ACCOUNT_TAKEN": Reason(
        409,
        "17999卡账号{account}已被其他企业注册。",
        "17999 account {account} is registered by another enterprise.",
    ),
    "ACCESS_ACCOUNT_EXPIRED": Reason(
        409,
        "17999卡账号{account}的有效期已于{until}结束（{since_zh}），不能再注册。",
        "17999 account {account} stopped being valid on {until} ({since_en}) and cannot be registered again.",
    ),
    "ACCESS_HOURS_USED_UP": Reason(
        409,
        "17999卡账号{account}的使用时长{limit}小时已经用完，不能再使用。",
        "17999 account {account} has used up its {limit} online hours.",
    ),
    "ACCESS_ACCOUNT_NOT_FOUND": Reason(
        404,
        "本企业没有注册17999卡账号{account}。",
        "This enterprise has no registered 17999 account {account}.",
    ),
    "ACCESS_ACCOUNT_NOT_DELETABLE": Reason(
        409,
        "由于业务上的需要，{type_zh}帐号注册后用户不能自行删除，帐号过期后系统将自动删除该帐号（{until}）。",
        "A {type} account cannot be deleted by the user once registered; the system removes it when it expires "
        "({until}).",
    ),
    # Batch-level: the whole batch is refused and nothing is applied.
    "BAD_REQUEST": Reason(400, "请求格式错误：{detail}", "Malformed request: {detail}"),
    "PAYLOAD_TOO_LARGE": Reason(
        413,
        "请求过大（上限{limit_mb} MB），请将批次拆分后重新发送。",
        "The request is too large (limit {limit_mb} MB); split the batch and send it again.",
    ),
    # Bounded work per batch (sync/limits.py): checked before the signature and before the write lock.
    "BATCH_TOO_MANY_RECORDS": Reason(
        413,
        "批次记录过多（{count} 条，上限 {limit} 条），请拆分为多个文件后重新放入。",
        "The batch has too many records ({count}, at most {limit}); split it into several files and drop them again.",
    ),
    "BATCH_TOO_MANY_FORMS": Reason(
        413,
        "批次涉及的核销单过多（号段展开后共 {count} 份，上限 {limit} 份），请拆分为多个文件后重新放入。",
        "The batch names too many forms ({count} with its ranges counted out, at most {limit}); split it into "
        "several files and drop them again.",
    ),
    "QUERY_TOO_MANY_CONDITIONS": Reason(
        413,
        "查询条件过多（{count} 个，上限 {limit} 个），请减少条件后重新查询。",
        "The query has too many conditions ({count}, at most {limit}); use fewer conditions.",
    ),
    "REQUEST_TIMEOUT": Reason(
        408,
        "请求内容未能在 {seconds} 秒内送达，请检查网络后重新发送。",
        "The request's body did not arrive within {seconds} seconds; check the network and send it again.",
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
    "DEVICE_UNAUTHORIZED": Reason(
        401,
        "请求没有有效的设备凭证（{detail}）。",
        "The request carries no valid device credential ({detail}).",
    ),
    "AUTH_REPLAYED": Reason(
        401,
        "本机的设备凭证已被使用过：每个请求的凭证只能使用一次，再次送达的同一请求不予受理。"
        "如果本机没有重复发送，该请求可能被他人截获后重放，请联系数据中心。",
        "This device authorization was already used: each request's authorization works once, and the same request "
        "arriving again is refused. If this PC did not send it twice, it may have been captured and replayed: tell "
        "the data center.",
    ),
    "DEVICE_UNKNOWN": Reason(
        403,
        "本机（设备证书）未在数据中心登记或已被注销，请重新登记。",
        "This agent's device certificate is not enrolled at the data center or was revoked; enroll it again.",
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
    "LEGAL_PERSON_CARD_NO_BUSINESS": Reason(
        403,
        "企业法人卡只用于在【企业管理】子系统中申请IC卡权限（eport-agent permission request），"
        "不能办理“出口收汇”业务。请插入操作员卡，再将文件重新放入收件箱。",
        "The enterprise's legal-person card only requests IC card permissions (Enterprise Management; 'eport-agent "
        "permission request') and does no export FX collection business. Insert an operator card and drop the file "
        "again.",
    ),
    "FX_PERMISSION_NOT_GRANTED": Reason(
        403,
        "“出口收汇”显示为灰色：IC卡{card}暂无“出口收汇”权限（新申领的IC卡在外汇局审批之前没有此权限），"
        "“出口收汇”的各项业务暂不能办理。请使用企业法人卡进入【企业管理】子系统，点击【数据备案】->【IC卡权限】->【外汇】"
        "->【暂存】->【申报】，然后请与主管外管局主动联系（可以是电话联系），外管局有关负责人在网上3级审批通过后，"
        "IC卡将获得使用权限。用本系统申请：插入企业法人卡，执行 eport-agent permission request --card {card}。",
        "Export FX collection is greyed out: IC card {card} has no export FX collection permission yet (a newly "
        "issued card has none until SAFE approves it), so no such business can be done with it. With the "
        "enterprise's legal-person card, go to Enterprise Management > Data filing > IC card permissions > Foreign "
        "exchange > Save > Declare, then contact your SAFE office (a phone call will do); the card gets the "
        "permission once SAFE's officers have approved it at all three levels. Here: insert the legal-person card "
        "and run 'eport-agent permission request --card {card}'.",
    ),
    "FX_PERMISSION_EXPIRED": Reason(
        403,
        "“出口收汇”显示为灰色：IC卡在外汇管理局的使用权限已于{until}到期，“出口收汇”的各项业务暂不能办理。请使用企业法人卡通过电子口岸"
        "向外汇管理局申请延期：使用企业法人卡进入【企业管理】子系统，点击【备案变更】->【IC卡权限】（查找您的IC卡卡号）"
        "->【外汇】->【暂存】->【申报】，然后请与主管外管局主动联系（可以是电话联系），外管局有关负责人员在网上3级审批通过后，"
        "IC卡将恢复使用权限。用本系统申请：插入企业法人卡，执行 eport-agent permission request --card {card}。",
        "Export FX collection is greyed out: the operator card's foreign-exchange permission expired on {until}, so "
        "no export FX collection business "
        "can be done with it. Apply for an extension with the enterprise's legal-person card through E-Port "
        "(Enterprise Management > Filing change > IC card permissions > find this card > Foreign exchange > Save > "
        "Declare), then contact your SAFE office (a phone call will do); the card works again once SAFE's officers "
        "have approved it at all three levels. Here: insert the legal-person card and run "
        "'eport-agent permission request --card {card}'.",
    ),
    "ACCESS_ACCOUNT_REQUIRED": Reason(
        403,
        "您尚未注册17999卡或注册的17999卡过期，请进入17999子系统注册17999卡（eport-agent access register）。"
        "在未注册17999卡之前，用户只能进入17999卡注册子系统，其他子系统不可用。",
        "Your enterprise has not registered a 17999 access card, or its registered card has expired: register one "
        "in the 17999 subsystem ('eport-agent access register'). Until then only the 17999 registration subsystem "
        "is open; every other subsystem is closed.",
    ),
    "ENTERPRISE_MISMATCH": Reason(
        403,
        "批次中的经营单位代码{enterprise}与操作员卡所属企业不符。",
        "The batch names enterprise {enterprise}, which is not the operator card's enterprise.",
    ),
    "BATCH_CREATED_IN_FUTURE": Reason(
        422,
        "批次的生成时间{created_at}比数据中心的时间{now}晚{minutes}分钟以上，"
        "请检查本机的日期、时间和时区设置，改正后再将文件重新放入收件箱。",
        "The batch says it was made at {created_at}, more than {minutes} minutes after the data center's time "
        "({now}): check this PC's date, time and time zone, then drop the file again.",
    ),
    "BATCH_TOO_OLD": Reason(
        422,
        "批次生成于{created_at}，已超过{days}天，数据中心不再受理。如仍需办理，请将文件重新放入收件箱"
        "（或执行 eport-agent resend 文件名）。",
        "The batch was made at {created_at}, more than {days} days ago, and is no longer accepted. If it is still "
        "wanted, drop the file again (or run 'eport-agent resend FILE').",
    ),
    "BATCH_ID_REUSED": Reason(
        409,
        "批次号{batch_id}已用于内容不同的另一批次，请使用新的批次号。",
        "Batch id {batch_id} was already used for a batch with other content; use a new batch id.",
    ),
    "RANGE_COUNT_INVALID": Reason(
        400,
        "第{seq}行的份数“{count}”无效：一个号段为1至{limit}份，请拆分后重新发送。",
        "Row {seq}: count '{count}' is invalid: a range names 1 to {limit} forms; split it and send it again.",
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
    "ORG_CODE_INVALID": Reason(
        400,
        "组织机构代码“{org_code}”无效：{detail_zh}（GB 11714：8位数字或大写字母，加1位校验码，如12345678-8）。",
        "Organisation code '{org_code}' is invalid: {detail_en} (GB 11714: 8 digits or capital letters and a check "
        "character, e.g. 12345678-8).",
    ),
    "ORG_CODE_TAKEN": Reason(
        409,
        "组织机构代码{org_code}已属于企业{enterprise}。",
        "Organisation code {org_code} already belongs to enterprise {enterprise}.",
    ),
    "ORG_CODE_NOT_FOUND": Reason(
        404,
        "没有组织机构代码为{org_code}的企业，请用 eport-center enterprise list 查看。",
        "No enterprise has organisation code {org_code}; see 'eport-center enterprise list'.",
    ),
    "NAME_REQUIRED": Reason(400, "{what_zh}不能为空。", "The {what_en} must not be empty."),
    "KEY_INVALID": Reason(
        400,
        "操作员公钥无效：{detail}（需要ECC P-256或SM2公钥）。",
        "The operator public key is not usable: {detail} (an ECC P-256 or SM2 public key is required).",
    ),
    "ALGORITHM_NOT_ACCEPTED": Reason(
        403,
        "本数据中心只签发和接受{accepted}密钥与签名，{what_zh}使用的是{given}。"
        "请使用能生成{accepted}密钥的操作员卡（或本机）重新注册。",
        "This data center certifies and accepts {accepted} keys and signatures only; the {what_en} uses {given}. "
        "Enroll a card (or PC) that makes {accepted} keys.",
    ),
    "COPIES_INVALID": Reason(
        400,
        "份数“{copies}”无效，应为1至1000。",
        "Copies '{copies}' is invalid: give a number from 1 to 1000.",
    ),
    "ARGUMENT_INVALID": Reason(400, "参数错误：{detail_zh}", "Invalid argument: {detail_en}"),
    # Enrollment over the wire (POST /api/v1/enroll with a one-time code from operator/device invite).
    "ENROLLMENT_CODE_UNKNOWN": Reason(
        403,
        "注册码无效：数据中心没有这个注册码，请核对输入"
        "（注册码由数据中心用 eport-center operator invite 或 device invite 生成）。",
        "The enrollment code is not known to the data center: check how it was typed (codes are made at the data "
        "center with 'eport-center operator invite' or 'device invite').",
    ),
    "ENROLLMENT_CODE_USED": Reason(
        409,
        "注册码已使用过（{used_at}），每个注册码只能使用一次，请向数据中心申请新的注册码。",
        "The enrollment code was already used ({used_at}); a code works once: ask the data center for a new one.",
    ),
    "ENROLLMENT_CODE_EXPIRED": Reason(
        403,
        "注册码已于{expired_at}过期，请向数据中心申请新的注册码。",
        "The enrollment code expired at {expired_at}: ask the data center for a new one.",
    ),
    "ENROLLMENT_CODE_WRONG_KIND": Reason(
        409,
        "该注册码用于注册{kind_zh}（{command}），不能用于注册{asked_zh}。",
        "This enrollment code enrolls {kind_en} ('{command}'), not {asked_en}.",
    ),
    "ENROLLMENT_REQUEST_INVALID": Reason(
        400,
        "注册请求无效：{detail}",
        "The enrollment request is not valid: {detail}",
    ),
    "ADMIN_UNAUTHORIZED": Reason(
        401,
        "管理接口需要有效的访问令牌（Authorization: Bearer ...），请用 eport-center admin token 生成。",
        "The admin API needs a valid token (Authorization: Bearer ...); make one with 'eport-center admin token'.",
    ),
    "ADMIN_RATE_LIMITED": Reason(
        429,
        "管理接口认证失败次数过多（{window}秒内{limit}次），请{seconds}秒后再试。",
        "Too many failed admin authentications from this address ({limit} within {window} s); try again in "
        "{seconds} s.",
    ),
    "APPLICATION_NOT_FOUND": Reason(
        404, "统一编号为{unified_no}的核销单申请不存在。", "No application has unified number {unified_no}."
    ),
    "APPLICATION_ALREADY_APPROVED": Reason(
        409,
        "统一编号为{unified_no}的核销单申请已于{approval_date}审批。",
        "Application {unified_no} was already approved on {approval_date}.",
    ),
    "APPROVAL_NOT_FOUND": Reason(
        404,
        "统一编号为{unified_no}的核销单申请尚未审批，不能发单。",
        "Application {unified_no} has not been approved, so no forms can be issued against it.",
    ),
    "APPROVAL_ALREADY_ISSUED": Reason(
        409,
        "统一编号为{unified_no}的审批表已发单，不能重复发单。",
        "The forms approved under {unified_no} were already issued.",
    ),
    "DECLARATION_NOT_FOUND": Reason(
        404,
        "报关单{declaration_no}的电子数据尚未到达数据中心。",
        "The data of declaration {declaration_no} has not reached the data center.",
    ),
    "DECLARATION_EXISTS": Reason(
        409,
        "报关单{declaration_no}的电子数据已到达，修改请使用报关单修改。",
        "The data of declaration {declaration_no} has already arrived; send a modification instead.",
    ),
    "PORT_IMPORT_INVALID": Reason(
        400,
        "口岸表第{line}行无效：{detail_zh}",
        "Line {line} of the port table is invalid: {detail_en}",
    ),
    "ACCESS_EMERGENCY_NOT_FOUND": Reason(
        404,
        "企业{enterprise}没有生效的紧急授权。",
        "Enterprise {enterprise} has no emergency authorisation in force.",
    ),
    # IC卡权限 extensions: requested with the legal-person card, approved by SAFE at three levels (FAQ 3).
    "PERMISSION_NEEDS_LEGAL_PERSON": Reason(
        403,
        "IC卡权限延期需要使用企业法人卡申请，操作员卡不能申请。",
        "An IC card permission extension is requested with the enterprise's legal-person card, not an operator card.",
    ),
    "PERMISSION_CARD_NOT_FOUND": Reason(
        404,
        "IC卡{card}不存在或不属于本企业。",
        "IC card {card} does not exist or does not belong to this enterprise.",
    ),
    "PERMISSION_REQUEST_PENDING": Reason(
        409,
        "IC卡{card}的权限延期申请（编号{request_no}）正在等待外汇局审批（已通过{levels}级，共3级），请与主管外管局联系。",
        "The permission extension of IC card {card} (request {request_no}) awaits SAFE's approval ({levels} of 3 "
        "levels passed); contact your SAFE office.",
    ),
    "PERMISSION_REQUEST_NOT_FOUND": Reason(
        404, "权限延期申请{request_no}不存在。", "There is no permission extension request {request_no}."
    ),
    "PERMISSION_LEVEL_OUT_OF_ORDER": Reason(
        409,
        "权限延期申请{request_no}已通过{levels}级审批，下一步是第{next}级审批，不能进行第{level}级审批。",
        "Permission extension request {request_no} has passed {levels} level(s); the next approval is level {next}, "
        "not level {level}.",
    ),
    "PERMISSION_ALREADY_APPROVED": Reason(
        409,
        "权限延期申请{request_no}已通过3级审批，IC卡使用权限有效期至{until}。",
        "Permission extension request {request_no} has passed all 3 levels; the card's permission runs until {until}.",
    ),
    # The center's own first run (eport-center init) and its register of cards and PCs (center.registry).
    "CENTER_NOT_FOUND": Reason(
        404,
        "{db}中没有数据中心：请检查--db是否写对；新建数据中心请先运行 eport-center init --db {db}。",
        "There is no data center in {db}: check --db for a typo; a new center is made once with "
        "'eport-center init --db {db}'.",
    ),
    "CENTER_EXISTS": Reason(
        409,
        "{db}中已有数据中心（CA证书指纹{fingerprint}），未做任何更改。",
        "{db} already holds a data center (CA fingerprint {fingerprint}); nothing was changed.",
    ),
    "CERTIFICATE_NOT_FOUND": Reason(
        404,
        "没有{what_zh}“{serial}”，请用 eport-center {command} list 查看。",
        "There is no {what_en} '{serial}'; see 'eport-center {command} list'.",
    ),
}


class Refusal(Exception):
    """A business or protocol refusal, raised below and turned into an answer once (HTTP middleware, CLI)."""

    def __init__(self, code: str, /, **facts: Any) -> None:
        reason = REASONS[code]
        facts = {**dict(reason.defaults), **facts}
        self.code = code
        self.http_status = reason.http_status
        self.zh = reason.zh.format(**facts)
        self.en = reason.en.format(**facts)
        self.facts = facts
        super().__init__(f"{code}: {self.en}")

    def as_json(self) -> dict[str, str]:
        return {"code": self.code, "message_zh": self.zh, "message_en": self.en}
