"""Math answer normalisation and equivalence, used by the math task's rewards (:mod:`rlvr.tasks.math`)
and the length-scaled ``cosine`` reward.

``canon_math`` turns the common surface variants of one answer into one string (``$\\dfrac{1}{2}$``
and ``1/2``; ``{85}`` and ``85.0`` and ``85``). ``math_equal`` compares a predicted answer with a gold
one: canonical equality, then exact numeric equality when the gold is a number, else math-verify.

Number golds are compared as numbers on purpose: math-verify evaluates expressions, so for
the gold ``85`` it accepts ``47+38`` (the arithmetic prompt echoed back) and ``0 85`` (read as a
sum). With ``strict_numeric`` a number gold only matches a number literal.
"""

from __future__ import annotations

import logging
import re
import threading
from fractions import Fraction
from typing import Any

from math_verify import parse, verify

from rlvr.tasks.answers import last_boxed


def as_gold(answer: Any) -> str:
    """Wrap a bare gold answer in ``\\boxed{}`` so math-verify parses expressions like ``x^2+1``."""
    text = "" if answer is None else str(answer).strip()
    if not text or "\\boxed" in text or "$" in text:
        return text
    return f"\\boxed{{{text}}}"


_SIMPLE = re.compile(r"^[+-]?[\w.]+$")
_FRAC = re.compile(r"\\frac\{([^{}]*)\}\{([^{}]*)\}")
_FRAC_SHORT = re.compile(r"\\frac(\d)(\d)")
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")


def _frac(m: re.Match[str]) -> str:
    num, den = m.group(1), m.group(2)
    num = num if _SIMPLE.match(num) else f"({num})"
    den = den if _SIMPLE.match(den) else f"({den})"
    return f"{num}/{den}"


def _strip_outer_braces(s: str) -> str:
    while len(s) >= 2 and s[0] == "{" and s[-1] == "}":
        depth = 0
        for i, ch in enumerate(s):
            depth += {"{": 1, "}": -1}.get(ch, 0)
            if depth == 0 and i < len(s) - 1:
                return s  # the first brace closes before the end: "{a}+{b}"
        s = s[1:-1]
    return s


def canon_math(text: Any) -> str:
    """Canonical string form of a math answer (see the module docstring)."""
    s = "" if text is None else str(text).strip()
    boxed = last_boxed(s)
    if boxed is not None:
        s = boxed
    for token in ("\\left", "\\right", "\\!", "\\,", "\\;", "$"):
        s = s.replace(token, "")
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    s = re.sub(r"(?<=\d)\s+(?=\d)", "\x00", s)  # "0 85" must not become the number 085
    s = re.sub(r"\s+", "", s).replace("\x00", " ")
    s = _FRAC_SHORT.sub(r"\\frac{\1}{\2}", s)
    previous = None
    while previous != s:
        previous, s = s, _FRAC.sub(_frac, s)
    s = _strip_outer_braces(s)
    if s.endswith(".") and s[:-1][-1:].isdigit():
        s = s[:-1]
    s = re.sub(r"(\d)\.0+$", r"\1", s)
    if _THOUSANDS.match(s):
        s = s.replace(",", "")
    return s


def as_number(canon: str) -> Fraction | None:
    """The value of a canonical number literal (``85``, ``-0.5``, ``3/4``), else None."""
    if len(canon) > 64:
        return None
    num, slash, den = canon.partition("/")
    if not _NUMBER.match(num) or (slash and not _NUMBER.match(den)):
        return None
    try:
        return Fraction(num) / Fraction(den) if slash else Fraction(num)
    except (ValueError, ZeroDivisionError):
        return None


def _timeouts() -> tuple[int | None, int | None]:
    """math-verify's timeouts use signal.alarm, which only works in the main thread (as in TRL)."""
    if threading.current_thread() is threading.main_thread():
        return 10, 5
    logging.getLogger("math_verify.parser").setLevel(logging.ERROR)
    logging.getLogger("math_verify.grader").setLevel(logging.ERROR)
    return None, None


def math_verify_equal(pred: str, gold: str) -> bool | None:
    """math-verify equivalence; None when either side does not parse."""
    parse_timeout, verify_timeout = _timeouts()
    gold_parsed = parse(as_gold(gold), parsing_timeout=parse_timeout)
    pred_parsed = parse(as_gold(pred), parsing_timeout=parse_timeout)
    if not gold_parsed or not pred_parsed:
        return None
    return bool(verify(gold_parsed, pred_parsed, timeout_seconds=verify_timeout))


def math_equal(pred: str, gold: str, strict_numeric: bool = True) -> bool:
    """Whether ``pred`` answers ``gold``: canonical equality, else (for a number gold with
    ``strict_numeric``) numeric equality of number literals, else math-verify equivalence."""
    pred_c, gold_c = canon_math(pred), canon_math(gold)
    if not pred_c or not gold_c:
        return False
    if pred_c == gold_c:
        return True
    gold_value = as_number(gold_c)
    if strict_numeric and gold_value is not None:
        return as_number(pred_c) == gold_value
    return bool(math_verify_equal(pred, gold))
