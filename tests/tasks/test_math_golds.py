"""The math rewards' answer rules: which answer is final (the last ``\\boxed{}``), how golds are read
(numbers, percentages, words, math, unscorable), and the same correctness in ``accuracy``,
``answer_tag`` and ``cosine``. Also open-r1's accuracy-reward cases, ported."""

from __future__ import annotations

import pytest

from rlvr.rewards import build_reward

IDS = [[1] * 10]


def conv(text: str) -> list[dict]:
    return [{"role": "assistant", "content": text}]


def accuracy(text: str, gold: str, strict_numeric: bool = False) -> float | None:
    return build_reward("accuracy", {"strict_numeric": strict_numeric})(completions=[conv(text)], solution=[gold])[0]


def answer_tag(payload: str, gold: str) -> float | None:
    return build_reward("answer_tag")(completions=[conv(f"<answer>{payload}</answer>")], solution=[gold])[0]


def cosine(text: str, gold: str) -> float | None:
    return build_reward("cosine", {"max_len": 100})(completions=[conv(text)], solution=[gold], completion_ids=IDS)[0]


# --- 1. word golds are matched as words, never as products of symbols --------------------------


@pytest.mark.parametrize(
    ("text", "gold", "expected"),
    [
        ("\\boxed{sey}", "Yes", 0.0),  # math-verify read both as the product E*s*y
        ("\\boxed{yes}", "Yes", 1.0),
        ("\\boxed{YES.}", "Yes", 1.0),
        ("\\boxed{\\text{Yes}}", "Yes", 1.0),
        ("\\boxed{No}", "Yes", 0.0),
        ("Yes", "Yes", 0.0),  # no box: no final answer
        ("\\boxed{new york}", "New York", 1.0),
        ("\\boxed{York New}", "New York", 0.0),
        ("\\boxed{Navin}", "\\text{Navin}", 1.0),
        ("\\boxed{nivan}", "\\text{Navin}", 0.0),
    ],
)
def test_word_golds_match_as_normalised_words(text: str, gold: str, expected: float) -> None:
    assert accuracy(text, gold) == expected
    assert accuracy(text, gold, strict_numeric=True) == expected
    assert (cosine(text, gold) > 0) == bool(expected)


def test_word_golds_under_answer_tag() -> None:
    assert answer_tag("sey", "Yes") == 0.0
    assert answer_tag(" yes ", "Yes") == 1.0


@pytest.mark.parametrize("gold", ["unparseable_latex", "5 apples", "\\boxed{1} \\boxed{2"])
def test_unscorable_golds_are_not_applicable(gold: str) -> None:
    """A gold that is neither a number, words, nor math that math-verify parses scores None everywhere."""
    for text in ("\\boxed{answer}", "\\boxed{5 selppa}", "\\boxed{unparseable_latex}"):
        assert accuracy(text, gold) is None
        assert accuracy(text, gold, strict_numeric=True) is None
        assert cosine(text, gold) is None
        assert answer_tag(text, gold) is None


# --- 2. a percentage and its bare number are the same answer -----------------------------------


@pytest.mark.parametrize("gold", ["50\\%", "50%", "50 \\%", "50"])
@pytest.mark.parametrize("answer", ["50\\%", "50%", "50 \\%", "50\\,\\%", "50"])
def test_percentages_match_their_bare_number_both_ways(gold: str, answer: str) -> None:
    text = f"so \\boxed{{{answer}}}"
    assert accuracy(text, gold) == 1.0
    assert accuracy(text, gold, strict_numeric=True) == 1.0
    assert answer_tag(answer, gold) == 1.0
    assert cosine(text, gold) > 0


@pytest.mark.parametrize(
    ("answer", "gold"), [("0.5", "50\\%"), ("50\\%", "0.5"), ("\\frac{1}{2}", "50\\%"), ("5\\%", "50")]
)
def test_a_percentage_is_not_its_fraction(answer: str, gold: str) -> None:
    """``50%`` == ``50`` forces ``50%`` != ``0.5``: otherwise ``0.5`` == ``50`` by transitivity."""
    assert accuracy(f"\\boxed{{{answer}}}", gold) == 0.0
    assert answer_tag(answer, gold) == 0.0


# --- 3. the final answer is the last \boxed{} -------------------------------------------------


@pytest.mark.parametrize(
    ("text", "plain", "strict"),
    [
        ("\\boxed{84}, no: \\boxed{85}", 1.0, 1.0),
        ("\\boxed{85}, no: \\boxed{84}", 0.0, 0.0),
        ("\\boxed{47+38}, i.e. \\boxed{85}", 1.0, 1.0),
        ("\\boxed{85}, i.e. \\boxed{47+38}", 1.0, 0.0),  # the last box is an expression equal to 85
        ("\\boxed{85} and \\boxed{84", 0.0, 0.0),  # the last box never closes: no final answer
    ],
)
def test_the_last_box_is_the_final_answer(text: str, plain: float, strict: float) -> None:
    assert accuracy(text, "85") == plain
    assert accuracy(text, "85", strict_numeric=True) == strict
    assert (cosine(text, "85") > 0) == bool(plain)


