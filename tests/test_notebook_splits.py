"""No notebook reads the test set outside its final evaluation.

Statically, cell by cell in order: every name bound from a test split (``load_dataset(...,
"test")``, ``split="test"``, ``load_cifar10("test")``, a torchvision dataset with
``train=False``) is tainted, and so is every name assigned from an expression that reads a
tainted name (``test_loader = TensorLoader(test_x, test_y)``, ``acc = evaluate(m, test_loader)``)
or defined by a function that reads one. A code cell that reads the test split must carry
the tag ``test-set`` (the notebook's final evaluation of a model), and a ``test-set`` cell
must not train (no ``fit(``, ``.backward(``, ``.step(``): curves and recipe choices use the
validation split (:func:`cnnlib.data.train_val_split`).
"""
from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"))
TRAINING_CALLS = {"fit", "backward", "step"}


def _is_test_split_call(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    fn = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
    kwargs = {k.arg: k.value for k in node.keywords}
    if fn in ("load_dataset", "load_cifar10"):
        pos = 1 if fn == "load_dataset" else 0
        split = node.args[pos] if len(node.args) > pos else kwargs.get("split")
        return isinstance(split, ast.Constant) and split.value == "test"
    train = kwargs.get("train")
    return isinstance(train, ast.Constant) and train.value is False


def _loads(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _targets(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}


def _reads_test(node: ast.AST, tainted: set[str]) -> bool:
    return any(_is_test_split_call(n) for n in ast.walk(node)) or bool(_loads(node) & tainted)


def _code(cell) -> str:
    # IPython magics and shell lines are not Python: drop them before parsing
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in cell.source.splitlines())


def _bind(targets: list[ast.AST], tainted: set[str], taint: bool) -> None:
    for t in targets:
        for name in _targets(t):
            (tainted.add if taint else tainted.discard)(name)


def _visit(stmts: list[ast.stmt], tainted: set[str]) -> None:
    """Walk statements in execution order, tainting what is bound from the test split and
    untainting a name re-bound from something else (``m = make_model()`` after a loop)."""
    for stmt in stmts:
        if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            if (len(targets) == 1 and isinstance(targets[0], ast.Tuple) and isinstance(stmt.value, ast.Tuple)
                    and len(targets[0].elts) == len(stmt.value.elts)):  # a, b = f(train), g(test): one by one
                for t, v in zip(targets[0].elts, stmt.value.elts):
                    _bind([t], tainted, _reads_test(v, tainted))
                continue
            reads = stmt.value is not None and _reads_test(stmt.value, tainted)
            _bind(targets, tainted, reads or (isinstance(stmt, ast.AugAssign) and bool(_targets(stmt.target) & tainted)))
        elif isinstance(stmt, (ast.For, ast.AsyncFor)):
            loop_vars = _targets(stmt.target)
            if _reads_test(stmt.iter, tainted):
                tainted |= loop_vars
            _visit(stmt.body + stmt.orelse, tainted)
            tainted -= loop_vars  # loop variables are the loop's business
        elif isinstance(stmt, (ast.With, ast.AsyncWith)):
            for item in stmt.items:
                if item.optional_vars is not None:
                    _bind([item.optional_vars], tainted, _reads_test(item.context_expr, tainted))
            _visit(stmt.body, tainted)
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            (tainted.add if _reads_test(stmt, tainted) else tainted.discard)(stmt.name)
        elif isinstance(stmt, (ast.If, ast.While)):
            _visit(stmt.body + stmt.orelse, tainted)
        elif isinstance(stmt, ast.Try):
            _visit(stmt.body + [s for h in stmt.handlers for s in h.body] + stmt.orelse + stmt.finalbody, tainted)
        for n in ast.walk(stmt):  # walrus assignments anywhere
            if isinstance(n, ast.NamedExpr):
                _bind([n.target], tainted, _reads_test(n.value, tainted))


def _cell_findings(tree: ast.Module, tainted: set[str]) -> bool:
    """True if the cell reads the test split; updates ``tainted`` with its bindings."""
    before = set(tainted)
    reads = _reads_test(tree, before)
    _visit(tree.body, tainted)
    return reads or _reads_test(tree, tainted)


def _trains(tree: ast.Module) -> list[str]:
    found = []
    for n in ast.walk(tree):
        if isinstance(n, ast.Call):
            name = n.func.attr if isinstance(n.func, ast.Attribute) else getattr(n.func, "id", "")
            if name in TRAINING_CALLS:
                found.append(name)
    return found


def split_violations(nb) -> list[str]:
    tainted: set[str] = set()
    problems = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(_code(cell))
        except SyntaxError:
            continue  # nbgrader stubs with `...` etc. parse; anything else is the notebook's business
        tags = set(cell.get("metadata", {}).get("tags", []))
        reads = _cell_findings(tree, tainted)
        if reads and "test-set" not in tags:
            names = sorted(_loads(tree) & tainted) or ["a test-split load"]
            problems.append(f"cell {i} reads the test split ({', '.join(names)}) but is not tagged 'test-set'")
        if "test-set" in tags and _trains(tree):
            problems.append(f"cell {i} is tagged 'test-set' but trains ({', '.join(sorted(set(_trains(tree))))})")
    return problems


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_test_split_only_in_final_evaluation_cells(path):
    nb = nbformat.read(path, as_version=4)
    assert split_violations(nb) == []


def _nb(*cells):
    nb = nbformat.v4.new_notebook()
    for source, tags in cells:
        c = nbformat.v4.new_code_cell(source)
        c.metadata["tags"] = tags
        nb.cells.append(c)
    return nb


def test_the_rule_finds_what_it_should():
    ok = _nb(('tr_x, tr_y = load_dataset("mnist", "train")', []),
             ('h = fit(model, TensorLoader(tr_x, tr_y), 1, opt)', []),
             ('te_x, te_y = load_dataset("mnist", split="test")\nloader = TensorLoader(te_x, te_y)', ["test-set"]),
             ('acc = evaluate(model, loader)[1]', ["test-set"]))
    assert split_violations(ok) == []
    leak = _nb(('te_x, te_y = load_dataset("mnist", "test")', ["test-set"]),
               ('loader = TensorLoader(te_x[:2000], te_y[:2000])', ["test-set"]),
               ('h = fit(model, train_loader, 3, opt, val_loader=loader)', []),
               ('def score(m):\n    return evaluate(m, loader)', ["test-set"]),
               ('best = max(lrs, key=lambda lr: score(make(lr)))', []),
               ('fit(model, train_loader, 1, opt)\nprint(evaluate(model, loader))', ["test-set"]),
               ('ds = FashionMNIST(root, train=False)', []))
    found = split_violations(leak)
    assert [p.split(" ")[1] for p in found] == ["2", "4", "5", "6"]
    assert "trains (fit)" in found[2] and "not tagged" in found[0]
