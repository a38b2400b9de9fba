"""Batch kinds and their columns (README.md, Workspace): the one schema that the readers, the validator, the XSDs, the
templates and the filling rules (填写规范) are all made from."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sync.access import ACCOUNT, ACCOUNT_TYPES
from sync.vocabulary import DECLARATION_NO, FORM_NO, MAX_RANGE


@dataclass(frozen=True)
class Column:
    name: str
    zh: str
    rule_zh: str
    rule_en: str
    example: str
    pattern: re.Pattern[str] | None = None  # what a code column must match after normalisation
    integer: tuple[int, int] | None = None  # inclusive bounds of an integer column
    required: bool = True
    code: bool = False  # a code: full-width characters folded, letters upper-cased
    secret: bool = False  # a password: never repeated in a result file
    digits: int | None = None  # an identifier's width when it is all digits: fewer means Excel dropped leading zeros

    def headers(self) -> tuple[str, str]:
        return self.name, self.zh


def _form(required: bool = False) -> Column:
    return Column(
        "form_no",
        "核销单号",
        "9 位数字或大写字母",
        "9 digits or capital letters",
        "260000001",
        FORM_NO,
        required=required,
        code=True,
        digits=9,
    )


START = Column(
    "start_form_no",
    "起始核销单号",
    "9 位数字或大写字母，以数字结尾",
    "9 digits or capital letters, ending in digits",
    "260000001",
    FORM_NO,
    required=False,
    code=True,
    digits=9,
)
COUNT = Column(
    "count",
    "份数",
    f"1 至 {MAX_RANGE} 的整数",
    f"a whole number from 1 to {MAX_RANGE}",
    "10",
    integer=(1, MAX_RANGE),
    required=False,
    code=True,
)


@dataclass(frozen=True)
class BatchKind:
    name: str
    zh: str
    item: str  # the XML element of one record
    prefixes: tuple[str, ...]  # file-name prefixes that tell this kind when the folder does not
    columns: tuple[Column, ...]
    ranges: bool = False  # rows name one form (form_no) or a range (start_form_no + count)
    result_extra: tuple[str, ...] = ()  # fields the center adds to each result
    notes_zh: tuple[str, ...] = field(default=())
    notes_en: tuple[str, ...] = field(default=())

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    def column_for_header(self, header: str) -> Column | None:
        """A header cell names a column by its English or Chinese name, or both ("核销单号 form_no")."""
        for token in re.split(r"[\s/()（）|:：]+", header.strip().lower()):
            found = next((c for c in self.columns if token in (c.name, c.zh)), None)
            if found is not None:
                return found
        return None

    def key_fields(self) -> tuple[str, ...]:
        """The input fields a result row repeats."""
        names = [c.name for c in self.columns if c.name not in ("start_form_no", "count") and not c.secret]
        return tuple(names)


FORM_KIND_NOTES_ZH = ("每行填写一张核销单（核销单号），或一段连续的核销单（起始核销单号 + 份数），二者选一。",)
FORM_KIND_NOTES_EN = ("Each row names one form (form_no) or a run of forms (start_form_no + count), not both.",)

APPLICATIONS = BatchKind(
    "applications",
    "核销单申请",
    "application",
    ("applications", "application", "申请", "核销单申请"),
    (
        Column(
            "copies",
            "申请份数",
            "1 至 1000 的整数",
            "a whole number from 1 to 1000",
            "50",
            integer=(1, 1000),
            code=True,
        ),
        Column(
            "remark",
            "备注",
            "可不填，最多 200 字",
            "optional, at most 200 characters",
            "四季度出口",
            pattern=re.compile(r".{0,200}", re.S),
            required=False,
        ),
    ),
    result_extra=("unified_no", "apply_date"),
    notes_zh=("申请成功后，结果文件给出统一编号；外汇局审批发放后，核销单出现在 outbox/forms.csv 中。",),
    notes_en=("The result gives the application's unified number; issued forms then appear in outbox/forms.csv.",),
)
FILINGS = BatchKind(
    "filings",
    "口岸备案",
    "filing",
    ("filings", "filing", "备案", "批量备案", "口岸备案"),
    (
        _form(),
        START,
        COUNT,
        Column(
            "port",
            "口岸",
            "4 位关区代码或口岸全称",
            "the 4-digit customs code or the port's exact name",
            "2200",
            code=True,
            digits=4,
        ),
    ),
    ranges=True,
    notes_zh=(*FORM_KIND_NOTES_ZH, "已备案的核销单需要先进行“撤销备案”操作并获得确认后，才能再次进行口岸备案操作。"),
    notes_en=(
        *FORM_KIND_NOTES_EN,
        "A filed form must have its filing cancelled, and the cancellation confirmed, before it can be filed again.",
    ),
)
CANCELLATIONS = BatchKind(
    "cancellations",
    "撤销备案",
    "cancellation",
    ("cancellations", "cancellation", "撤销", "撤销备案"),
    (_form(), START, COUNT),
    ranges=True,
    notes_zh=(*FORM_KIND_NOTES_ZH, "只能撤销尚未用于出口报关的核销单；撤销后需等待海关确认。"),
    notes_en=(*FORM_KIND_NOTES_EN, "Only forms not yet used in an export declaration; customs must confirm."),
)
SUBMISSIONS = BatchKind(
    "submissions",
    "企业交单",
    "submission",
    ("submissions", "submission", "交单", "批量交单", "企业交单"),
    (
        _form(),
        START,
        COUNT,
        Column(
            "declaration_no",
            "报关单号",
            "可不填；填写时为 18 位数字，用于核对",
            "optional; 18 digits, checked against the form",
            "223320260000012345",
            DECLARATION_NO,
            required=False,
            code=True,
            digits=18,
        ),
    ),
    ranges=True,
    notes_zh=(*FORM_KIND_NOTES_ZH, "核销单须已被海关使用（已用），且报关单电子数据已到达。"),
    notes_en=(*FORM_KIND_NOTES_EN, "The form must be used by customs and its declaration data must have arrived."),
)
LOSSES = BatchKind(
    "losses",
    "核销单挂失",
    "loss",
    ("losses", "loss", "挂失", "核销单挂失"),
    (_form(), START, COUNT),
    ranges=True,
    notes_zh=(*FORM_KIND_NOTES_ZH, "只能挂失外汇局状态为有效、且尚未用于报关的核销单；挂失后不能再使用。"),
    notes_en=(*FORM_KIND_NOTES_EN, "Only valid forms not used in a declaration; a lost form can never be used again."),
)

# 组合查询: business types and their attributes (rule 9 in docs/OPERATOR.md), English or Chinese names.
QUERY_ATTRIBUTES: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {
    ("form", "核销单"): (
        ("form_no", "核销单号"),
        ("safe_status", "外汇局使用状态"),
        ("issue_date", "发单日期"),
        ("submit_date", "交单日期"),
    ),
    ("declaration", "报关单"): (("approval_no", "批准文号"),),
    ("issuance", "核销单发放登记表"): (("issue_date", "发单日期"), ("revoked", "是否撤销")),
    ("application", "核销单申请表"): (("unified_no", "统一编号"), ("apply_date", "申请日期")),
    ("approval", "核销单申请审批表"): (("unified_no", "统一编号"), ("approval_date", "审批日期")),
}
QUERY_OPS = (("eq", "等于"), ("prefix", "以……开始"))
# The condition as clerks write it: the manual's 以……开始 (the Chinese input method's ellipsis), 以…开始, 以...开始.
QUERY_OP_SPELLINGS = {"以……开始": "prefix", "以…开始": "prefix", "以...开始": "prefix", "以......开始": "prefix"}
QUERY_DATES = frozenset({"issue_date", "submit_date", "apply_date", "approval_date"})  # values are YYYY-MM-DD


def _names(pairs: object) -> str:
    return "、".join(f"{en} {zh}" for en, zh in pairs)  # type: ignore[attr-defined]


QUERIES = BatchKind(
    "queries",
    "组合查询",
    "condition",
    ("queries", "query", "查询", "组合查询"),
    (
        Column(
            "business",
            "业务类型",
            "业务类型之一：" + _names(QUERY_ATTRIBUTES),
            "one of: " + _names(QUERY_ATTRIBUTES),
            "form",
        ),
        Column(
            "attribute",
            "属性",
            "所选业务类型的属性（见下表）",
            "an attribute of that business type (table below)",
            "form_no",
        ),
        Column("op", "运算", "eq 等于 或 prefix 以……开始", "eq (equals) or prefix (starts with)", "prefix"),
        Column("value", "值", "要比较的值", "the value to compare with", "2600"),
    ),
    notes_zh=(
        "每行一个条件，各行条件同时满足（与）；至少一个条件。",
        "日期可以写成 2026-12-02、2026/12/2 或 2026年12月2日；以……开始 也可以只写年月（2026/12）。",
    ),
    notes_en=(
        "One condition per row; all rows must hold (AND); at least one condition.",
        "Dates as 2026-12-02, 2026/12/2 or 2026年12月2日; prefix also takes a year and a month (2026/12).",
    ),
)

# 核对 (a check): what an operation would do to each form a file names, before it is done — the lists the manual
# shows for confirmation (chapters 6, 9, 10). The operation is a column, or the rest of the file name after the
# prefix (预览批量备案0601.xlsx: a check of filings).
CHECK_OPERATIONS = {
    "filings": ("口岸备案", "批量备案"),
    "cancellations": ("撤销备案",),
    "submissions": ("企业交单", "批量交单"),
    "losses": ("核销单挂失",),
}
CHECKS = BatchKind(
    "checks",
    "核对",
    "check",
    ("checks", "check", "preview", "核对", "预览"),
    (
        _form(),
        START,
        COUNT,
        Column(
            "operation",
            "操作",
            "口岸备案、批量备案、撤销备案、企业交单、批量交单、核销单挂失之一（文件名以“预览口岸备案”等开头时可不填）",
            "filings, cancellations, submissions or losses (or the manual's menu name); may be left out when the file "
            "name tells it (预览口岸备案…)",
            "口岸备案",
            re.compile("|".join(n for kind, names in CHECK_OPERATIONS.items() for n in (kind, *names))),
            required=False,
        ),
        Column(
            "port",
            "口岸",
            "口岸备案时填写：4 位关区代码或口岸全称",
            "for filings: the 4-digit customs code or the port's exact name",
            "2200",
            required=False,
            code=True,
            digits=4,
        ),
        Column(
            "declaration_no",
            "报关单号",
            "可不填；交单时用于核对",
            "optional; for submissions, checked against the form",
            "",
            DECLARATION_NO,
            required=False,
            code=True,
            digits=18,
        ),
    ),
    ranges=True,
    result_extra=("safe_status_zh", "customs_status_zh", "submission_status_zh", "filed_port"),
    notes_zh=(
        *FORM_KIND_NOTES_ZH,
        "只核对，不办理：结果列出每张核销单现在的三个状态，以及该操作会把它变成什么样（或为什么不能办理）。",
    ),
    notes_en=(
        *FORM_KIND_NOTES_EN,
        "A check only, nothing is done: the result lists each form's three statuses now and what the operation "
        "would make of it (or why it cannot be done).",
    ),
)


def check_operation(file_name: str) -> str | None:
    """The operation a check's file name tells after its prefix: 预览批量备案0601.xlsx → filings."""
    name = file_name.lower()
    for prefix in sorted(CHECKS.prefixes, key=len, reverse=True):
        if name.startswith(prefix):
            rest = name[len(prefix) :].lstrip(" -_")
            told = kind_from_name(rest)
            return told.name if told is not None and told.name in CHECK_OPERATIONS else None
    return None


