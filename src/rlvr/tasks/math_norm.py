"""Math answer reading and equivalence: how a gold answer is read and how a model's final answer is
judged against it. The math task's rewards (:mod:`rlvr.tasks.math`) and the length-scaled ``cosine``
reward all judge correctness here, so they agree.

**Reading a gold** (:func:`read_gold`). A gold holding ``\\boxed{}`` is read as its last box; ``$``
signs and a trailing percent sign are dropped. What remains is one of:

- ``number``: a number literal (``85``, ``-0.5``, ``3/4``, ``\\frac{1}{2}``, ``1,000``, ``50\\%``).
- ``words``: a plain word or words of letters (``Yes``, ``New York``, ``\\text{Navin}``): letters,
  with spaces, hyphens, apostrophes and ``.,!?`` between words, and at least one run of two letters.
  Compared by :func:`words_key` (case, whitespace and punctuation do not matter), never by
  math-verify, which reads ``Yes`` as the product ``E*s*y`` and so accepts ``sey``.
- ``math``: anything else that math-verify parses to an expression (``x^2+1``, ``\\text{(B)}``,
  ``[1,2)``, ``10^{5}``). The gold is parsed whole, wrapped in ``\\boxed{}``: a bare parse reads
  only the last number of ``5\\sqrt{2}`` or ``10^{5}``.
- unscorable (``None``): empty, an unclosed box, a word of three letters or more inside math
  (``5 apples``: math-verify would read it as a product, so any anagram would match), or nothing
  math-verify can parse (``unparseable_latex``). Rewards score such rows ``None`` (not applicable).

**Judging an answer** (:func:`score_answer`): the model's final answer (its last ``\\boxed{}``, read
by the caller) gets the same ``$`` and percent treatment, then: ``words`` golds compare
:func:`words_key`; otherwise canonical equality (:func:`canon_math`: ``$\\dfrac{1}{2}$`` and
``1/2``; ``{85}``, ``85.0`` and ``85``), then for a ``number`` gold exact numeric equality when the
answer is a number literal, then math-verify equivalence (units are stripped only from text groups
such as ``5\\text{ cm}``: bare letters are variables, so ``2ab`` is not ``2``). With
``strict_numeric`` a number gold only matches a number literal: math-verify evaluates expressions,
so for the gold ``85`` it accepts ``47+38`` (the arithmetic prompt echoed back) and ``0 85`` (read
as a sum).

Percentages: a trailing ``%`` (``50\\%``, ``50 \\%``, ``50%``) is notation, so ``50\\%`` and ``50``
are the same answer both ways. ``0.5`` is *not* ``50\\%``: with ``50\\% == 50`` it would also make
``0.5 == 50`` by transitivity, and "what percent" answers are given as ``50`` far more often than
as ``0.5``.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import re
import threading
import unicodedata
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal

from latex2sympy2_extended import NormalizationConfig
from loguru import logger
from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

from rlvr.tasks.answers import BOXED, last_boxed

#: the task labels whose rows the math rewards (``accuracy``, ``answer_tag``, ``cosine``) serve by default
MATH_TASKS = ("math", "arith")

GoldKind = Literal["number", "words", "math"]

_TEXT_COMMANDS = r"(?:text|textbf|textit|textrm|textsf|textnormal|mathrm|mathbf|mathit|mathsf|mbox|operatorname)"
_TEXT_HEAD = re.compile(rf"^\\{_TEXT_COMMANDS}\s*(?=\{{)")
_TEXT_NAME = re.compile(rf"\\{_TEXT_COMMANDS}(?![A-Za-z])")
_TEXT_GROUP = re.compile(rf"\\{_TEXT_COMMANDS}\s*\{{[^{{}}]*\}}")
_ENVIRONMENT = re.compile(r"\\(?:begin|end)\s*\{[^{}]*\}")
_COMMAND = re.compile(r"\\[A-Za-z]+")
_LETTER = r"[^\W\d_]"
_WORDS = re.compile(rf"^{_LETTER}+(?:[\s'’.,!?-]+{_LETTER}+)*[.!?]?$")
_LETTER_RUN = re.compile(rf"{_LETTER}{{2,}}")
_WORD_IN_MATH = re.compile(rf"{_LETTER}{{3,}}")
_PERCENT = re.compile(r"(?:\s|\\[,;:! ])*\\?%$")

_SIMPLE = re.compile(r"^[+-]?[\w.]+$")
_FRAC = re.compile(r"\\frac\{([^{}]*)\}\{([^{}]*)\}")
_FRAC_SHORT = re.compile(r"\\frac(\d)(\d)")
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")


@functools.cache
def _extraction(units: bool, answer: bool) -> list[Any]:
    """math-verify's extraction settings: TRL's ``accuracy_reward`` ones (gold: the defaults; answer:
    boxed first), with unit stripping on or off (see :func:`_units_in_text_only`)."""
    if answer:
        return [LatexExtractionConfig(normalization_config=NormalizationConfig(units=units), boxed_match_priority=0)]
    latex = LatexExtractionConfig()
    normalization = dataclasses.replace(latex.normalization_config, units=units)
    return [dataclasses.replace(latex, normalization_config=normalization), ExprExtractionConfig()]


def answer_content(text: str) -> str:
    """An answer's content as compared: ``$`` signs and a trailing percent sign dropped, stripped."""
    s = text.replace("\\$", "").replace("$", "").strip()
    return _PERCENT.sub("", s).strip()


