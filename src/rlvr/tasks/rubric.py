"""The rubric task (rows labelled ``rubric``): open-ended answers graded against a rubric and a
reference answer by the ``rubric`` reward.

Columns: ``rubric`` (a list of criterion strings, or one string with one criterion per line,
bullets and numbering allowed) and ``reference_answer``. :func:`task_fields` fills both while
rows are loaded: the rubric as criterion strings (from text, a list of strings, or a list of
``{description|criterion|title: ...}`` dicts) and the reference answer (the gold ``solution``
when the source has no such column). Without a judge the score in [0, 1] is

    (coverage_weight * coverage + similarity_weight * similarity) / (coverage_weight + similarity_weight)

where ``coverage`` is the fraction of criteria whose content words (lowercased, stopwords
removed, crude suffix stemming) mostly appear in the completion (at least ``coverage_threshold``
of them), and ``similarity`` is the token F1 of content words with the reference answer
(``similarity: f1``) or the Jaccard index of character 3-grams (``similarity: char3``). A row
missing one of the two parts is scored on the other; a row with neither scores None. Against
keyword stuffing, a completion with more than ``max_length_ratio`` times the reference's
content words has its score scaled down by that excess (``null`` turns this off).

With ``judge: {base_url: ..., model: ..., api_key_env: ..., timeout: ...}`` each completion is
instead graded by an OpenAI-compatible ``POST {base_url}/chat/completions``; the reply's
``Score: X`` (0-10, or a fraction such as ``0.7``) becomes the reward. A timeout, HTTP error or
unparsable reply scores None and logs a warning; it never stops training.
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from loguru import logger

from rlvr.errors import UserError
from rlvr.registry.reward_helpers import column, score_each
from rlvr.registry.rewards import completion_text, register
from rlvr.registry.tasks import Task, register_task
from rlvr.tasks.answers import answer_block

_STOPWORDS_TEXT = """
a an the and or but if then else of to in on at by for with from into onto about as is are was were
be been being am do does did done have has had having it its this that these those there their them
they he she his her we our you your i me my not no nor so than too very can could should would will
shall may might must also just any all each every some such which who whom whose what when where
why how more most other only own same both few further once here up down out over under again off s
t answer response mention mentions explain explains explained describe describes include includes
including state states
"""
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())
_WORD = re.compile(r"\w+")
_BULLET = re.compile(r"^\s*(?:[-*\u2022+]|\(?\d+[.)]|\(?[a-z][.)])\s+", re.IGNORECASE)
MAX_CHARS = 200_000  # longer completions are truncated before scoring


def stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def content_words(text: str) -> list[str]:
    return [stem(w) for w in _WORD.findall(text.lower()[:MAX_CHARS]) if w not in STOPWORDS]


def criteria(rubric: Any) -> list[str]:
    """Rubric criteria from a list of strings or a newline/bullet separated string."""
    if rubric is None:
        return []
    items = [str(x) for x in rubric] if isinstance(rubric, Sequence) and not isinstance(rubric, str) else [rubric]
    out = []
    for item in items:
        for line in str(item).splitlines():
            line = _BULLET.sub("", line).strip()
            if line:
                out.append(line)
    return out


def coverage(text_words: set[str], rubric: list[str], threshold: float = 0.6) -> float | None:
    """Fraction of criteria with at least ``threshold`` of their content words in ``text_words``."""
    scored = []
    for criterion in rubric:
        words = set(content_words(criterion))
        if words:
            scored.append(len(words & text_words) / len(words) >= threshold)
    return sum(scored) / len(scored) if scored else None


def token_f1(pred: list[str], ref: list[str]) -> float:
    common = sum((Counter(pred) & Counter(ref)).values())
    if not common:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def char3_jaccard(pred: str, ref: str) -> float:
    def grams(s: str) -> set[str]:
        s = " ".join(s.lower()[:MAX_CHARS].split())
        return {s[i : i + 3] for i in range(max(0, len(s) - 2))}

    a, b = grams(pred), grams(ref)
    return len(a & b) / len(a | b) if a and b else 0.0


def heuristic_score(
    text: str,
    rubric: Any,
    reference: Any,
    coverage_weight: float = 0.7,
    similarity_weight: float = 0.3,
    similarity: str = "f1",
    coverage_threshold: float = 0.6,
    max_length_ratio: float | None = 3.0,
) -> float | None:
    words = content_words(text)
    parts: list[tuple[float, float]] = []
    cov = coverage(set(words), criteria(rubric), coverage_threshold)
    if cov is not None and coverage_weight > 0:
        parts.append((coverage_weight, cov))
    ref = "" if reference is None else str(reference)
    if ref.strip() and similarity_weight > 0:
        if similarity == "char3":
            sim = char3_jaccard(text, ref)
        else:
            ref_words = content_words(ref)
            sim = token_f1(words, ref_words) if ref_words else char3_jaccard(text, ref)
        parts.append((similarity_weight, sim))
    if not parts:
        return None
    score = sum(w * s for w, s in parts) / sum(w for w, _ in parts)
    limit = max_length_ratio * len(content_words(ref)) if max_length_ratio and ref.strip() else 0
    if limit and len(words) > limit:
        score *= limit / len(words)
    return max(0.0, min(1.0, score))


# ----------------------------------------------------------------------------------------------
# Columns (filled while rows are loaded, see rlvr.data.sources)


def rubric_criteria(value: Any) -> list[str]:
    """Rubric criteria as strings from text, a list of strings, or a list of dicts."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, dict):
        value = [value]
    out = []
    for item in value if isinstance(value, list | tuple) else [value]:
        if isinstance(item, dict):
            text = next((item[k] for k in ("description", "criterion", "rubric", "title", "text") if item.get(k)), None)
            text = str(text) if text is not None else ", ".join(f"{k}: {v}" for k, v in item.items())
        else:
            text = str(item)
        if text.strip():
            out.append(text)
    return out


