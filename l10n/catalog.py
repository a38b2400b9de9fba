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
        "limits.rows": (
            "文件超过每批 {limit} 行的上限，未读完、未发送：请拆分为每个不超过 {limit} 行的多个文件后重新放入",
            "the file has more than the {limit} rows a batch may hold; it was not read further nor sent: split it "
            "into files of at most {limit} rows and drop them again",
        ),
        "limits.forms": (
            "文件涉及的核销单超过每批 {limit} 份的上限（号段按份数计），未发送：请拆分为多个文件后重新放入",
            "the file names more than the {limit} forms a batch may name (ranges counted out); it was not sent: "
            "split it into several files and drop them again",
        ),
        "limits.file_rows": (
            "文件超过 {limit} 行的上限，未读完、未发送：请拆分为多个文件后重新放入",
            "the file has more than {limit} rows; it was not read further nor sent: split it into several files "
            "and drop them again",
        ),
        "limits.file_forms": (
            "文件涉及的核销单超过 {limit} 份的上限（号段按份数计），未发送：请拆分为多个文件后重新放入",
            "the file names more than {limit} forms (ranges counted out); it was not sent: split it into several "
            "files and drop them again",
        ),
        "file.part": (
            "{stem}（第{part}部分，共{parts}部分）",
            "{stem} (part {part} of {parts})",
        ),
        "limits.conditions": (
            "查询条件超过 {limit} 个的上限，未发送：请减少条件后重新放入",
            "the query has more than {limit} conditions; it was not sent: use fewer conditions and drop it again",
        ),
        "intake.not_regular": (
            "这不是普通文件，而是{what}：未读取、未发送，已移出收件箱。请把文件本身（而不是快捷方式）放入收件箱",
            "this is not a regular file but {what}: it was not read nor sent, and was moved out of the inbox. "
            "Drop the file itself (not a link to it) into the inbox",
        ),
    }
)

# The tray: tooltip, reasons (also the reasons `eport-agent status` lists), menu, notifications.
MESSAGES.update(
    {
        "tray.title": ("电子口岸出口收汇", "E-Port agent"),
        "tray.card_blocked": (
            "操作员卡已锁死（PIN 错误次数过多）：请联系发卡机构解锁",
            "Card blocked (too many wrong PINs): ask the card issuer to unblock it",
        ),
        "tray.card_out": ("未插入操作员卡：请插入操作员卡", "Card out: insert the operator card"),
        "tray.card_locked": ("操作员卡未解锁：请解锁", "Card locked: unlock it"),
        "tray.card_locked_tries": (
            "操作员卡未解锁：请解锁（还可尝试 {tries} 次）",
            "Card locked: unlock it ({tries} tries left)",
        ),
        "tray.card_locked_try": ("操作员卡未解锁：请解锁（还可尝试 1 次）", "Card locked: unlock it (1 try left)"),
        "tray.unreachable": ("数据中心自 {time} 起没有应答", "The center has not answered since {time}"),
        "tray.refused": ("文件 {name} 被数据中心整批拒绝：{code}", "File {name} refused by the center: {code}"),
        "tray.waiting": ("{count} 个文件等待操作员卡签名", "{count} batches wait for the card's signature"),
        "tray.waiting_one": ("1 个文件等待操作员卡签名", "1 batch waits for the card's signature"),
        "tray.paused": ("已暂停：恢复后才会签名和发送", "Paused: resume to sign and send"),
        "tray.in_flight": ("{count} 个文件等待发送/重试中", "{count} batches on the way"),
        "tray.in_flight_one": ("1 个文件等待发送/重试中", "1 batch on the way"),
        "tray.all_good": ("一切正常：没有等待处理的文件", "All good: nothing waiting"),
        "tray.counts": (
            "待签名 {waiting} · 处理中 {in_flight} · 已完成 {done} · 被拒绝 {refused}",
            "{waiting} to sign · {in_flight} on the way · {done} done · {refused} refused",
        ),
        "menu.unlock": ("解锁操作员卡…", "Unlock card…"),
        "menu.sync": ("立即同步", "Sync now"),
        "menu.inbox": ("打开待发文件夹（inbox）", "Open inbox"),
        "menu.outbox": ("打开结果文件夹（outbox）", "Open outbox"),
        "menu.pause": ("暂停", "Pause"),
        "menu.resume": ("恢复", "Resume"),
        "menu.status": ("状态", "Status"),
        "menu.page": ("打开状态页", "Open the status page"),
        "menu.guide": ("业务规范", "Guide"),
        "menu.quit": ("退出", "Quit"),
        "notice.errors_title": ("文件未发送", "File not sent"),
        "notice.errors": ("{name} 有错误，未发送：请看 {report}", "{name} has mistakes and was not sent: see {report}"),
        "notice.result_title": ("结果已写入", "Results written"),
        "notice.result": ("{name} 的结果：{result}", "The result of {name}: {result}"),
        "notice.locked_title": ("操作员卡未解锁", "Card locked"),
        "notice.locked": ("请运行 eport-agent unlock 解锁", "Unlock it with: eport-agent unlock"),
        "status.last_sync": ("上次同步 {time}", "last sync {time}"),
    }
)

