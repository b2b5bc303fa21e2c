"""The apps depend one way: accounts ← groups ← chat ← moderation (docs/architecture.md).

An app imports from the apps to its left, never from one to its right. The one exception is the
audit recorder, ``moderation.audit``, which every app may import: it needs nothing of ours but
its own model and ``accounts``. Every import counts, wherever it is written: at the top of a
module, inside a function, under ``TYPE_CHECKING``, and ``import_module("...")`` with a
literal name. Read with ``ast``, so nothing is imported to check.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS = ("accounts", "groups", "chat", "moderation")  # each may import from those before it
AUDIT_RECORDER = "moderation.audit"
# What the audit recorder imports of moderation, which therefore comes with it: its model.
AUDIT_RECORDER_NEEDS = ("moderation.audit", "moderation.models")

# Imports that go the wrong way and stay for now, each with the reason:
# {("<file>", "<imported module>"): "why"}. Empty: every app keeps the rule today.
ALLOWED: dict[tuple[str, str], str] = {}


def modules(app: str, root: Path = ROOT) -> Iterator[Path]:
    yield from sorted((root / app).rglob("*.py"))


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, root: Path = ROOT) -> Iterator[tuple[int, str, str]]:
    """Every module ``path`` imports: (line, the module's dotted name, the statement).

    ``from a.b import c`` names ``a.b.c`` (``c`` may be a module or a name in ``a.b``; either
    way it lies in ``a.b``)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module_name(path, root).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, ast.unparse(node)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the file's own package, up level - 1
                above = package[: len(package) - (node.level - 1)]
                base = ".".join([*above, *([base] if base else [])])
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}", ast.unparse(node)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name | ast.Attribute)
            and (node.func.id if isinstance(node.func, ast.Name) else node.func.attr)
            in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            yield node.lineno, node.args[0].value, ast.unparse(node)


def within(name: str, module: str) -> bool:
    return name == module or name.startswith(module + ".")


def wrong_way(app: str, root: Path = ROOT) -> list[str]:
    """Each import in ``app`` of an app to its right, but the audit recorder, as
    ``file:line: statement``."""
    right = APPS[APPS.index(app) + 1 :]
    found = []
    for path in modules(app, root):
        relative = str(path.relative_to(root))
        for line, name, statement in sorted(imports(path, root)):
            if not any(within(name, other) for other in right):
                continue
            if within(name, AUDIT_RECORDER) or (relative, name) in ALLOWED:
                continue
            found.append(f"{relative}:{line}: {statement}")
    return found


def listed(found: list[str]) -> str:
    return "".join(f"\n  {entry}" for entry in found)


def test_accounts_imports_no_other_app_but_the_audit_recorder():
    found = wrong_way("accounts")
    assert not found, f"accounts is the base: it imports no other app:{listed(found)}"


def test_groups_imports_neither_chat_nor_moderation_but_the_audit_recorder():
    found = wrong_way("groups")
    assert not found, f"groups may import accounts only:{listed(found)}"


def test_chat_imports_nothing_of_moderation_but_the_audit_recorder():
    found = wrong_way("chat")
    assert not found, (
        "chat may import accounts and groups; moderation reaches chat through its registries "
        f"(chat.checks) and by calling chat's services:{listed(found)}"
    )


def test_the_audit_recorder_needs_nothing_of_ours_but_its_model_and_accounts():
    """Every app may import it, so what it imports comes with it into every app."""
    found = []
    for module in AUDIT_RECORDER_NEEDS:
        path = ROOT / (module.replace(".", "/") + ".py")
        for line, name, statement in imports(path):
            ours = any(within(name, app) for app in APPS)
            needed = any(within(name, module) for module in AUDIT_RECORDER_NEEDS)
            if ours and not within(name, "accounts") and not needed:
                found.append(f"{path.relative_to(ROOT)}:{line}: {statement}")
    assert not found, f"the audit recorder must stay a leaf:{listed(found)}"


def test_the_check_sees_imports_at_every_depth_and_every_app(tmp_path):
    source = (
        "from __future__ import annotations\n"
        "from typing import TYPE_CHECKING\n"
        "from importlib import import_module\n"
        "import chat.models\n"
        "from moderation import audit, services\n"
        "from . import thing\n"
        "if TYPE_CHECKING:\n"
        "    from groups.models import TherapyGroup\n"
        "def later():\n"
        "    from moderation.audit import audit_record\n"
        "    return import_module('moderation.crisis')\n"
    )
    (tmp_path / "accounts").mkdir()
    path = tmp_path / "accounts" / "probe.py"
    path.write_text(source)
    names = {name for _, name, _ in imports(path, tmp_path)}
    found = wrong_way("accounts", tmp_path)
    assert {
        "chat.models",
        "moderation.audit",
        "moderation.services",
        "accounts.thing",
        "groups.models.TherapyGroup",
        "moderation.audit.audit_record",
        "moderation.crisis",
    } <= names
    assert [entry.split(": ", 1)[1] for entry in found] == [
        "import chat.models",
        "from moderation import audit, services",  # services, not the audit recorder
        "from groups.models import TherapyGroup",
        "import_module('moderation.crisis')",
    ]


def test_every_allowed_import_is_still_there():
    """An exception that is no longer needed goes from the list."""
    present = {
        (str(path.relative_to(ROOT)), name)
        for app in APPS
        for path in modules(app)
        for _, name, _ in imports(path)
    }
    assert set(ALLOWED) <= present