# 17999卡注册 (the manual's part one, 4.3): the one kind the center takes before the enterprise holds an account.
ACCESS = BatchKind(
    "access",
    "17999卡注册",
    "account",
    ("access", "17999", "上网卡"),
    (
        Column(
            "account",
            "17999卡账号",
            "卡号，后缀 @17999.e163 不可省略、不可更改，大小写与卡上相同",
            "the card's account with its @17999.e163 suffix, letters as on the card",
            "02012345678@17999.e163",
            ACCOUNT,
        ),
        Column(
            "type",
            "卡类型",
            "、".join(f"{zh} {name}" for name, zh in ACCOUNT_TYPES.items()) + " 之一",
            "one of " + ", ".join(ACCOUNT_TYPES) + " (or the Chinese name)",
            "old-annual",
            re.compile("|".join(re.escape(n) for pair in ACCOUNT_TYPES.items() for n in pair)),
        ),
        Column(
            "months",
            "有效期月数",
            "宽带卡填 6（半年卡）或 12（年卡）；其他卡可不填（12）",
            "broadband: 6 (half-year card) or 12 (one-year card); other cards may leave it empty (12)",
            "12",
            re.compile(r"6|12"),
            required=False,
            code=True,
        ),
        Column(
            "password",
            "密码",
            "宽带卡、专线卡必填：卡上的密码",
            "broadband and leased-line cards: the card's password",
            "",
            required=False,
            secret=True,
        ),
    ),
    result_extra=("expires_at",),
    notes_zh=(
        "计时卡和新年卡注册时要检查拨号在线状态（请求须经由要注册的账号），而文件中的批次不经由任何账号："
        "请在用该账号拨号上网时用 eport-agent access register 注册这两类卡，"
        "文件中的这两类卡会被拒绝（ACCESS_NOT_ONLINE）。",
        "宽带卡和专线卡须填写密码。数据中心只保存密码的加盐散列，结果文件也不重复密码；"
        "但放入的原文件会按原样保存在 archive/ 中，请妥善处理，"
        "或改用 eport-agent access register（不回显地询问密码）。",
        "在注册有效的17999卡之前，其他各类批次都会被整批拒绝（ACCESS_ACCOUNT_REQUIRED）；"
        "结果文件给出账号的有效期（expires_at）。",
    ),
    notes_en=(
        "Timed and new annual cards need the online-state check (the request must arrive through the account being "
        "registered), which a batch from a file cannot show: register them with 'eport-agent access register' while "
        "dialled in with the account; in a file they are refused (ACCESS_NOT_ONLINE).",
        "Broadband and leased-line cards need the password. The center keeps only a salted hash and result files "
        "never repeat it, but the file you drop is kept as it is in archive/: dispose of it, or use "
        "'eport-agent access register', which asks for the password without showing it.",
        "Until the enterprise holds a valid 17999 account every other batch is refused whole "
        "(ACCESS_ACCOUNT_REQUIRED); the result gives the account's expiry (expires_at).",
    ),
)

