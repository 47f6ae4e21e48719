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
# Operations the previous release may not survive (``alter_column`` only when it narrows: see
# ``_narrows``).
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


def _string_length(node: ast.expr | None) -> int | None:
    """``n`` of a ``sa.String(length=n)`` / ``sa.String(n)`` expression, else None."""
    if not (isinstance(node, ast.Call) and _name(node) == "String"):
        return None
    value = node.args[0] if node.args else _keyword(node, "length")
    return value.value if isinstance(value, ast.Constant) and isinstance(value.value, int) else None


def _narrows(call: ast.Call) -> bool:
    """An ``alter_column`` the previous release may not survive: a rename, NOT NULL, or a type
    change other than a longer string. Making a column nullable or a string longer expands."""
    if _keyword(call, "new_column_name") is not None:
        return True
    nullable = _keyword(call, "nullable")
    if isinstance(nullable, ast.Constant) and nullable.value is False:
        return True
    new_type = _keyword(call, "type_")
    if new_type is None:
        return False
    old, new = _string_length(_keyword(call, "existing_type")), _string_length(new_type)
    return old is None or new is None or new < old


def _contracting(function: ast.FunctionDef) -> set[str]:
    return {
        _name(c)
        for c in _calls(function)
        if _name(c) in CONTRACTING and (_name(c) != "alter_column" or _narrows(c))
    }


MIGRATIONS = sorted(VERSIONS.glob("*.py"))


@pytest.mark.parametrize("path", MIGRATIONS, ids=[p.stem for p in MIGRATIONS])
def test_migrations_only_expand_unless_they_say_they_contract(path: Path) -> None:
    tree = ast.parse(path.read_text())
    upgrade = _upgrade(tree)
    contracting = sorted(_contracting(upgrade))
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
    assert _contracting(_upgrade(tree)) == {"drop_column"}
    assert not _declares_contract(tree)
    assert _declares_contract(ast.parse('CONTRACT = "0.3 stopped reading jobs.old"\n'))


def test_widening_and_relaxing_a_column_expand_narrowing_contracts() -> None:
    def altered(arguments: str) -> set[str]:
        source = f"def upgrade():\n    op.alter_column('t', 'c', {arguments})\n"
        return _contracting(_upgrade(ast.parse(source)))

    assert altered("existing_type=sa.String(length=40), nullable=True") == set()
    assert altered("existing_type=sa.String(length=16), type_=sa.String(length=32)") == set()
    assert altered("existing_type=sa.String(length=32), type_=sa.String(length=16)") == {
        "alter_column"
    }
    assert altered("nullable=False") == {"alter_column"}
    assert altered("new_column_name='d'") == {"alter_column"}
    assert altered("type_=sa.Integer()") == {"alter_column"}
