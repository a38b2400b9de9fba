"""The guides list what the code does."""

from __future__ import annotations

from pathlib import Path

from center.guide import with_refusal_table

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_operator_guide_lists_every_refusal_code_as_the_center_answers_it() -> None:
    text = (DOCS / "OPERATOR.md").read_text(encoding="utf-8")
    assert with_refusal_table(text) == text, "run: python -m center.guide docs/OPERATOR.md"


def test_filling_rules_are_generated_from_the_validators_schema() -> None:
    from inbox.rules import filling_rules

    assert (DOCS / "FILLING_RULES.md").read_text(encoding="utf-8") == filling_rules(), (
        "run: python -m inbox.rules > docs/FILLING_RULES.md"
    )


def test_the_clerks_guide_shows_the_guide_pages_the_agent_carries() -> None:
    from agent.guide import with_guide

    text = (DOCS / "CLERK.md").read_text(encoding="utf-8")
    assert with_guide(text) == text, "run: python -m agent.guide docs/CLERK.md"
