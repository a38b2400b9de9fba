"""An XML file's text in UTF-8, whatever encoding it declares: Chinese systems write GBK, GB2312 and GB18030 as
well as UTF-8 and UTF-16, and expat (under defusedxml) reads no multi-byte encoding but UTF-8 and UTF-16. The text is
decoded by Python's codecs and its declaration rewritten to say UTF-8; the parsing stays defusedxml's."""

from __future__ import annotations

import codecs
import re

from inbox.encoding import WINDOWS_GBK

DECLARATION = re.compile(rb"""^<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
# GB2312 and GBK files often hold characters of the wider sets (Excel, old ERP exports): read them as GB18030, which
# contains both.
# (Windows' GBK, with € as 0x80, inbox.encoding)
WIDER = dict.fromkeys(("gb2312", "gbk", "cp936", "euc-cn", "x-gbk", "gb18030"), WINDOWS_GBK)
BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


class XmlEncodingError(ValueError):
    def __init__(self, zh: str, en: str) -> None:
        super().__init__(en)
        self.zh, self.en = zh, en


def declared_encoding(data: bytes) -> str:
    """The encoding the bytes are in: a byte-order mark, else the declaration, else UTF-8 (XML's default)."""
    for bom, name in BOMS:
        if data.startswith(bom):
            return name
    if data.startswith((b"<\x00", b"\x00<")):  # UTF-16 without a mark
        return "utf-16-le" if data.startswith(b"<\x00") else "utf-16-be"
    match = DECLARATION.match(data)
    return match.group(1).decode("ascii").lower() if match else "utf-8"


def xml_as_utf8(data: bytes) -> bytes:
    """The same document, as UTF-8 bytes that declare UTF-8."""
    declared = declared_encoding(data)
    codec = WIDER.get(declared, declared)
    try:
        codecs.lookup(codec)
    except LookupError:
        raise XmlEncodingError(f"不认识声明的编码“{declared}”", f"unknown declared encoding '{declared}'") from None
    try:
        text = data.decode(codec)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise XmlEncodingError(
            f"第 {line} 行的文字不是声明的编码 {declared}：请按声明的编码保存文件",
            f"text on line {line} is not in the declared encoding {declared}: save the file in that encoding",
        ) from exc
    text = text.lstrip("\ufeff")
    text = re.sub(r"""^(<\?xml[^>]*?encoding\s*=\s*)["'][A-Za-z0-9._-]+["']""", r'\1"UTF-8"', text, count=1)
    return text.encode("utf-8")