def task_fields(row: dict, prompt_text: str) -> dict:
    """``rubric`` as criterion strings and ``reference_answer`` (else the gold ``solution``)."""
    reference = row.get("reference_answer")
    return {
        "rubric": rubric_criteria(row.get("rubric")),
        "reference_answer": str(reference) if reference is not None else row.get("solution"),
    }


# ----------------------------------------------------------------------------------------------
# LLM judge

JUDGE_SYSTEM = (
    "You are a strict grader. Grade the response against the rubric and the reference answer. "
    "Reply with a short justification and end with a line 'Score: X' where X is an integer from 0 to 10."
)
_SCORE = re.compile(r"score\s*[:=]?\s*\**\s*(\d+(?:\.\d+)?)\s*(/\s*(\d+))?", re.IGNORECASE)
_BARE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(/\s*(\d+))?\s*$")


def parse_judge_score(reply: str) -> float | None:
    """The score in a judge reply, in [0, 1]: ``Score: 7`` -> 0.7, ``Score: 7/10`` -> 0.7,
    ``Score: 0.7`` -> 0.7, a bare ``8`` -> 0.8; None when absent or out of range. Integers are
    read on the 0-10 scale the prompt asks for; decimals up to 1 as fractions."""
    matches = list(_SCORE.finditer(reply)) or list(_BARE.finditer(reply))
    if not matches:
        return None
    m = matches[-1]
    number, scale = m.group(1), m.group(3)
    value = float(number)
    if scale is not None:
        value = value / float(scale) if float(scale) > 0 else -1.0
    elif "." in number and value <= 1.0:
        pass
    else:
        value /= 10.0
    return value if 0.0 <= value <= 1.0 else None


def prompt_text(prompt: Any) -> str:
    """The last user message of a conversational prompt, or a plain prompt string."""
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list):
        users = [m for m in prompt if isinstance(m, dict) and m.get("role") == "user"]
        if users:
            return completion_text([users[-1]])
    return ""


