"""The outbox's fixed folders (README.md, Workspace): what the clerk opens to read answers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class OutboxFolders:
    root: Path

    @property
    def results(self) -> Path:
        return self.root / "results"

    @property
    def receipts(self) -> Path:
        return self.root / "receipts"

    @property
    def errors(self) -> Path:
        return self.root / "errors"

    @property
    def updates(self) -> Path:
        return self.root / "updates"

    @property
    def queries(self) -> Path:
        return self.root / "queries"

    @property
    def forms_csv(self) -> Path:
        return self.root / "forms.csv"

    def all(self) -> list[Path]:
        return [self.root, self.results, self.receipts, self.errors, self.updates, self.queries]
