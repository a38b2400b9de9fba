"""The page's words, as (Chinese, English) by key, in the agent's message table (``l10n.catalog``) as ``page.<key>``
once the page is loaded; in the language of the agent's setting (``[ui] language``, ``l10n.language()``).
"""

from __future__ import annotations

import l10n
from l10n.catalog import MESSAGES

WORDS: dict[str, tuple[str, str]] = {
    "title": ("出口收汇 状态", "E-Port status"),
    "files": ("文件", "Files"),
    "forms": ("核销单", "Forms"),
    # the top
    "card": ("IC卡", "Card"),
    "operator": ("操作员", "Operator"),
    "enterprise": ("企业", "Enterprise"),
    "enterprise_code": ("经营单位代码", "Enterprise code"),
    "enterprise_name_unknown": ("企业名称以数据中心为准", "name as registered at the center"),
    "pin": ("密码", "PIN"),
    "tries_left": ("剩余 {n} 次", "{n} tries left"),
    "certificate_until": ("证书有效期至", "Certificate until"),
    "fx_until": ("外汇权限", "FX permission"),
    "fx_ended": ("已到期（数据中心拒绝）", "ended (the center refused)"),
    "fx_as_certificate": ("随证书，至 {date}", "with the certificate, until {date}"),
    "card_absent": ("未插卡", "out"),
    "card_locked": ("已锁定", "locked"),
    "card_unlocked": ("已解锁", "unlocked"),
    "card_blocked": ("已冻结", "blocked"),
    "center": ("数据中心", "Center"),
    "reachable": ("可以连接", "reachable"),
    "unreachable_since": ("自 {when} 起无法连接", "unreachable since {when}"),
    "last_sync": ("上次同步", "Last sync"),
    "next_sync": ("下次同步", "Next sync"),
    "paused": ("已暂停", "paused"),
    "parts": ("分 {n} 批发送", "sent as {n} batches"),
    "account": ("17999 帐号", "17999 account"),
    "account_none": ("未设置（agent.toml [access] account）", "not set (agent.toml [access] account)"),
    "account_open": ("业务开通", "business open"),
    "account_closed": ("业务未开通", "business closed"),
    "as_of": ("数据中心 {when} 所述", "as the center said at {when}"),
    "needs": ("需要处理", "Needs you"),
    "all_good": ("一切正常", "All good"),
    "queue": ("队列", "Queue"),
    # actions
    "actions": ("操作", "Actions"),
    "unlock": ("解锁IC卡", "Unlock card"),
    "unlock_hint": (
        "输入IC卡密码；只试一次，不会自动重试。",
        "Enter the card's PIN; it is tried once, never again by itself.",
    ),
    "unlock_do": ("解锁", "Unlock"),
    "sync_now": ("立即同步", "Sync now"),
    "sync_confirm": ("现在签名、发送并取回结果？", "Sign, send and fetch results now?"),
    "pause": ("暂停", "Pause"),
    "pause_confirm": (
        "暂停后不再签名和发送；放入的文件照常读取并排队。",
        "While paused nothing is signed or sent; dropped files are still read and queued.",
    ),
    "resume": ("继续", "Resume"),
    "resume_confirm": ("继续签名和发送？", "Sign and send again?"),
    "confirm": ("确认", "Confirm"),
    "resend": ("重发…", "Send again…"),
    "resend_confirm": (
        "把归档的原文件作为新文件放回收件箱：{name}。它会重新检查、签名并发送。",
        "Put the archived source back into the inbox as a new file: {name}. It is checked, signed and sent again.",
    ),
    "resend_do": ("确认重发", "Send again"),
    "check_receipt": ("验证回执", "Verify receipt"),
    "preview": ("操作前预览", "Preview before acting"),
    "preview_hint": (
        "只核对，不办理：数据中心答复每张核销单做这项操作会怎样，或为什么不能办理。填一个核销单号，或起始核销单号和份数。",
        "A check only, nothing is done: the center answers what the operation would do to each form, or why it "
        "cannot be done. Give one form number, or a first form number and a count.",
    ),
    "preview_operation": ("操作", "Operation"),
    "preview_form_no": ("核销单号", "Form number"),
    "preview_start": ("起始核销单号", "First form number"),
    "preview_count": ("份数", "Count"),
    "preview_port": ("口岸（口岸备案时填写）", "Port (for filings)"),
    "preview_do": ("预览", "Preview"),
    "preview_bad": ("未预览，请改正：", "Not previewed; please correct:"),
    "preview_of": ("操作前预览：{name}", "Preview: {name}"),
    "preview_waiting": ("已放入收件箱，等待读取", "In the inbox, waiting to be read"),
    "preview_answer": (
        "数据中心的答复（仅为核对，未做任何更改）",
        "The center's answer (a check only, nothing was changed)",
    ),
    "preview_more": ("只显示前 {n} 张，全部见结果文件", "the first {n} forms shown; the result file has them all"),
    "preview_close": ("关闭预览", "Close the preview"),
    "would": ("能否办理", "Can it be done"),
    "would_do": ("可以办理", "can be done"),
    "would_refuse": ("不能办理", "cannot be done"),
    "message": ("说明", "What it would do"),
    "code": ("代码", "Code"),
    "statuses_now": ("现在的状态（外汇局 / 海关 / 交单）", "Statuses now (SAFE / customs / submission)"),
    "filed_port": ("已备案口岸", "Filed at"),
    # outcomes of actions
    "done_synced": ("已开始同步", "A sync has started"),
    "done_paused": ("已暂停", "Paused"),
    "done_resumed": ("已继续", "Resumed"),
    "done_unlocked": ("IC卡已解锁", "The card is unlocked"),
    "done_resent": ("已放回收件箱：{name}", "Back in the inbox as {name}"),
    "done_preview": ("已放入收件箱：{name}，答复会显示在下方", "In the inbox as {name}; its answer shows below"),
    "done_preview_same": (
        "同样的预览还在处理中：{name}，答复会显示在下方",
        "The same preview is still on its way: {name}; its answer shows below",
    ),
    "wrong_pin": ("密码错误：还剩 {n} 次，之后IC卡会被冻结", "Wrong PIN: {n} tries left before the card blocks"),
    "failed": ("未完成：{message}", "Not done: {message}"),
    # files
    "filter_day": ("日期", "Day"),
    "filter_kind": ("业务类型", "Kind"),
    "filter_outcome": ("结果", "Outcome"),
    "search": ("搜索文件名或核销单号", "File name or form number"),
    "filter": ("筛选", "Filter"),
    "all": ("全部", "All"),
    "name": ("文件", "File"),
    "kind": ("类型", "Kind"),
    "rows": ("行数", "Rows"),
    "timeline": ("进度", "Progress"),
    "outcome": ("结果", "Outcome"),
    "links": ("文件", "Files"),
    "no_files": ("没有文件", "No files"),
    "page_of": ("第 {page} / {pages} 页，共 {total} 个", "page {page} of {pages}, {total} in all"),
    "previous": ("上一页", "Previous"),
    "next": ("下一页", "Next"),
    "outcome_pending": ("处理中", "in progress"),
    "outcome_ok": ("全部成功", "all OK"),
    "outcome_partly": ("部分拒绝", "some refused"),
    "outcome_refused": ("整批拒绝", "refused as a whole"),
    "outcome_errors": ("文件有误", "mistakes found"),
    "counts": ("成功 {ok} / 拒绝 {refused}", "OK {ok} / refused {refused}"),
    "waiting_card": ("自 {when} 起等待IC卡", "waiting for the card since {when}"),
    "step_received": ("收到", "received"),
    "step_checked": ("检查", "checked"),
    "step_signed": ("签名", "signed"),
    "step_sent": ("发送", "sent"),
    "step_answered": ("回复", "answered"),
    "step_written": ("结果已写", "results written"),
    "step_errors": ("错误已写", "errors written"),
    "link_result": ("结果", "result"),
    "link_errors": ("错误", "errors"),
    "link_receipt": ("回执", "receipt"),
    "link_source": ("原文件", "source"),
    "resent_copy": ("第 {n} 次重发", "resend {n}"),
    "download": ("下载", "Download"),
    "back": ("返回", "Back"),
    "shown_rows": ("显示前 {n} 行", "first {n} rows shown"),
    # receipts
    "receipt": ("回执验证", "Receipt check"),
    "valid": ("有效", "valid"),
    "invalid": ("无效", "invalid"),
    "signature": ("数据中心签名", "The center's signature"),
    "digest": ("批次摘要（与本机所签内容一致）", "Batch digest (the batch as signed here)"),
    "results_digest": ("结果摘要", "Results digest"),
    "received_at": ("数据中心收到时间", "Received by the center"),
    "no_receipt": ("此文件没有回执", "This file has no receipt"),
    # forms
    "form_no": ("核销单号", "Form"),
    "safe_status": ("外汇局状态", "SAFE"),
    "customs_status": ("海关状态", "Customs"),
    "submission_status": ("交单状态", "Submission"),
    "port": ("口岸", "Port"),
    "updated": ("更新时间", "Updated"),
    "event": ("事件", "Event"),
    "history": ("历史", "History"),
    "no_forms": ("还没有核销单（同步后出现）", "No forms yet (they come with the sync)"),
    "no_history": ("没有记录", "Nothing recorded"),
    "filter_status": ("状态", "Status"),
    "filter_port": ("口岸代码", "Port code"),
    "search_form": ("核销单号开头", "Form number starts with"),
    # access
    "forbidden": (
        "需要访问令牌：请从托盘菜单“打开状态页”或 eport-agent status 给出的链接打开本页。",
        "A token is needed: open this page from the tray's menu or the link eport-agent status prints.",
    ),
    "bad_csrf": ("请求已过期，请刷新页面后重试。", "The form has expired: reload the page and try again."),
    "not_found": ("找不到", "Not found"),
}


MESSAGES.update({f"page.{key}": pair for key, pair in WORDS.items()})


def language() -> str:
    """The agent's language setting: zh (the default) or en."""
    return l10n.language()


def words(lang: str) -> dict[str, str]:
    """Every word in ``lang`` (zh or en), by key."""
    side = 1 if lang == "en" else 0
    return {key: pair[side] for key, pair in WORDS.items()}
