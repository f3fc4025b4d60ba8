"""A function built in a notebook and shipped in xattn is the same code in both places.

Both sides are parsed and compared as syntax trees, so formatting and comments
may differ but any change of code does not. Docstrings are left out of the
comparison: a notebook explains in its prose what the package's docstring says.
A deliberately simplified teaching version must carry a different name.

What a chapter writes is the mathematics; the package attaches its input checks
with ``@checked(...)`` (``xattn.checks``), on a function or on a method of a
class. The comparison leaves those decorators out of the package's side, and
only those: the chapter's definition must equal the undecorated core, line for
line, and any other decorator (``@torch.no_grad()``, ``@staticmethod``) must
stand on both sides. A test below proves that every checked function still runs
its checks, so leaving the decorator out of the comparison hides nothing.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import pkgutil
import re
import textwrap
from pathlib import Path

import pytest

import xattn

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "chapters").glob("*.ipynb"))

# What each chapter builds in the open and the package ships. The drift test also
# checks every other same-named pair it finds; this list makes sure the chapters
# keep building what they promise.
BUILT_IN = {
    "01_two_sequences": {"padding_mask"},
    "02_scores": {"attention_scores"},
    "03_weights": {"mask_bias", "masked_softmax"},
    "04_aggregation": {"aggregate", "attention"},
    "05_projections": {"CrossAttention"},
    "06_many_heads": {"split_heads", "merge_heads"},
    "07_encoder_decoder": {"sinusoidal_positions", "FeedForward"},
    "08_training": {"field_alignment"},
    "10_long_inputs": {
        "block_scores",
        "online_forward",
        "online_backward",
        "OnlineAttention",
        "online_attention",
    },
    "11_approximate": {
        "draw_features",
        "positive_features",
        "kernel_attention",
        "topk_attention",
        "local_mask",
        "local_attention",
    },
    "12_budget": {
        "ReversibleEncoderBlock",
        "ReversibleDecoderBlock",
        "ReversibleFunction",
        "ReversibleStack",
        "halting_probabilities",
        "halting_layers",
        "geometric_prior",
        "ponder_loss",
        "AdaptiveDecoder",
        "block_backward",
    },
    "13_compression": {
        "quantize_per_channel",
        "dequantize_per_channel",
        "int8_matmul",
        "Int8Linear",
        "head_mask_attend",
        "head_importance",
        "slice_linear",
        "PrunedAttention",
    },
    "14_captioning": {
        "patchify",
        "positions_2d",
        "doubly_stochastic_penalty",
        "ngram_counts",
        "bleu",
        "patch_centres",
        "grounding_accuracy",
        "hungarian_step",
        "hungarian",
        "box_area",
        "box_iou",
    },
    "15_listening": {
        "hz_to_mel",
        "mel_to_hz",
        "mel_filterbank",
        "log_mel",
        "stack_frames",
        "edit_distance",
        "guided_attention_weights",
        "monotonic_alignment",
        "monotonic_stops",
    },
    "16_perceiver": {
        "fourier_features",
        "grid_positions",
        "image_inputs",
        "LatentCrossBlock",
        "perceiver_flops",
    },
    "17_reading": {"rollout", "trapezoid", "js_divergence"},
}


def _is_checked(decorator: ast.expr) -> bool:
    """``@checked(...)`` or ``@xattn.checks.checked(...)``."""
    func = decorator.func if isinstance(decorator, ast.Call) else decorator
    return (isinstance(func, ast.Name) and func.id == "checked") or (
        isinstance(func, ast.Attribute) and func.attr == "checked"
    )


def strip_checks(node: ast.AST) -> ast.AST:
    """The package's definition without its ``@checked`` decorators: the core."""
    for n in ast.walk(node):
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            n.decorator_list = [d for d in n.decorator_list if not _is_checked(d)]
    return node


def _strip_docstring(node: ast.AST) -> ast.AST:
    for n in ast.walk(node):
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = n.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(getattr(body[0], "value", None), ast.Constant)
            ):
                if isinstance(body[0].value.value, str):
                    n.body = body[1:] or [ast.Pass()]
    return node


def normalize(node: ast.AST) -> str:
    """A dump of the tree without docstrings or positions: equal dumps, equal code."""
    return ast.dump(_strip_docstring(node), include_attributes=False)


def package_definitions() -> dict[str, tuple[str, ast.AST]]:
    """Every function and class in ``xattn.__all__``, as defined in its module."""
    found: dict[str, tuple[str, ast.AST]] = {}
    for info in pkgutil.walk_packages(xattn.__path__, "xattn."):
        module = importlib.import_module(info.name)
        tree = ast.parse(inspect.getsource(module))
        for node in tree.body:
            if (
                isinstance(node, (ast.FunctionDef, ast.ClassDef))
                and node.name in xattn.__all__
            ):
                found[node.name] = (info.name, strip_checks(node))
    return found


