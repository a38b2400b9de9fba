"""The templates a clerk starts from are accepted as they are (issue 4)."""

from __future__ import annotations

from pathlib import Path

import pytest
import xmlschema

from agent.intake import Intake
from agent.store import Store
from agent.workspace import Workspace
from inbox.schema import KINDS


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    workspace = Workspace(tmp_path)
    workspace.init()
    return workspace


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("suffix", ["csv", "xml"])
def test_each_template_becomes_a_batch_when_dropped_as_it_is(workspace: Workspace, kind: str, suffix: str) -> None:
    template = workspace.root / "templates" / f"{kind}.{suffix}"
    dropped = workspace.inbox / kind / template.name
    dropped.write_bytes(template.read_bytes())
    intake = Intake(workspace, Store(workspace.store_file), lambda kind, path: None)
    batch_id = intake.take(dropped)
    errors = [p.read_text(encoding="utf-8-sig") for p in workspace.errors.iterdir()]
    assert batch_id is not None, errors
    assert len(intake.store.records(batch_id)) == (2 if suffix == "xml" and KINDS[kind].ranges else 1)


@pytest.mark.parametrize("kind", list(KINDS))
def test_each_xml_sample_follows_its_published_xsd(workspace: Workspace, kind: str) -> None:
    schema = xmlschema.XMLSchema(str(workspace.root / "templates" / f"{kind}.xsd"))
    assert schema.is_valid(str(workspace.root / "templates" / f"{kind}.xml"))
    header = (workspace.root / "templates" / f"{kind}.csv").read_text(encoding="utf-8-sig").splitlines()[0]
    assert header.split(",") == [f"{c.zh} {c.name}" for c in KINDS[kind].columns]