KINDS: dict[str, BatchKind] = {
    k.name: k for k in (APPLICATIONS, FILINGS, CANCELLATIONS, SUBMISSIONS, LOSSES, QUERIES, ACCESS, CHECKS)
}


def kind_from_name(file_name: str) -> BatchKind | None:
    """The kind a file name's prefix tells, longest prefix first ("撤销备案…" is a cancellation, not a filing)."""
    name = file_name.lower()
    candidates = [(p, k) for k in KINDS.values() for p in k.prefixes if name.startswith(p)]
    return max(candidates, key=lambda pk: len(pk[0]))[1] if candidates else None


def kind_from_xml_root(tag: str) -> BatchKind | None:
    return KINDS.get(tag)


def query_names(business: str, attribute: str) -> tuple[str, str] | None:
    """English names of a (business, attribute) pair given in English or Chinese; None if not a valid pair."""
    for (b_en, b_zh), attributes in QUERY_ATTRIBUTES.items():
        if business in (b_en, b_zh):
            return next(((b_en, a_en) for a_en, a_zh in attributes if attribute in (a_en, a_zh)), None)
    return None


def query_op(op: str) -> str | None:
    op = op.strip()
    return QUERY_OP_SPELLINGS.get(op) or next((en for en, zh in QUERY_OPS if op.lower() in (en, zh)), None)
