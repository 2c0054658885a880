"""docs/config.md lists every built-in agent kind with its settings, as the registry has them."""

from __future__ import annotations

from pathlib import Path

from agenthost.config.kinds import agent_kinds
from agenthost.config.kinds._reference import built_in_kinds, reference_table, section_of

DOC = Path(__file__).resolve().parents[3] / "docs" / "config.md"


def test_the_kinds_table_of_config_md_is_the_registrys() -> None:
    assert section_of(DOC.read_text()) == reference_table(), (
        "docs/config.md is stale: run python -m agenthost.config.kinds._reference docs/config.md"
    )


def test_the_table_has_every_built_in_kind_and_setting() -> None:
    table = reference_table()
    for spec in built_in_kinds():
        assert spec.name in agent_kinds()
        row = next(line for line in table.splitlines() if line.startswith(f"| `{spec.name}` |"))
        for field in spec.fields():
            if field not in ("kind", "description", "pricing", "budgets"):  # every kind takes them
                assert f"`{field}`" in row, (spec.name, field)
