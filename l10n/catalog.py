"""The message table: every sentence of the agent's own that a clerk reads, as (Chinese, English), by key.

A table rather than gettext catalogues: two languages, no compiled .mo files to build and ship, and a test checks
that both sides of every entry name the same placeholders. Keys are grouped by where the words are shown.
"""

from __future__ import annotations

MESSAGES: dict[str, tuple[str, str]] = {}

# Sheet names of the workbooks in outbox/ (at most 31 characters).
MESSAGES.update(
    {
        "sheet.results": ("结果", "results"),
        "sheet.query": ("查询结果", "query answer"),
        "sheet.errors": ("错误", "errors"),
        "sheet.updates": ("状态变化", "updates"),
        "sheet.forms": ("核销单", "forms"),
    }
)

# Where a batch stands, in words that do not claim more than is known: "sent" is marked before the request goes
# out, so a batch in it may still be waiting for the center.
MESSAGES.update(
    {
        "state.received": ("已读入，等待签名", "read, to be signed"),
        "state.awaiting_signature": ("等待操作员卡签名", "waiting for the card's signature"),
        "state.signed": ("等待发送/重试中", "waiting to be sent / retrying"),
        "state.sent": ("等待发送/重试中", "waiting for the center / retrying"),
        "state.acknowledged": ("数据中心已答复，正在写结果", "answered, the result is being written"),
        "state.delivered": ("已完成", "done"),
        "state.rejected": ("被数据中心整批拒绝", "refused as a whole by the center"),
    }
)

# Intake: what becomes of a dropped file.
MESSAGES.update(
    {
        "intake.unreadable": (
            "无法读取文件 {name}（{error}）：文件已移入 archive/，未发送；请检查后重新放入，详见 {report}",
            "cannot read the file {name} ({error}): it was moved to archive/ and not sent; check it and drop it "
            "again, see {report}",
        ),
        "intake.reader_failed": (
            "读取文件时出错（{error}）：文件已移入 archive/，未发送。请检查文件"
            "（可在 Excel 中另存为 .xlsx 或 CSV UTF-8）后重新放入；"
            "如果仍然出错，请把文件和 logs/agent.log 交给技术支持",
            "reading the file failed ({error}): it was moved to archive/ and not sent. Check the file (save it "
            "again from Excel as .xlsx or CSV UTF-8) and drop it again; if it fails again, give the file and "
            "logs/agent.log to your support",
        ),
    }
)
