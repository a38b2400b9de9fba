"""Which text encoding a clerk's file is in: UTF-8 (with or without BOM) or GB18030/GBK, as Excel on Chinese
Windows saves them. UTF-8 is tried first (strict, and almost never wrong when it decodes); otherwise a detector
decides, and only the encodings clerks' files really come in are accepted."""

from __future__ import annotations

import codecs

SAMPLE_BYTES = 256 * 1024
# Beyond UTF-8 the detector judges these only: on short samples an unrestricted detector guesses exotic encodings.
# GB18030 (a superset of GBK and GB2312) wins whenever the detector finds it plausible: short simplified-Chinese
# text is often valid Big5 too, and mainland clerks' files are GBK.
CANDIDATES = ["gb18030", "big5"]


class EncodingUnknown(ValueError):
    """The bytes are not text in an encoding the agent accepts; ``binary`` when they are not text at all."""

    def __init__(self, reason: str, binary: bool = False) -> None:
        super().__init__(reason)
        self.binary = binary


def detect(sample: bytes) -> str:
    """The codec to read a file whose first bytes are ``sample``: 'utf-8-sig', 'gb18030', ..."""
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if b"\x00" in sample:
        raise EncodingUnknown("binary data (NUL bytes)", binary=True)
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)  # a cut last character is fine
        return "utf-8-sig"
    except UnicodeDecodeError:
        if _mostly_utf8(sample):  # a row pasted from a GBK file: the reader names it, row and column
            return "utf-8-sig"
    from charset_normalizer import from_bytes  # only for files that are not UTF-8: it is not small

    plausible = {match.encoding for match in from_bytes(sample, cp_isolation=CANDIDATES)}
    if "gb18030" in plausible:
        return "gb18030"
    if "big5" in plausible:
        return "big5"
    raise EncodingUnknown("neither UTF-8 nor GB18030/GBK text")


def _mostly_utf8(sample: bytes) -> bool:
    """More characters beyond ASCII that are valid UTF-8 than bytes that are not: a UTF-8 file with a few rows in
    another encoding. GBK text read as UTF-8 is nearly all invalid, the odd valid character an accident."""
    text = sample.decode("utf-8", errors="replace")
    invalid = text.count("\ufffd")
    valid = sum(1 for ch in text if ch > "\x7f") - invalid
    return valid > invalid
