"""Generated parts of the operator's guide (docs/OPERATOR.md): the refusal-code table comes from the same table the
center answers with, so the guide cannot drift from the code.

    python -m center.guide docs/OPERATOR.md     # rewrite the generated section in place
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from center.refusals import REASONS

START, END = "<!-- refusals:start -->", "<!-- refusals:end -->"


def refusal_table() -> str:
    lines = ["| code | HTTP | 中文 | English |", "|---|---|---|---|"]
    lines += [f"| `{code}` | {r.http_status} | {r.zh} | {r.en} |" for code, r in REASONS.items()]
    return "\n".join(lines)


def with_refusal_table(text: str) -> str:
    block = f"{START}\n{refusal_table()}\n{END}"
    return re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: block, text, flags=re.S)


def main(argv: list[str]) -> int:
    path = Path(argv[0])
    path.write_text(with_refusal_table(path.read_text(encoding="utf-8")), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
