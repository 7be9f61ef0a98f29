"""Checks of notebook 13: right answers pass, stubs and typical mistakes fail with a hint
that does not give the expected value away."""
import pytest
import torch
import torch.nn.functional as F

from cnnlib.checks.core import CheckFailed
from cnnlib.checks.explain import check_fgsm_l2, check_occlusion_count, check_targeted_fgsm


def _grad(model, x, target):
    xg = x.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(F.cross_entropy(model(xg), target), xg)
    return g


def right(model, x, target, epsilon):
    return (x - epsilon * _grad(model, x, target).sign()).clamp(0, 1)


def stub(model, x, target, epsilon):
    raise NotImplementedError()


@pytest.mark.parametrize("hidden", [False, True])
def test_targeted_fgsm_right_answer_passes(hidden, capsys):
    check_targeted_fgsm(right, hidden=hidden)
    assert "all checks passed" in capsys.readouterr().out


def test_targeted_fgsm_stub_and_nothing_fail():
    with pytest.raises(CheckFailed, match="not implemented"):
        check_targeted_fgsm(stub)
    with pytest.raises(CheckFailed, match="forget `return`"):
        check_targeted_fgsm(lambda *a: None)


def in_place(model, x, target, epsilon):
    g = _grad(model, x, target)
    x -= epsilon * g.sign()
    return x.clamp_(0, 1)


@pytest.mark.parametrize("wrong, hint", [
    (lambda m, x, t, e: (x + e * _grad(m, x, t).sign()).clamp(0, 1), "steps UP"),
    (lambda m, x, t, e: x - e * _grad(m, x, t).sign(), "outside \\[0, 1\\]"),
    (lambda m, x, t, e: (x - e * _grad(m, x, t)).clamp(0, 1), "its sign"),
    (lambda m, x, t, e: (x - 2 * e * _grad(m, x, t).sign()).clamp(0, 1), "more than epsilon"),
    (lambda m, x, t, e: (x - e * _grad(m, x, (t + 1) % 4).sign()).clamp(0, 1), "differs"),
    (lambda m, x, t, e: right(m, x, t, e)[:1], "shape"),
    (lambda m, x, t, e: right(m, x, t, e).numpy(), "tensor"),
    (in_place, "in place"),
])
def test_targeted_fgsm_typical_mistakes_get_a_hint(wrong, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_targeted_fgsm(wrong, hidden=True)


def test_occlusion_count():
    check_occlusion_count(64)
    for wrong, hint in [(..., "not answered"), ("64", "number"), (65, "clean"), (8, "one axis"),
                        (49, "one position short"), (81, "patch size"), (784, "patch size"), (50, "not the number")]:
        with pytest.raises(CheckFailed, match=hint) as err:
            check_occlusion_count(wrong)
        assert "64" not in str(err.value)          # the answer is not given away
        assert "/ 3 + 1" not in str(err.value)     # nor the formula that gives it


def test_fgsm_l2():
    check_fgsm_l2(2.8)
    check_fgsm_l2(0.1 * 28)
    for wrong, hint in [(..., "not answered"), (None, "not answered"), (0.1, "L-infinity"), (78.4, "L1"),
                        (7.84, "squared"), (1.0, "Euclidean"), (True, "number")]:
        with pytest.raises(CheckFailed, match=hint) as err:
            check_fgsm_l2(wrong)
        assert "2.8" not in str(err.value)


def _plus(model, x, target, epsilon):
    return (x + epsilon * _grad(model, x, target).sign()).clamp(0, 1)


def _unclamped(model, x, target, epsilon):
    return x - epsilon * _grad(model, x, target).sign()


# wrong answers and the right values that their feedback must not show (tests/test_checks_no_leak.py)
LEAK_CASES = [
    (check_targeted_fgsm, (_plus,), {}, []),
    (check_targeted_fgsm, (_unclamped,), {}, []),
    (check_occlusion_count, (65,), {}, ["64"]),
    (check_occlusion_count, (8,), {}, ["64"]),
    (check_occlusion_count, (100,), {}, ["64"]),
    (check_fgsm_l2, (0.1,), {}, ["2.8"]),
    (check_fgsm_l2, (78.4,), {}, ["2.8"]),
    (check_fgsm_l2, (7.84,), {}, ["2.8"]),
]
# answers of the compute exercises, never shown above them (tests/test_exercises_unanswered.py)
# ex2 (64 windows) is left out: 64 is also a channel count and a batch size above it
EXERCISE_ANSWERS = {"13_explaining_cnns.ipynb": {"ex3-answer": ["2.8"]}}
