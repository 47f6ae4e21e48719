"""Zero-downtime upgrades: a migration only expands the schema (new tables, new columns that
are nullable or have a server default, new indexes), so the previous release keeps running
against it while nodes are replaced one by one. Contracting (dropping or narrowing what the
previous release still uses) waits for a later release, in a migration that says so with a
module-level ``CONTRACT = "..."`` naming the release whose code stopped using it
(docs/operations.md, "Upgrades").
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

VERSIONS = Path(__file__).resolve().parents[1] / "src" / "tabellion" / "migrations" / "versions"
# Operations the previous release may not survive.
CONTRACTING = {"drop_column", "drop_table", "alter_column", "rename_table", "drop_constraint"}


def _upgrade(tree: ast.Module) -> ast.FunctionDef:
    return next(
        node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "upgrade"
    )


def _declares_contract(tree: ast.Module) -> bool:
    return any(
        isinstance(node, ast.Assign | ast.AnnAssign)
        and any(
            isinstance(t, ast.Name) and t.id == "CONTRACT"
            for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
        )
        for node in tree.body
    )


def _calls(function: ast.FunctionDef) -> list[ast.Call]:
    return [node for node in ast.walk(function) if isinstance(node, ast.Call)]


def _name(call: ast.Call) -> str:
    return call.func.attr if isinstance(call.func, ast.Attribute) else ""


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


MIGRATIONS = sorted(VERSIONS.glob("*.py"))


@pytest.mark.parametrize("path", MIGRATIONS, ids=[p.stem for p in MIGRATIONS])
def test_migrations_only_expand_unless_they_say_they_contract(path: Path) -> None:
    tree = ast.parse(path.read_text())
    upgrade = _upgrade(tree)
    contracting = sorted({_name(c) for c in _calls(upgrade)} & CONTRACTING)
    if contracting and not _declares_contract(tree):
        pytest.fail(f"{path.name} contracts ({', '.join(contracting)}) without CONTRACT = ...")
    for call in _calls(upgrade):
        if _name(call) != "add_column":
            continue
        column = call.args[-1]
        assert isinstance(column, ast.Call)
        nullable = _keyword(column, "nullable")
        not_null = isinstance(nullable, ast.Constant) and nullable.value is False
        if not_null:
            # The previous release inserts rows without this column: the database fills it.
            assert _keyword(column, "server_default") is not None, (
                f"{path.name}: a NOT NULL column added without a server default"
            )


def test_the_check_sees_a_contracting_migration() -> None:
    source = (
        "def upgrade():\n"
        "    with op.batch_alter_table('jobs') as b:\n"
        "        b.drop_column('old')\n"
        "        b.add_column(sa.Column('x', sa.Integer(), nullable=False))\n"
    )
    tree = ast.parse(source)
    assert {_name(c) for c in _calls(_upgrade(tree))} & CONTRACTING == {"drop_column"}
    assert not _declares_contract(tree)
    assert _declares_contract(ast.parse('CONTRACT = "0.3 stopped reading jobs.old"\n'))