def _outer_group(s: str) -> str | None:
    """The inside of ``s`` when ``s`` is one brace group ``{...}``, else None."""
    if not s.startswith("{"):
        return None
    depth = 0
    for i, ch in enumerate(s):
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth == 0:
            return s[1:-1] if i == len(s) - 1 else None
    return None


def _unwrap_text(s: str) -> str:
    """``\\text{New York}`` -> ``New York`` (also ``\\textbf``, ``\\mathrm``, ...), when it wraps the whole answer."""
    while (m := _TEXT_HEAD.match(s)) and (inner := _outer_group(s[m.end() :])) is not None:
        s = inner.strip()
    return s


def words_key(text: str) -> str:
    """The comparison key of a words answer: text commands dropped, casefolded, letters and digits only."""
    s = unicodedata.normalize("NFKC", _TEXT_NAME.sub("", text)).casefold()
    return "".join(ch for ch in s if ch.isalnum())


def _bare(content: str) -> str:
    """``content`` without LaTeX commands, environment names and text groups: its bare letters are
    what math-verify reads as variables."""
    return _COMMAND.sub(" ", _TEXT_GROUP.sub(" ", _ENVIRONMENT.sub(" ", content)))


def _words_in_math(content: str) -> bool:
    """Whether math (not plain words) holds a word of 3+ letters outside LaTeX commands and text groups."""
    return _WORD_IN_MATH.search(_bare(content)) is not None


def _units_in_text_only(content: str) -> bool:
    """Whether math-verify may strip units from ``content``: only when every letter outside LaTeX
    commands sits in a text group (``5\\text{ cm}``). Bare letters are variables: with unit
    stripping ``2ab`` reads as ``2`` ("ab" taken for a unit), so ``2`` would answer ``2ab``."""
    return re.search(_LETTER, _bare(content)) is None


def _frac(m: re.Match[str]) -> str:
    num, den = m.group(1), m.group(2)
    num = num if _SIMPLE.match(num) else f"({num})"
    den = den if _SIMPLE.match(den) else f"({den})"
    return f"{num}/{den}"


def _strip_outer_braces(s: str) -> str:
    while (inner := _outer_group(s)) is not None:
        s = inner
    return s


def canon_math(text: Any) -> str:
    """Canonical string form of a math answer (see the module docstring); a ``\\boxed{}`` inside is
    read as its last box."""
    s = "" if text is None else str(text).strip()
    boxed = last_boxed(s)
    if boxed is not None:
        s = boxed
    s = answer_content(s)
    for token in ("\\left", "\\right", "\\!", "\\,", "\\;"):
        s = s.replace(token, "")
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac").replace("{,}", ",")
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


@functools.lru_cache(maxsize=4096)
def _parse_gold(content: str) -> tuple[Any, ...]:
    """math-verify's parse of a gold's content, whole (wrapped in ``\\boxed{}``); cached per gold."""
    config = _extraction(_units_in_text_only(content), answer=False)
    return tuple(parse(f"{BOXED}{{{content}}}", extraction_config=config, parsing_timeout=_timeouts()[0]))