# The PIN dialog and the status window.
MESSAGES.update(
    {
        "pin.title": ("解锁操作员卡", "Unlock the operator card"),
        "pin.ask": ("请输入操作员卡密码（PIN）。", "Type the operator card's PIN."),
        "pin.ask_tries": (
            "请输入操作员卡密码（PIN）。再输错 {tries} 次，卡将被锁死。",
            "Type the operator card's PIN. {tries} tries left before the card locks.",
        ),
        "pin.blocked": (
            "操作员卡已锁死：PIN 错误次数过多。请联系发卡机构（管理员）解锁。",
            "The card is blocked: too many wrong PINs. Ask the card issuer (your administrator) to unblock it.",
        ),
        "pin.checking": ("正在用卡核对密码…", "Checking the PIN with the card…"),
        "pin.unlock": ("解锁", "Unlock"),
        "pin.cancel": ("取消", "Cancel"),
        "pin.wrong": (
            "密码错误：再输错 {tries} 次，卡将被锁死。",
            "Wrong PIN: {tries} tries left before the card locks.",
        ),
        "pin.unlocked": ("操作员卡已解锁", "unlocked"),
        "pin.already": (
            "操作员卡已解锁，无需再次输入密码（密码未发送给卡）",
            "the card is already unlocked; the PIN was not sent to it",
        ),
        "status.title": ("电子口岸出口收汇：状态", "E-Port agent status"),
        "status.close": ("关闭", "Close"),
    }
)