class Judge:
    """An OpenAI-compatible chat-completions grader called with the standard library only."""

    def __init__(
        self,
        base_url: str,
        model: str = "default",
        api_key_env: str | None = None,
        timeout: float = 30.0,
        max_tokens: int = 512,
        temperature: float = 0.0,
        max_workers: int = 8,
        max_chars: int = 20_000,
    ) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model, self.api_key_env, self.timeout = model, api_key_env, float(timeout)
        self.max_tokens, self.temperature = max_tokens, temperature
        self.max_workers, self.max_chars = max(1, int(max_workers)), max_chars

    def messages(self, question: str, rubric: list[str], reference: str, response: str) -> list[dict[str, str]]:
        rubric_text = "\n".join(f"- {c}" for c in rubric) or "(none)"
        user = (
            f"Question:\n{question[: self.max_chars] or '(not given)'}\n\nRubric:\n{rubric_text}\n\n"
            f"Reference answer:\n{reference[: self.max_chars] or '(none)'}\n\n"
            f"Response to grade:\n{response[: self.max_chars]}\n\nEnd with 'Score: X' (0-10)."
        )
        return [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": user}]

    def ask(self, messages: list[dict[str, str]]) -> float:
        """The judge's score in [0, 1]; raises on any failure (callers turn that into None)."""
        body = {
            "model": self.model,
            "messages": messages,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
        }
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        if key:
            headers["Authorization"] = f"Bearer {key}"
        request = urllib.request.Request(self.url, data=json.dumps(body).encode(), headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            payload = json.loads(response.read(1_000_000).decode("utf-8", errors="replace"))
        content = payload["choices"][0]["message"]["content"]
        score = parse_judge_score(str(content))
        if score is None:
            raise ValueError(f"no score in the judge reply {str(content)[:200]!r}")
        return score

    def score(self, items: list[tuple[str, list[str], str, str]]) -> list[float | None]:
        def one(item: tuple[str, list[str], str, str]) -> tuple[float | None, str | None]:
            try:
                return self.ask(self.messages(*item)), None
            except Exception as err:  # timeouts, HTTP errors, bad JSON: all score None
                return None, f"{type(err).__name__}: {err}"[:300]

        if not items:
            return []
        with ThreadPoolExecutor(max_workers=min(self.max_workers, len(items))) as pool:
            results = list(pool.map(one, items))
        errors = [e for _, e in results if e]
        if errors:
            logger.warning(f"rubric judge {self.url}: {len(errors)} of {len(items)} gradings failed ({errors[0]})")
        return [s for s, _ in results]


def _make_judge(judge: Any) -> Judge | None:
    if judge is None:
        return None
    if not isinstance(judge, dict):
        raise UserError(f"rewards.funcs[rubric].kwargs.judge must be a mapping, got {judge!r}")
    if not judge.get("base_url"):
        return None
    settings = {k: v for k, v in judge.items() if v is not None}
    try:
        return Judge(**settings)
    except TypeError as err:
        raise UserError(f"rewards.funcs[rubric].kwargs.judge: {err}") from None


@register("rubric", tasks=("rubric",))
def rubric(
    coverage_weight: float = 0.7,
    similarity_weight: float = 0.3,
    similarity: str = "f1",
    coverage_threshold: float = 0.6,
    max_length_ratio: float | None = 3.0,
    judge: dict[str, Any] | None = None,
):
    """Rubric coverage plus similarity to the reference answer, or an LLM judge; see the module docstring."""
    if similarity not in ("f1", "char3"):
        raise UserError(f"rewards.funcs[rubric].kwargs.similarity must be f1 or char3, got {similarity!r}")
    if coverage_weight < 0 or similarity_weight < 0 or coverage_weight + similarity_weight <= 0:
        raise UserError("rewards.funcs[rubric].kwargs: coverage_weight and similarity_weight must be >= 0, not both 0")
    grader = _make_judge(judge)

    def one(completion: Any, rubric_items: Any, reference: Any) -> float | None:
        return heuristic_score(
            completion_text(completion)[:MAX_CHARS],
            rubric_items,
            reference,
            coverage_weight,
            similarity_weight,
            similarity,
            coverage_threshold,
            max_length_ratio,
        )

    def reward(completions: list, **kwargs: Any) -> list[float | None]:
        n = len(completions)
        rubrics = column(kwargs, "rubric", n, "rubric", required=False)
        references = column(kwargs, "reference_answer", n, "rubric", required=False)
        if "rubric" not in kwargs and "reference_answer" not in kwargs:
            column(kwargs, "rubric", n, "rubric")  # raises the missing-column error
        if grader is None:
            return score_each("rubric", one, completions, rubrics, references)
        prompts = kwargs.get("prompts") or [None] * n
        items = [
            (prompt_text(p), criteria(r), "" if ref is None else str(ref), completion_text(c))
            for p, c, r, ref in zip(prompts, completions, rubrics, references, strict=True)
        ]
        return grader.score(items)

    return reward


def rubric_answer_key(text: str) -> str | None:
    """The answer block (else the whole text), whitespace-normalised and case-folded, for the majority vote."""
    payload = answer_block(text)
    s = " ".join((payload if payload is not None else text).split()).casefold()
    return s or None


TASK = register_task(Task("rubric", correctness=("rubric",), answer_key=rubric_answer_key, fields=task_fields))