@pytest.mark.parametrize("text", ["\\boxed {7}", "So \\boxed {7}.", "\\boxed\n{ 7 }", "\\boxed{3} then \\boxed {7}"])
def test_whitespace_after_boxed_is_read_everywhere(text: str) -> None:
    assert accuracy(text, "7") == 1.0
    assert accuracy(text, "7", strict_numeric=True) == 1.0
    assert answer_tag(text, "7") == 1.0
    assert cosine(text, "7") > 0


# --- ported from open-r1's (and TRL's) accuracy-reward tests -----------------------------------


@pytest.mark.parametrize(
    ("text", "gold", "expected"),
    [
        ("\\boxed{\\frac{63}{400}}", "\\frac{63}{400}", 1.0),
        ("\\boxed{\\frac{64}{400}}", "\\frac{63}{400}", 0.0),
        ("\\boxed{\\frac{1}{3}}", "$\\frac{1}{3}$", 1.0),
        ("\\boxed{0.5}", "\\frac{1}{2}", 1.0),
        ("\\boxed{\\frac{1}{2}}", "0.5", 1.0),
        ("\\boxed{\\dfrac{3}{4}}", "0.75", 1.0),
        ("\\boxed{\\dfrac{3}{4}}", "\\frac{3}{4}", 1.0),
        ("\\boxed{\\tfrac34}", "3/4", 1.0),
        ("\\boxed{[1, 2)}", "[1,2)", 1.0),
        ("\\boxed{(1, 2)}", "[1,2)", 0.0),
        ("\\boxed{(-\\infty, 2)}", "(-\\infty,2)", 1.0),
        ("\\boxed{(-\\infty, 3)}", "(-\\infty,2)", 0.0),
        ("\\boxed{-3}", "-3", 1.0),
        ("\\boxed{3}", "-3", 0.0),
        ("\\boxed{1,000}", "1000", 1.0),
        ("\\boxed{1000}", "1,000", 1.0),
        ("\\boxed{1{,}000}", "1000", 1.0),
        ("\\boxed{x^2 + 1}", "1+x^2", 1.0),
        ("\\boxed{x^2 + 2}", "x^2+1", 0.0),
        ("\\boxed{\\text{(B)}}", "\\text{(B)}", 1.0),
        ("\\boxed{B}", "\\text{(B)}", 1.0),
        ("\\boxed{C}", "\\text{(B)}", 0.0),
        ("\\boxed{5\\sqrt{2}}", "5\\sqrt{2}", 1.0),
        ("\\boxed{5}", "5\\sqrt{2}", 0.0),  # a bare parse of the gold would read only its 5
        ("\\boxed{10}", "10^{5}", 0.0),
        ("\\boxed{100000}", "10^{5}", 1.0),
        ("\\boxed{5}", "5\\text{ cm}", 1.0),
    ],
)
def test_open_r1_accuracy_cases(text: str, gold: str, expected: float) -> None:
    assert accuracy(text, gold) == expected


def test_open_r1_cosine_values() -> None:
    reward = build_reward("cosine", {"max_len": 100})
    completions = [conv("\\boxed{\\frac{63}{400}}")] * 2 + [conv("\\boxed{\\frac{64}{400}}")] * 2
    ids = [[1] * 20, [1] * 80, [1] * 20, [1] * 80]
    scores = reward(completions=completions, solution=["\\frac{63}{400}"] * 4, completion_ids=ids)
    # TRL's schedule on token counts: 0.5 + 0.25 * (1 + cos(pi * 20/100)) = 0.952 (open-r1 counted characters)
    assert scores == pytest.approx([0.952, 0.548, -0.952, -0.548], abs=1e-3)


def test_empty_and_missing_golds_are_not_applicable() -> None:
    for gold in ("", "  ", None, "$$", "\\boxed{}"):
        assert accuracy("\\boxed{1}", gold) is None  # type: ignore[arg-type]
        assert cosine("\\boxed{1}", gold) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "gold", "expected"),
    [
        ("\\boxed{2}", "2ab", 0.0),  # math-verify's unit stripping read the gold 2ab as 2 ("ab" a unit)
        ("\\boxed{2ba}", "2ab", 1.0),
        ("\\boxed{2 a b}", "2ab", 1.0),
        ("\\boxed{2ab}", "2", 0.0),  # ... and the answer 2ab as 2
        ("\\boxed{5\\text{ cm}}", "5", 1.0),  # units in text groups are still dropped
        ("\\boxed{5\\mbox{ inches}}", "5", 1.0),
        ("\\boxed{5}", "5\\mbox{ inches}", 1.0),
    ],
)
def test_bare_letters_are_variables_not_units(text: str, gold: str, expected: float) -> None:
    assert accuracy(text, gold) == expected
