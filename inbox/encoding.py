"""Which text encoding a clerk's file is in: UTF-8 (with or without BOM) or GB18030/GBK, as Excel on Chinese
Windows saves them (its GBK, code page 936, also writes € as the byte 0x80: read too). UTF-8 is tried first (strict,
and almost never wrong when it decodes); otherwise a detector decides, and only the encodings clerks' files really
come in are accepted."""

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
    """The codec to read a file whose first bytes are ``sample``: 'utf-8-sig', 'gb18030-windows', ..."""
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
        return WINDOWS_GBK  # GB18030 with Windows' € (0x80) too, wherever in the file it comes
    if "big5" in plausible:
        return "big5"
    if _chinese(sample):  # too short for the detector to be sure, yet plainly Chinese (or holds Windows' €)
        return WINDOWS_GBK
    raise EncodingUnknown("neither UTF-8 nor GB18030/GBK text")


# -- Windows' GBK: code page 936 writes € as the single byte 0x80, which GB18030 has not -----------------------------

WINDOWS_GBK = "gb18030-windows"


def codec_label(codec: str) -> str:
    """A codec as a clerk knows it: UTF-8, GB18030 ..."""
    return codec.upper().removesuffix("-SIG").removesuffix("-WINDOWS")


def _with_euro(errors: str) -> str:
    """An error handler (by name) that reads 0x80 as € and leaves anything else to ``errors``."""
    name = f"eport-euro-{errors}"
    try:
        codecs.lookup_error(name)
    except LookupError:
        otherwise = codecs.lookup_error(errors)

        def euro(exc: UnicodeError) -> tuple[str | bytes, int]:
            if isinstance(exc, UnicodeDecodeError) and exc.object[exc.start : exc.start + 1] == b"\x80":
                return "€", exc.start + 1
            return otherwise(exc)

        codecs.register_error(name, euro)
    return name


class _WindowsGbkDecoder(codecs.IncrementalDecoder):
    def __init__(self, errors: str = "strict") -> None:
        super().__init__(errors)
        self._gb18030 = codecs.getincrementaldecoder("gb18030")(_with_euro(errors))

    def decode(self, data: bytes, final: bool = False) -> str:  # type: ignore[override]
        return self._gb18030.decode(data, final)

    def reset(self) -> None:
        self._gb18030.reset()


def _windows_gbk(name: str) -> codecs.CodecInfo | None:
    if name.replace("_", "-") != WINDOWS_GBK:
        return None
    gb18030 = codecs.lookup("gb18030")
    return codecs.CodecInfo(
        name=WINDOWS_GBK,
        encode=gb18030.encode,
        decode=lambda data, errors="strict": gb18030.decode(data, _with_euro(errors)),
        incrementalencoder=gb18030.incrementalencoder,
        incrementaldecoder=_WindowsGbkDecoder,
    )


codecs.register(_windows_gbk)


def _chinese(sample: bytes) -> bool:
    """Text in Windows' GBK: it decodes so, and what it holds beyond ASCII is nearly all Chinese."""
    try:
        text = codecs.getincrementaldecoder(WINDOWS_GBK)().decode(sample, final=False)
    except UnicodeDecodeError:
        return False
    wide = [char for char in text if char > "\x7f" and char != "€"]
    chinese = sum(
        1 for char in wide if "\u4e00" <= char <= "\u9fff" or "\u3000" <= char <= "\u303f" or char >= "\uff00"
    )
    return bool(wide) and chinese >= 0.8 * len(wide)


def _mostly_utf8(sample: bytes) -> bool:
    """More characters beyond ASCII that are valid UTF-8 than bytes that are not: a UTF-8 file with a few rows in
    another encoding. GBK text read as UTF-8 is nearly all invalid, the odd valid character an accident."""
    text = sample.decode("utf-8", errors="replace")
    invalid = text.count("\ufffd")
    valid = sum(1 for ch in text if ch > "\x7f") - invalid
    return valid > invalid
