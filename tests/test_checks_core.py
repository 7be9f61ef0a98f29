"""cnnlib.checks.core and the checks of notebook 00: right answers pass, stubs and mistakes fail."""
import numpy as np
import pytest
import torch

from cnnlib.checks import CheckFailed, check_cases, expect_close, expect_equal, expect_shape, expect_true, passed
from cnnlib.checks.tour import check_batch_shape, check_flatten_batch


def test_expect_equal_messages():
    expect_equal(3, 3, "x")
    with pytest.raises(CheckFailed, match=r"output height is 13, which is not right: did you apply the stride"):
        expect_equal(13, 14, "output height", "did you apply the stride after padding?")
    expect_equal(np.arange(3), torch.arange(3), "a")
    with pytest.raises(CheckFailed, match=r"a has shape \(2,\), which is not the right shape"):
        expect_equal(np.arange(2), np.arange(3), "a")
    with pytest.raises(CheckFailed, match=r"right shape but 1 of its 3 entries are wrong"):
        expect_equal(np.array([0, 1, 5]), np.arange(3), "a")
    with pytest.raises(CheckFailed, match=r"3 dimensions .*; it should have 2"):
        expect_shape(torch.zeros(1, 2, 3), (2, 3), "t")
    assert issubclass(CheckFailed, AssertionError)


@pytest.mark.parametrize("call", [
    lambda: expect_equal(13, 14, "h"),
    lambda: expect_equal(np.array([1, 2, 3]), np.array([1, 2, 14]), "a"),
    lambda: expect_shape(torch.zeros(2, 13), (2, 14), "t"),
    lambda: expect_close(np.array([1.0, 2.0]), np.array([1.0, 14.0]), "v"),
    lambda: check_cases(lambda n: n, [((3,), {}, 14)], "f"),
])
def test_generic_checks_never_print_the_expected_value(call, capsys):
    with pytest.raises(CheckFailed) as err:
        call()
    assert "14" not in str(err.value) + capsys.readouterr().out


def test_expect_shape_and_close():
    expect_shape(torch.zeros(2, 3), (2, 3), "t")
    with pytest.raises(CheckFailed, match=r"t has shape \(2, 3\): its size along axis 0 \(2\) is too small"):
        expect_shape(torch.zeros(2, 3), (3, 2), "t")
    with pytest.raises(CheckFailed, match="should be an array"):
        expect_shape([1, 2], (2,), "t")
    expect_close(torch.ones(3), np.ones(3) + 1e-7, "v")
    with pytest.raises(CheckFailed, match=r"differs from the reference in 1 of 3 entries: largest error at index \(1,\) \(yours 1.5\)"):
        expect_close(np.array([1.0, 1.5, 1.0]), np.ones(3), "v")
    with pytest.raises(CheckFailed, match="has shape"):
        expect_close(np.ones(2), np.ones(3), "v")
    with pytest.raises(CheckFailed, match="boom"):
        expect_true(False, "boom")


def test_check_cases_diagnoses_and_reports_stubs():
    def right(n, s=1):
        return n // s

    def wrong(n, s=1):
        return n

    def stub(n, s=1):
        raise NotImplementedError()

    cases = [((4,), {"s": 2}, 2), ((9,), {}, 9)]
    assert check_cases(right, cases, "f") == 2
    diag = lambda args, kwargs, got, exp: "the stride seems to be ignored" if got == args[0] else None  # noqa: E731
    with pytest.raises(CheckFailed, match=r"f\(4, s=2\) returned 4, which is not right: the stride seems to be ignored"):
        check_cases(wrong, cases, "f", diag)
    with pytest.raises(CheckFailed, match="not implemented yet"):
        check_cases(stub, cases, "f")


def test_passed_prints_one_line(capsys):
    passed("thing")
    assert capsys.readouterr().out == "\u2714 thing: all checks passed\n"


def test_tour_checks():
    check_batch_shape((32, 1, 28, 28))
    with pytest.raises(CheckFailed, match="not implemented"):
        check_batch_shape(...)
    with pytest.raises(CheckFailed, match="channel axis"):
        check_batch_shape((32, 28, 28))
    with pytest.raises(CheckFailed, match=r"\(N, C, H, W\)"):
        check_batch_shape((32, 28, 28, 1))
    check_flatten_batch(lambda x: x.reshape(len(x), -1), hidden=True)
    with pytest.raises(CheckFailed, match="not implemented"):
        check_flatten_batch(lambda x: (_ for _ in ()).throw(NotImplementedError()))
    with pytest.raises(CheckFailed, match="keep the batch axis"):
        check_flatten_batch(lambda x: x.reshape(-1))
    with pytest.raises(CheckFailed, match="row-major"):
        check_flatten_batch(lambda x: x.permute(0, 3, 2, 1).reshape(len(x), -1))