# The command line: status, unlock, card info, run.
MESSAGES.update(
    {
        "cli.pin_prompt": ("操作员卡密码（PIN）：", "Operator card PIN: "),
        "cli.no_terminal_pin": (
            "没有可以输入密码的终端：请加 --pin-stdin，从标准输入提供密码",
            "no terminal to ask the PIN on: pass --pin-stdin and give the PIN on standard input",
        ),
        "cli.wrong_pin": (
            "密码错误：再输错 {tries} 次，卡将被锁死；文件等待签名。",
            "wrong PIN: {tries} tries left before the card blocks; batches wait.",
        ),
        "cli.blocked": (
            "操作员卡已锁死（PIN 错误次数过多）：请联系发卡机构解锁。",
            "the card is blocked (too many wrong PINs): ask the card issuer to unblock it.",
        ),
        "cli.card_error": ("操作员卡：{error}", "card: {error}"),
        "cli.card_error_wait": ("操作员卡：{error}；文件等待签名。", "card: {error}; batches wait for the card."),
        "cli.unlock_no_agent": (
            "eport-agent：没有代理在 {root} 运行：请先运行 eport-agent run"
            "（卡由运行中的代理解锁；没有向卡发送任何内容）",
            "eport-agent: no agent is running on {root}: start it with 'eport-agent run' (the card is unlocked for "
            "the agent that holds it; nothing was sent to the card)",
        ),
        "cli.unlocked": ("操作员卡已解锁：等待中的文件现在签名发送", "card unlocked: waiting batches are signed now"),
        "cli.card_from_card": (
            "（没有代理在此工作目录运行：直接从卡读取）",
            "(no agent is running on this workspace: read from the card directly)",
        ),
        "cli.warning": ("注意：{text}", "warning: {text}"),
        "cli.workspace": ("工作目录 {root}", "workspace {root}"),
        "cli.running": (
            "代理已在 {root} 运行；请把文件放入 {inbox}；按 Ctrl-C 停止。",
            "agent running on {root}; drop files into {inbox}; Ctrl-C stops.",
        ),
        "cli.running_tray": (
            "代理已在 {root} 运行（见系统托盘图标）；请把文件放入 {inbox}。",
            "agent running on {root} with its tray icon; drop files into {inbox}.",
        ),
        "cli.init": (
            "工作目录已就绪：{root}\n请编辑 {config} 设置数据中心地址",
            "workspace ready: {root}\nedit {config} to set the center's address",
        ),
        "card.reader": ("读卡器", "reader"),
        "card.card_type": ("卡类型", "card type"),
        "card.serial": ("卡号", "card serial"),
        "card.state": ("状态", "state"),
        "card.pin_tries_left": ("剩余密码尝试次数", "PIN tries left"),
        "card.subject": ("证书", "certificate"),
        "card.operator": ("操作员", "operator"),
        "card.enterprise": ("企业", "enterprise"),
        "card.not_after": ("有效期至", "valid until"),
        "card.problem": ("问题", "problem"),
        "card.algorithm": ("签名算法", "algorithm"),
        "card.cannot_make": (
            "该卡不能生成数据中心要求的{algorithm}密钥，卡上原有的密钥和证书未改动；请换用支持该算法的操作员卡。",
            "the card cannot make the {algorithm} key the center requires; its key and certificate are as they were: "
            "use an operator card that supports it",
        ),
        "card_state.unlocked": ("已解锁", "unlocked"),
        "card_state.locked": ("未解锁", "locked"),
        "card_state.blocked": ("已锁死", "blocked"),
        "card_state.absent": ("未插卡", "absent"),
        "field.last_sync": ("上次同步", "last sync"),
        "field.next_sync": ("下次同步", "next sync"),
        "field.center_unreachable_since": ("数据中心无应答自", "center unreachable since"),
        "field.card": ("操作员卡", "card"),
        "field.pin_tries_left": ("剩余密码尝试次数", "PIN tries left"),
        "field.paused": ("已暂停", "paused"),
    }
)

# 17999 accounts and FX permission extensions (eport-agent access / permission, and the access lines of status).
MESSAGES.update(
    {
        "access.open": ("17999 上网卡：业务已开通", "17999 access: business open"),
        "access.closed": ("17999 上网卡：业务未开通（请注册有效的 17999 卡）", "17999 access: business CLOSED"),
        "access.as_of": ("（数据中心 {time} 的答复）", " (as the center said at {time})"),
        "access.account": (
            "  {account}  {type_zh}（{type}）  有效期至 {until}{hours}  {status}",
            "  {account}  {type} {type_zh}  until {until}{hours}  {status}",
        ),
        "access.hours": ("，已用 {used:g}/{limit} 小时", ", {used:g}/{limit} h"),
        "access.emergency": ("  紧急开通有效至 {until}", "  emergency authorisation until {until}"),
        "access.detail": (
            "  有效期 {valid_from} 至 {expires_at}（到 {until}）{hours}",
            "  valid from {valid_from} to {expires_at} (until {until}){hours}",
        ),
        "access.registered": ("  注册于 {at}；{who}", "  registered {at}; {who}"),
        "access.user_may_delete": ("用户可以删除", "the user may delete it"),
        "access.system_removes": ("到期后由系统删除", "removed by the system when it expires"),
        "access.done_register": ("已注册：", "registered:"),
        "access.done_delete": ("已删除：", "deleted:"),
        "access.refused": (
            "eport-agent：数据中心拒绝：{code}：{zh} / {en}",
            "eport-agent: the center refused: {code}: {zh} / {en}",
        ),
        "access.password_prompt": ("{type}的密码（卡上的密码）：", "Password of the {type} card: "),
        "permission.request": (
            "申请 {no}：卡 {card}，{status}，外汇局三级审批已通过 {levels} 级{until}",
            "request {no}: card {card}, {status}, {levels} of 3 SAFE approval levels passed{until}",
        ),
        "permission.until": ("，IC卡权限至 {until}", ", FX permission until {until}"),
        "permission.none": ("没有延期申请", "none"),
        "permission.next": (
            "外汇局将分三级审批；请联系所在地外汇局（电话即可）。",
            "SAFE approves it at three levels; contact your SAFE office (a call will do).",
        ),
    }
)

