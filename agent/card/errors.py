"""The project's card errors.

Everything below the card layer (pyscard, status words, sockets) is turned into one of these exceptions, so the
agent and the GUI handle a single family. Messages are short and written for the export clerk who has to act on
them; status words stay available as attributes for logs and tests.
"""

from __future__ import annotations

# Status words from ISO/IEC 7816-4 and NIST SP 800-73-4 that a PIV card gives us. The names are printed with the
# hex value so a support call can quote either.
SW_SUCCESS = 0x9000
SW_WRONG_LENGTH = 0x6700
SW_SECURITY_STATUS_NOT_SATISFIED = 0x6982
SW_AUTH_METHOD_BLOCKED = 0x6983
SW_CONDITIONS_NOT_SATISFIED = 0x6985
SW_LAST_COMMAND_OF_CHAIN_EXPECTED = 0x6883
SW_INCORRECT_DATA = 0x6A80
SW_FILE_NOT_FOUND = 0x6A82
SW_INCORRECT_P1P2 = 0x6A86
SW_REFERENCE_NOT_FOUND = 0x6A88
SW_INS_NOT_SUPPORTED = 0x6D00
SW_CLA_NOT_SUPPORTED = 0x6E00
SW_NO_PRECISE_DIAGNOSIS = 0x6F00

_SW_NAMES: dict[int, str] = {
    SW_SUCCESS: "success",
    SW_WRONG_LENGTH: "wrong length",
    SW_SECURITY_STATUS_NOT_SATISFIED: "security status not satisfied",
    SW_AUTH_METHOD_BLOCKED: "authentication method blocked",
    SW_CONDITIONS_NOT_SATISFIED: "conditions of use not satisfied",
    SW_LAST_COMMAND_OF_CHAIN_EXPECTED: "last command of the chain expected",
    SW_INCORRECT_DATA: "incorrect data",
    SW_FILE_NOT_FOUND: "data object or application not found",
    SW_INCORRECT_P1P2: "incorrect P1 or P2",
    SW_REFERENCE_NOT_FOUND: "referenced data not found",
    SW_INS_NOT_SUPPORTED: "instruction not supported",
    SW_CLA_NOT_SUPPORTED: "class not supported",
    SW_NO_PRECISE_DIAGNOSIS: "no precise diagnosis",
}


def sw_name(sw: int) -> str:
    """Human name of a status word, e.g. ``sw_name(0x6982) == "security status not satisfied"``."""
    if sw in _SW_NAMES:
        return _SW_NAMES[sw]
    if sw & 0xFFF0 == 0x63C0:
        return f"wrong PIN, {sw & 0x0F} tries left"
    if sw >> 8 == 0x61:
        return "more data available"
    return "unknown status"


class CardError(Exception):
    """Base of every card problem; ``str(error)`` is meant to be shown to the clerk."""


class ApduError(CardError):
    """The card answered a command with a status word other than 9000."""

    def __init__(self, sw: int, message: str | None = None) -> None:
        self.sw = sw
        super().__init__(message if message is not None else f"{sw:04X} {sw_name(sw)}")


class InvalidPinError(ApduError):
    """Wrong PIN (63 Cx). Never retried by this package: each retry burns one of the few tries."""

    def __init__(self, tries_left: int) -> None:
        self.tries_left = tries_left
        super().__init__(0x63C0 | tries_left, f"Wrong PIN: {tries_left} tries left before the card locks.")


class PinBlockedError(ApduError):
    """No tries left (69 83, or the last wrong try 63 C0); only an administrator can unblock the card."""

    def __init__(self, sw: int = SW_AUTH_METHOD_BLOCKED) -> None:
        super().__init__(sw, "The card's PIN is blocked. Ask the administrator to unblock the card.")


class ManagementKeyError(ApduError):
    """The card refused the card management key (9B). Never retried: some cards count wrong keys and lock for good."""

    def __init__(self, sw: int = SW_SECURITY_STATUS_NOT_SATISFIED, message: str | None = None) -> None:
        super().__init__(
            sw,
            message
            or "卡拒绝了管理密钥（未做任何更改，也不会自动重试）：请核对管理密钥"
            " / The card refused the management key (nothing was changed, nothing is retried): check the key.",
        )


class WrongPukError(ApduError):
    """Wrong PUK (63 Cx); like a PIN, never retried."""

    def __init__(self, tries_left: int) -> None:
        self.tries_left = tries_left
        super().__init__(
            0x63C0 | tries_left,
            f"PUK不正确，再错{tries_left}次PUK将被锁定 / Wrong PUK: {tries_left} tries left before the PUK blocks.",
        )


class PukBlockedError(ApduError):
    """No PUK tries left: the PIN can no longer be unblocked; the card must be reset and issued again."""

    def __init__(self, sw: int = SW_AUTH_METHOD_BLOCKED) -> None:
        super().__init__(
            sw,
            "PUK已锁定：这张卡需要重置并重新注册 / The PUK is blocked: the card must be reset and enrolled again.",
        )


class NoReaderError(CardError):
    """No PC/SC reader is connected (or the named one has gone)."""

    def __init__(self, message: str = "No card reader found. Plug in the card reader.") -> None:
        super().__init__(message)


class NoCardError(CardError):
    """A reader is there but holds no card."""

    def __init__(self, message: str = "No card in the reader. Insert the E-Port card.") -> None:
        super().__init__(message)


class CardRemovedError(CardError):
    """The card was removed (or reset) while we held a connection; the connection is dead for good."""

    def __init__(self, message: str = "The card was removed. Insert it again and retry.") -> None:
        super().__init__(message)


class PcscUnavailableError(CardError):
    """The smart-card service (pcscd) is not running or was restarted, so our context is dead."""

    def __init__(self, message: str = "The smart-card service is not running. Restart it or the computer.") -> None:
        super().__init__(message)
