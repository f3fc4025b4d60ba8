"""xattn.grading: the helpers the exercises' test cells are written with."""

import pytest
import torch
from torch import nn

import xattn
from xattn.grading import Forbidden, autograding, forbidden, no_module_calls, raises


def test_forbidden_blocks_the_call_and_restores_it():
    original = torch.logsumexp
    x = torch.randn(3, 4)
    with forbidden("torch.logsumexp", reason="use the max-shift"):
        with pytest.raises(Forbidden, match="torch.logsumexp: use the max-shift"):
            torch.logsumexp(x, dim=-1)
        torch.softmax(x, dim=-1)  # anything else still works
    assert torch.logsumexp is original
    torch.logsumexp(x, dim=-1)


def test_forbidden_restores_after_an_error_in_the_block():
    original = torch.Tensor.reshape
    with pytest.raises(ZeroDivisionError):
        with forbidden("torch.Tensor.reshape"):
            raise ZeroDivisionError
    assert torch.Tensor.reshape is original
    assert torch.zeros(6).reshape(2, 3).shape == (2, 3)


def test_forbidden_guards_a_property_and_puts_the_class_back():
    had_own = "T" in vars(torch.Tensor)
    x = torch.randn(2, 3)
    with forbidden("torch.Tensor.T"):
        with pytest.raises(Forbidden):
            _ = x.T
        assert x.transpose(0, 1).shape == (3, 2)
    assert ("T" in vars(torch.Tensor)) == had_own
    assert x.T.shape == (3, 2)


def test_forbidden_replaces_names_bound_in_a_namespace():
    namespace = {"combine": xattn.combine_masks, "other": xattn.causal_mask}
    with forbidden("xattn.combine_masks", namespace=namespace):
        with pytest.raises(Forbidden):
            namespace["combine"](None, None)
        assert namespace["other"] is xattn.causal_mask
    assert namespace["combine"] is xattn.combine_masks


def test_forbidden_when_forbids_only_the_matching_calls():
    with forbidden("torch.Tensor.reshape", when=lambda self, *a: self.dim() == 4):
        torch.zeros(2, 3).reshape(6)
        with pytest.raises(Forbidden):
            torch.zeros(1, 1, 2, 3).reshape(6)


def test_forbidden_undoes_what_it_did_when_a_target_cannot_be_patched():
    # int is a built-in type: its attributes cannot be replaced.
    original = torch.logsumexp
    with pytest.raises(TypeError):
        with forbidden("torch.logsumexp", "builtins.int.bit_length"):
            pass
    assert torch.logsumexp is original
    assert (5).bit_length() == 3


def test_forbidden_rejects_a_name_that_does_not_exist():
    with pytest.raises(ValueError, match="torch.not_a_function does not exist"):
        with forbidden("torch.not_a_function"):
            pass


def test_no_module_calls_covers_submodules_and_is_removed_afterwards():
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU())
    inner = model[0]
    x = torch.randn(2, 4)
    with pytest.raises(ValueError):
        with no_module_calls(model, reason="write the product"):
            with pytest.raises(Forbidden, match="may not call Linear: write the"):
                inner(x)
            with pytest.raises(Forbidden, match="Sequential"):
                model(x)
            x @ inner.weight.T  # the parameters themselves stay usable
            raise ValueError
    assert model(x).shape == (2, 4)


def test_raises_reports_only_the_named_exception():
    assert raises(ValueError, lambda: int("x"))
    assert not raises(ValueError, lambda: int("3"))
    with pytest.raises(ZeroDivisionError):
        raises(ValueError, lambda: 1 / 0)


def test_autograding_follows_nbgrader_execution(monkeypatch):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    assert not autograding()
    for value, expected in [("autograde", True), ("validate", True), ("", False)]:
        monkeypatch.setenv("NBGRADER_EXECUTION", value)
        assert autograding() is expected


def test_forbidden_reaches_every_name_of_the_function():
    import xattn
    import xattn.detection
    from xattn.grading import Forbidden, forbidden

    boxes = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
    alias = xattn.box_iou
    namespace = {"my_iou": xattn.box_iou}
    with forbidden("xattn.detection.box_iou", namespace=namespace):
        for call in (xattn.box_iou, xattn.detection.box_iou, namespace["my_iou"]):
            with pytest.raises(Forbidden):
                call(boxes, boxes)
    assert xattn.box_iou is alias and xattn.detection.box_iou is alias
    assert namespace["my_iou"] is alias
    assert float(xattn.box_iou(boxes, boxes)) == 1.0
