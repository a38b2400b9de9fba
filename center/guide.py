"""Generated parts of the operator's guide (docs/OPERATOR.md): the refusal-code table and the success messages come
from the same tables the center answers with, so the guide cannot drift from the code.

    python -m center.guide docs/OPERATOR.md     # rewrite the generated sections in place
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from center.refusals import REASONS, SUCCESSES

START, END = "<!-- refusals:start -->", "<!-- refusals:end -->"
SUCCESS_START, SUCCESS_END = "<!-- successes:start -->", "<!-- successes:end -->"


def refusal_table() -> str:
    lines = ["| code | HTTP | 中文 | English |", "|---|---|---|---|"]
    lines += [f"| `{code}` | {r.http_status} | {r.zh} | {r.en} |" for code, r in REASONS.items()]
    return "\n".join(lines)


def success_table() -> str:
    lines = ["| batch kind | 中文 | English |", "|---|---|---|"]
    lines += [f"| `{kind}` | {r.zh} | {r.en} |" for kind, r in SUCCESSES.items()]
    return "\n".join(lines)


def _replace(text: str, start: str, end: str, body: str) -> str:
    block = f"{start}\n{body}\n{end}"
    return re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: block, text, flags=re.S)


def with_refusal_table(text: str) -> str:
    """``text`` with both generated sections brought up to date."""
    text = _replace(text, START, END, refusal_table())
    return _replace(text, SUCCESS_START, SUCCESS_END, success_table())


def main(argv: list[str]) -> int:
    path = Path(argv[0])
    path.write_text(with_refusal_table(path.read_text(encoding="utf-8")), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