def _is_expression(parsed: tuple[Any, ...]) -> bool:
    """Whether math-verify parsed an expression (it falls back to the bare string when it cannot)."""
    return any(not isinstance(p, str) for p in parsed)


@dataclass(frozen=True)
class Gold:
    """A gold answer as read by :func:`read_gold`: its ``kind``, its ``content`` (box, ``$`` and
    percent sign removed) and the key it is compared by (``canon``, ``value``, ``words``)."""

    kind: GoldKind
    content: str
    canon: str = ""
    value: Fraction | None = None
    words: str = ""

    def describe(self) -> str:
        """One short line for the completions table (``gold_parsed``)."""
        if self.kind == "words":
            return f"words:{self.words}"
        if self.kind == "number":
            return f"number:{self.value}"
        return f"math:{_parse_gold(self.content)[0]}"


def read_gold(answer: Any) -> Gold | None:
    """The gold answer ``answer`` as a :class:`Gold`, or None when it cannot be scored (see the
    module docstring)."""
    return _read_gold("" if answer is None else str(answer).strip())


@functools.lru_cache(maxsize=4096)
def _read_gold(text: str) -> Gold | None:
    content = last_boxed(text) if BOXED in text else text
    if content is None:
        logger.debug(f"unscorable gold {text[:80]!r}: its last \\boxed{{}} never closes")
        return None
    content = answer_content(content)
    if not content:
        return None
    plain = _unwrap_text(content)
    if _WORDS.match(plain) and _LETTER_RUN.search(plain):
        return Gold("words", content, words=words_key(plain))
    canon = canon_math(content)
    value = as_number(canon)
    if value is not None:
        return Gold("number", content, canon, value)
    if _words_in_math(content):
        logger.debug(f"unscorable gold {text[:80]!r}: words inside math would be read as products")
        return None
    if not _is_expression(_parse_gold(content)):
        logger.debug(f"unscorable gold {text[:80]!r}: math-verify cannot parse it")
        return None
    return Gold("math", content, canon)


def math_verify_equal(answer: str, gold: Gold) -> bool:
    """math-verify equivalence of an answer's content with a gold's; False when either does not parse."""
    parse_timeout, verify_timeout = _timeouts()
    gold_parsed = list(_parse_gold(gold.content))
    parsed = parse(
        f"{BOXED}{{{answer}}}",
        extraction_config=_extraction(_units_in_text_only(answer), answer=True),
        extraction_mode="first_match",
        parsing_timeout=parse_timeout,
    )
    if not gold_parsed or not parsed:
        return False
    return bool(verify(gold_parsed, parsed, timeout_seconds=verify_timeout))


def score_answer(answer: str | None, gold: Gold, strict_numeric: bool = False, max_chars: int = 256) -> float:
    """1.0 when the final answer ``answer`` (a box's content, or None when there is none) answers
    ``gold``, else 0.0 (see the module docstring). Answers longer than ``max(max_chars, 20 x gold)``
    score 0.0 without parsing: no correct answer is that long, and parsing would be slow."""
    if answer is None:
        return 0.0
    content = answer_content(answer)
    if not content or len(content) > max(max_chars, 20 * len(gold.content)):
        return 0.0
    if gold.kind == "words":
        return float(words_key(_unwrap_text(content)) == gold.words)
    canon = canon_math(content)
    if canon == gold.canon:
        return 1.0
    if gold.kind == "number":
        value = as_number(canon)
        if value is not None:
            return float(value == gold.value)
        if strict_numeric:
            return 0.0
    return float(math_verify_equal(content, gold))


def score_boxed(text: str, gold: Any, strict_numeric: bool = False, max_chars: int = 256) -> float | None:
    """1.0 when the final answer of ``text`` (its last ``\\boxed{}``) answers ``gold``, 0.0 when it
    does not or there is none, None when the gold cannot be scored."""
    read = read_gold(gold)
    if read is None:
        return None
    return score_answer(last_boxed(text), read, strict_numeric, max_chars)