# Warnings ahead of trouble (status, the tray, card info).
MESSAGES.update(
    {
        "warn.no_access": (
            "没有有效的 17999 上网卡：注册之前，所有业务文件都会被整批拒绝（eport-agent access register）。",
            "No valid 17999 access account: every business batch is refused until one is registered "
            "(eport-agent access register).",
        ),
        "warn.emergency_only": (
            "目前仅凭数据中心的紧急开通办理业务，有效至 {until}：请注册 17999 上网卡（eport-agent access register）。",
            "Business is open only by the data center's emergency authorisation, until {until}: register a 17999 "
            "access account (eport-agent access register).",
        ),
        "warn.access_ends": (
            "企业的 17999 上网卡将于 {until} 到期（还有 {days} 天，账号 {account}）：请在此之前注册下一张卡"
            "（eport-agent access register）。",
            "The enterprise's 17999 access ends on {until} (in {days} days, account {account}): register the next "
            "card before then (eport-agent access register).",
        ),
        "warn.cert_expired": (
            "操作员卡证书已于 {day} 到期：请更新操作员卡。",
            "The operator certificate expired on {day}: have the card renewed.",
        ),
        "warn.cert_expires": (
            "操作员卡证书将于 {day} 到期（还有 {days} 天）：请及时更新。",
            "The operator certificate expires on {day} (in {days} days): have it renewed.",
        ),
    }
)
MESSAGES["warn.hours_left"] = (
    "17999 账号 {account} 的上网时长只剩 {hours:g} 小时（共 {limit} 小时）。",
    "17999 account {account} has {hours:g} of its {limit} online hours left.",
)

# A file whose content was taken before (agent.repeats): its result's note, or why it was not sent. Records: they are
# written in both languages.
MESSAGES.update(
    {
        "repeat.again": (
            "与 {name}（{when} 放入）内容相同，已按再次放入办理",
            "the same content as {name} (dropped {when}), handled as dropped again",
        ),
        "repeat.query": (
            "与 {name}（{when} 放入）内容相同，已按现在的数据重新查询",
            "the same query as {name} (dropped {when}), answered afresh with the data as it is now",
        ),
        "repeat.resent": (
            "按您的要求再次发送（eport-agent resend），内容与 {name}（{when} 放入）相同",
            "sent again as you asked (eport-agent resend); the same content as {name} (dropped {when})",
        ),
        "repeat.duplicate": (
            "重复文件：内容与 {name}（{when} 放入）完全相同，而那份文件还在处理中："
            "本文件不再发送，只办理一次。第一份的结果：",
            "duplicate: the same content as {name} (dropped {when}), which is still on its way: this copy is not sent, "
            "the file is handled once. The first one's outcome: ",
        ),
        "repeat.held": (
            "暂未发送：内容与 {name}（{when} 放入，{at} 已向外汇局申请）完全相同，再次发送会重复申请核销单。"
            "如确需再次申请，请运行：eport-agent resend {file}",
            "held, not sent: the same content as {name} (dropped {when}, applied at {at}); sending it would ask SAFE "
            "for forms twice. To apply again on purpose, run: eport-agent resend {file}",
        ),
    }
)