def notebook_definitions(path: Path) -> dict[str, ast.AST]:
    """Top-level functions and classes in a notebook's code cells (the last wins)."""
    found: dict[str, ast.AST] = {}
    for cell in json.loads(path.read_text())["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        try:
            tree = ast.parse(source)
        except SyntaxError:
            # IPython magics and shell escapes (`%timeit`, `!ls`) start a line and are
            # not Python.
            lines = [
                line
                for line in source.splitlines()
                if not re.match(r"\s*(%|!(?!=))", line)
            ]
            tree = ast.parse(textwrap.dedent("\n".join(lines)))
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                found[node.name] = node
    return found


PACKAGE = package_definitions()
PAIRS = [
    (nb.stem, name)
    for nb in NOTEBOOKS
    for name in notebook_definitions(nb)
    if name in PACKAGE
]


def test_chapters_build_what_they_promise():
    present = {(stem, name) for stem, name in PAIRS}
    for stem, names in BUILT_IN.items():
        for name in names:
            assert (stem, name) in present, (
                f"{stem} should define {name} in the open (and xattn ship it)"
            )


@pytest.mark.parametrize("stem, name", PAIRS, ids=[f"{s}:{n}" for s, n in PAIRS])
def test_notebook_definition_is_the_package_code(stem, name):
    nb_node = notebook_definitions(ROOT / "chapters" / f"{stem}.ipynb")[name]
    module, pkg_node = PACKAGE[name]
    if normalize(nb_node) != normalize(pkg_node):
        import difflib

        diff = difflib.unified_diff(
            ast.unparse(_strip_docstring(pkg_node)).splitlines(),
            ast.unparse(_strip_docstring(nb_node)).splitlines(),
            f"{module}.{name} (core)",
            f"chapters/{stem}.ipynb",
            lineterm="",
        )
        pytest.fail(
            f"{name} in chapters/{stem}.ipynb differs from {module}.{name}; "
            "change both together, or rename the notebook's teaching version:\n"
            + "\n".join(diff)
        )


class _OneTokenChange(ast.NodeTransformer):
    """Changes the n-th name, number or operator of a tree, and nothing else."""

    def __init__(self, target: int):
        self.target, self.seen = target, -1

    def _hit(self) -> bool:
        self.seen += 1
        return self.seen == self.target

    def visit_Name(self, node):
        return (
            ast.copy_location(ast.Name(id=node.id + "_", ctx=node.ctx), node)
            if self._hit()
            else node
        )

    def visit_Constant(self, node):
        if (
            isinstance(node.value, (int, float))
            and not isinstance(node.value, bool)
            and self._hit()
        ):
            return ast.copy_location(ast.Constant(value=node.value + 1), node)
        return node

    def visit_Compare(self, node):
        self.generic_visit(node)
        if self._hit():
            swap = {
                ast.Lt: ast.LtE,
                ast.LtE: ast.Lt,
                ast.Gt: ast.GtE,
                ast.GtE: ast.Gt,
                ast.Eq: ast.NotEq,
                ast.NotEq: ast.Eq,
            }
            node.ops = [swap.get(type(op), ast.Is)() for op in node.ops]
        return node


@pytest.mark.parametrize(
    "stem, name", PAIRS[:8], ids=[f"{s}:{n}" for s, n in PAIRS[:8]]
)
def test_a_one_token_change_on_either_side_is_caught(stem, name):
    import copy

    nb_node = notebook_definitions(ROOT / "chapters" / f"{stem}.ipynb")[name]
    pkg_node = PACKAGE[name][1]
    n_changed = 0
    for target in range(0, 40, 3):
        for side in (nb_node, pkg_node):
            mutated = _OneTokenChange(target).visit(copy.deepcopy(side))
            changed = ast.unparse(mutated) != ast.unparse(side)
            if changed:
                n_changed += 1
                other = pkg_node if side is nb_node else nb_node
                assert normalize(mutated) != normalize(other), (
                    f"mutation {target} of {name} went unnoticed"
                )
    assert n_changed >= 4, f"too few mutations of {name} were tried ({n_changed})"


def test_only_the_checks_decorator_is_left_out():
    core = ast.parse("def f(x):\n    return x + 1").body[0]
    checked = ast.parse("@checked(_check_f)\ndef f(x):\n    return x + 1").body[0]
    other = ast.parse("@torch.no_grad()\ndef f(x):\n    return x + 1").body[0]
    assert normalize(strip_checks(checked)) == normalize(core)
    assert normalize(strip_checks(other)) != normalize(core)


def _checked_callables():
    """Every checked function and method the package ships, with where it lives."""
    for name in xattn.__all__:
        obj = getattr(xattn, name)
        if getattr(obj, "checks", None):
            yield name, obj
        if inspect.isclass(obj):
            for attr, member in vars(obj).items():
                if getattr(member, "checks", None):
                    yield f"{name}.{attr}", member


def test_checked_functions_keep_their_core_and_checks():
    found = dict(_checked_callables())
    assert "attention" in found and "aggregate" in found
    for name, fn in found.items():
        assert callable(fn.__wrapped__), name
        assert fn.checks and all(callable(c) for c in fn.checks), name
        if fn.__wrapped__.__doc__:
            assert "input-checks" in fn.__doc__, (
                f"{name}'s docstring should point to the input checks"
            )


def test_docstrings_alone_do_not_count():
    a = ast.parse('def f(x):\n    """One text."""\n    return x + 1').body[0]
    b = ast.parse('def f(x):\n    """Another text."""\n    return x + 1').body[0]
    c = ast.parse('def f(x):\n    """One text."""\n    return x + 2').body[0]
    assert normalize(a) == normalize(b)
    assert normalize(a) != normalize(c)
