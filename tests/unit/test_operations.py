"""Error signatures for triage (failures of one cause share one, of two causes do not), and checks of input."""

from __future__ import annotations

import pytest

from provenance_graph.errors import QuestionError
from provenance_graph.store.operations import error_line, error_signature, suspects_parameters

SAME_CAUSE = [
    (
        "BadCalibrationError: bias (instrument=DemoCam detector=1) has 16 of 4096 pixels non-finite",
        "BadCalibrationError: bias (instrument=DemoCam detector=7) has 3 of 4096 pixels non-finite",
    ),
    (
        "InjectedFailure: isr: failure injected at {instrument: 'HSC', visit: 903334, detector: 42}",
        "InjectedFailure: isr: failure injected at {instrument: 'HSC', visit: 903336, detector: 9}",
    ),
    (
        "FileNotFoundError: [Errno 2] No such file or directory: '/data/run1/raw/raw_1_2.npy'",
        "FileNotFoundError: [Errno 2] No such file or directory: '/data/run2/raw/raw_3_4.npy'",
    ),
    (
        "RuntimeError: quantum 3f2a9c1e-1111-2222-3333-444455556666 lost its input 0x7f3a2b1c9d",
        "RuntimeError: quantum 00000000-aaaa-bbbb-cccc-444455556666 lost its input 0x1234",
    ),
    ('KeyError: {"visit": 2, "detector": 3}', 'KeyError: {"visit": 5, "detector": 0}'),
    ("OSError: cannot open file:///repo/a/b.npy", "OSError: cannot open ./c.npy"),
]

OTHER_CAUSE = [
    ("ValueError: bias has 3 non-finite pixels", "ValueError: flat has 3 non-finite pixels"),
    ("ValueError: bias has 3 non-finite pixels", "TypeError: bias has 3 non-finite pixels"),
    ("KeyError: {'visit': 2}", "KeyError: {'detector': 2}"),
    ("ValueError: read and/or write failed", "ValueError: read and write failed"),
]


@pytest.mark.parametrize(("a", "b"), SAME_CAUSE)
def test_errors_of_one_cause_share_a_signature(a: str, b: str) -> None:
    assert error_signature(a) == error_signature(b)
    assert not any(ch.isdigit() for ch in error_signature(a).replace("Errno", ""))


@pytest.mark.parametrize(("a", "b"), OTHER_CAUSE)
def test_errors_of_other_causes_do_not(a: str, b: str) -> None:
    assert error_signature(a) != error_signature(b)


def test_the_error_line_is_the_last_line_of_the_traceback() -> None:
    assert (
        error_line("ValueError: x\nTraceback (most recent call last):\n  ...\nValueError: x\n\n")
        == "ValueError: x"
    )
    assert error_line(None) == "(no error recorded)"


def test_suspects_need_bad_outputs_none_of_them_good() -> None:
    with pytest.raises(QuestionError, match="no bad outputs given"):
        suspects_parameters([], ["a"], 10)
    with pytest.raises(QuestionError, match="both bad and good"):
        suspects_parameters(["a", "b"], ["b"], 10)
    with pytest.raises(QuestionError, match="1 or more"):
        suspects_parameters(["a"], [], 0)
    with pytest.raises(QuestionError, match="sample must be 1 or more"):
        suspects_parameters(["a"], [], 10, 0)
    assert suspects_parameters(["b", "a", "a"], [], 3) == {"bad": ["a", "b"], "good": [], "limit": 3}
    # A sample: the first of each side by id.
    assert suspects_parameters(["c", "b", "a"], ["e", "d", "f"], 3, 2) == {
        "bad": ["a", "b"],
        "good": ["d", "e"],
        "limit": 3,
    }