# The card's 出口收汇 permission as the center describes it (agent.permission): card info, status, the tray.
MESSAGES.update(
    {
        "warn.fx_not_granted": (
            "出口收汇不可用：IC卡 {card} 的外汇权限未开通（新申领的IC卡在外汇局审批前没有“出口收汇”权限）。"
            "请插入企业法人卡运行 eport-agent permission request --card {card}，再联系外汇局，三级审批通过后即可使用。",
            "Export FX collection unavailable: IC card {card} has no FX permission yet (a new card has none until SAFE "
            "approves it). Insert the legal-person card, run 'eport-agent permission request --card {card}', then call "
            "your SAFE office; the card works once SAFE has approved it at three levels.",
        ),
        "warn.fx_expired": (
            "出口收汇不可用：IC卡 {card} 的外汇权限已于 {until} 到期。请插入企业法人卡运行 "
            "eport-agent permission request --card {card}，再联系外汇局，三级审批通过后恢复使用。",
            "Export FX collection unavailable: the FX permission of IC card {card} expired on {until}. Insert the "
            "legal-person card, run 'eport-agent permission request --card {card}', then call your SAFE office; the "
            "card works again once SAFE has approved it at three levels.",
        ),
        "warn.fx_ends": (
            "IC卡 {card} 的外汇权限将于 {until} 到期（还有 {days} 天）：请及早用企业法人卡申请延期"
            "（eport-agent permission request --card {card}）。",
            "The FX permission of IC card {card} ends on {until} (in {days} days): have the legal-person card request "
            "an extension in time ('eport-agent permission request --card {card}').",
        ),
        "fx.valid": ("有效，至 {until}", "valid until {until}"),
        "fx.expired": ("已到期（{until}）", "expired ({until})"),
        "fx.not_granted": ("未开通", "none"),
        "fx.enterprise": ("{code} {name}（组织机构代码 {org}）", "{code} {name} (organisation code {org})"),
        "card.fx_permission": ("出口收汇权限", "FX permission"),
        "cli.enrolled_fx": (
            "注意：新申领的IC卡在外汇局三级审批通过之前没有“出口收汇”权限（常见问题3（2））；"
            "eport-agent status 和 card info 会显示权限是否已开通。",
            "Note: a newly issued card has no export FX collection permission until SAFE approves it at three levels "
            "(FAQ 3 (2)); eport-agent status and card info say whether it has it.",
        ),
        "card.enterprise_name": ("企业名称", "enterprise"),
    }
)

# The clerk's own commands (agent.clerk_cli): resend, ports search, guide; and the port table's sheet.
MESSAGES.update(
    {
        "cli.resent": (
            "已放回待发文件夹：{folder}/{name}，代理读取后会再发送一次",
            "put back into the inbox as {folder}/{name}: the agent sends it once more when it reads it",
        ),
        "cli.no_ports": (
            "还没有口岸代码表：代理第一次与数据中心同步后才会有（eport-agent sync）",
            "no port table yet: the agent gets it at its first sync with the center (eport-agent sync)",
        ),
        "cli.no_port_found": ("没有与“{text}”相符的口岸", "no port matches '{text}'"),
        "cli.no_guide_page": ("没有“{page}”这一页，可选：{pages}", "no page '{page}'; choose one of: {pages}"),
        "sheet.ports": ("口岸代码表", "ports"),
    }
)

# Reading a clerk's file (inbox.sources): what makes a whole file unreadable, and what is wrong with the structure of
# an XML file, record by record. The row and the field go into the errors file's own columns, beside the message.
MESSAGES.update(
    {
        "read.binary": (
            "文件不是文字（含有 NUL 字节），不能作为 CSV 读取："
            "请放入 Excel 工作簿（.xlsx），或在 Excel 中另存为“CSV UTF-8”",
            "the file is binary data (NUL bytes), not CSV text: drop the Excel workbook (.xlsx), or save it from "
            "Excel as 'CSV UTF-8'",
        ),
        "read.encoding_unknown": (
            "无法识别文件的编码（既不是 UTF-8，也不是 GB18030/GBK）：请在 Excel 中另存为“CSV UTF-8”、“CSV（逗号分隔）”"
            "或“Excel 工作簿 (.xlsx)”",
            "cannot read the file's text encoding (neither UTF-8 nor GB18030/GBK): save it from Excel as 'CSV UTF-8', "
            "'CSV (comma delimited)' or 'Excel Workbook (.xlsx)'",
        ),
        "read.mixed_encoding": (
            "这一行的文字无法按文件的编码（{codec}）读取：文件中混有不同编码（例如从别的文件粘贴来的内容），"
            "请在 Excel 中另存为“CSV UTF-8”后重新放入",
            "text in this row cannot be read in the file's encoding ({codec}): mixed encodings (pasted from another "
            "file?); save it from Excel as 'CSV UTF-8' and drop it again",
        ),
        "read.cell_too_long": (
            "这一行有一个单元格超过 {limit} 个字符，文件未读完、未发送。"
            "如果并没有这么长的单元格，多半是某个引号没有配对，使后面的内容都算进了同一个单元格：请检查这一行的引号",
            "this row cannot be read: a cell is over {limit} characters, and the file was not read further nor sent. "
            "Without such a cell, an unmatched quote has likely made the rest of the file one cell: check the quotes "
            "of this row",
        ),
        "read.csv_unreadable": (
            "这一行无法读取（引号不配对或单元格格式异常），文件未发送：请在 Excel 中打开后另存为“CSV UTF-8”或 .xlsx",
            "this row cannot be read (an unmatched quote or a malformed cell), the file was not sent: open it in "
            "Excel and save it as 'CSV UTF-8' or .xlsx",
        ),
        "read.workbook_unreadable": (
            "无法打开这个 Excel 文件：文件可能已损坏、设有密码，或者并不是 Excel 文件。"
            "请在 Excel 中打开（如有密码请去掉）后另存为 .xlsx",
            "cannot open this Excel file: it may be damaged, protected by a password, or not a workbook at all. Open "
            "it in Excel (remove any password) and save it again as .xlsx",
        ),
        "xml.malformed": ("XML 格式错误（第 {line} 行）：{reason}", "malformed XML (line {line}): {reason}"),
        "xml.not_a_record": (
            "元素 <{tag}> 不是一条记录：每条记录应写成 <{item}>…</{item}>",
            "element <{tag}> is not a record: each record is <{item}>…</{item}>",
        ),
        "xml.unknown_field": (
            "未知的字段 <{tag}>：<{item}> 的字段为 {fields}",
            "unknown field <{tag}>: a <{item}> has the fields {fields}",
        ),
        "xml.field_twice": (
            "字段 <{tag}> 在这条记录中出现了两次（以第一个为准）",
            "field <{tag}> appears twice in this record (the first one counts)",
        ),
        "xml.nested": (
            "字段 <{tag}> 中只能写值，不能再有元素 <{inner}>",
            "field <{tag}> holds its value only, not the element <{inner}>",
        ),
        "xml.attribute_field": (
            "“{name}”写成了属性：请写成 <{item}> 中的元素 <{name}>…</{name}>",
            "'{name}' is written as an attribute: write it as the element <{name}>…</{name}> inside <{item}>",
        ),
        "xml.attribute": (
            "不认识的属性 {name}：文件中的值都写成元素，请删除这个属性",
            "unknown attribute {name}: values are written as elements; remove the attribute",
        ),
        "xml.stray_text": (
            "有不在任何字段中的文字：请把它写进相应的字段元素，或删除",
            "text outside any field: put it inside its field element, or remove it",
        ),
        # Why expat could not parse the file (its own messages are English only).
        "xml.reason.no_element": (
            "文件不完整：没有元素，或在元素结束之前就结束了",
            "the file is incomplete: no element, or it ends before its elements do",
        ),
        "xml.reason.invalid_token": (
            "有不合法的字符或写法（例如值中未转义的 & 或 <，应写成 &amp; 和 &lt;）",
            "an illegal character or construct (such as a bare & or < in a value: write &amp; and &lt;)",
        ),
        "xml.reason.unclosed_token": ("有没写完的标记", "an unfinished tag"),
        "xml.reason.mismatched_tag": (
            "开始标记与结束标记不配对（如 <port>…</form_no>）",
            "a start tag and an end tag do not match (such as <port>…</form_no>)",
        ),
        "xml.reason.duplicate_attribute": ("同一个属性写了两次", "an attribute given twice"),
        "xml.reason.junk_after": (
            "根元素结束之后还有内容：一个文件只能有一个根元素",
            "content after the root element: a file has one root element only",
        ),
        "xml.reason.undefined_entity": (
            "使用了未定义的实体（如 &nbsp;）：值中的 & 请写成 &amp;",
            "an undefined entity (such as &nbsp;): write & in a value as &amp;",
        ),
        "xml.reason.bad_character_reference": (
            "字符引用 &#…; 指向 XML 中不允许的字符",
            "a character reference &#…; names a character XML does not allow",
        ),
        "xml.reason.declaration_not_at_start": (
            "XML 声明 <?xml …?> 不在文件的最开头",
            "the XML declaration <?xml …?> is not at the very start of the file",
        ),
        "xml.reason.bad_declaration": ("XML 声明 <?xml …?> 写得不对", "the XML declaration <?xml …?> is malformed"),
        "xml.reason.unclosed_cdata": ("CDATA 段没有结束", "an unclosed CDATA section"),
        "xml.reason.unbound_prefix": (
            "使用了未声明的命名空间前缀（如 <a:form_no>）",
            "an undeclared namespace prefix (such as <a:form_no>)",
        ),
        "xml.reason.other": ("文件不是格式正确的 XML", "the file is not well-formed XML"),
    }
)
