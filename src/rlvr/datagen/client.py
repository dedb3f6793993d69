"""A small OpenAI-compatible chat-completions client (standard library only, safe to share between threads).

Retries connection errors, timeouts, HTTP 429 and 5xx with exponential backoff and jitter (honouring a numeric
``Retry-After``); other HTTP errors (400, 401, 404, ...) fail at once with the server's message. The API key is read
from the environment variable the config names and sent only as the ``Authorization`` header.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from loguru import logger

RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class RequestFailed(RuntimeError):
    """A request that failed for good (after its retries, or with a status that is not worth retrying)."""


@dataclass
class Choice:
    text: str
    finish_reason: str | None


@dataclass
class Reply:
    choices: list[Choice]
    prompt_tokens: int | None
    completion_tokens: int | None
    model: str | None = None


@dataclass
class ChatClient:
    base_url: str
    model: str
    api_key_env: str | None = "OPENAI_API_KEY"
    timeout: float = 120.0
    max_retries: int = 5
    backoff: float = 1.0
    backoff_max: float = 30.0
    retries: int = field(default=0, init=False)  # retries so far (all threads; approximate under contention)

    @property
    def url(self) -> str:
        return self.base_url.rstrip("/") + "/chat/completions"

    def headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        if retry_after:
            try:
                return min(self.backoff_max, max(0.0, float(retry_after)))
            except ValueError:
                pass
        base = min(self.backoff_max, self.backoff * 2**attempt)
        return base * (0.5 + random.random() / 2)

    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST ``body`` (``model`` filled in) with retries; the decoded JSON reply."""
        data = json.dumps({"model": self.model, **body}).encode()
        last = ""
        for attempt in range(self.max_retries + 1):
            retry_after = None
            request = urllib.request.Request(self.url, data=data, headers=self.headers(), method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return json.loads(response.read().decode("utf-8", errors="replace"))
            except urllib.error.HTTPError as err:
                detail = err.read(2000).decode("utf-8", errors="replace").strip()
                last = f"HTTP {err.code} from {self.url}: {detail[:500]}"
                if err.code not in RETRY_STATUS:
                    raise RequestFailed(last) from None
                retry_after = err.headers.get("Retry-After") if err.headers else None
            # HTTPException: a reply cut off mid-body (IncompleteRead) or a malformed status line
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError, http.client.HTTPException) as err:
                reason = getattr(err, "reason", err)
                last = f"{type(err).__name__} from {self.url}: {reason}"
            except json.JSONDecodeError as err:
                last = f"a reply from {self.url} that is not JSON: {err}"
            if attempt < self.max_retries:
                self.retries += 1
                wait = self.delay(attempt, retry_after)
                logger.debug(f"retry {attempt + 1}/{self.max_retries} in {wait:.1f} s: {last}")
                time.sleep(wait)
        raise RequestFailed(f"gave up after {self.max_retries + 1} attempts: {last}")

    def chat(self, messages: list[dict[str, Any]], n: int = 1, **params: Any) -> Reply:
        """One chat-completions request; the server may return fewer than ``n`` choices (callers top up)."""
        body: dict[str, Any] = {"messages": messages, **params}
        if n != 1:
            body["n"] = n
        payload = self.post(body)
        try:
            raw = sorted(payload["choices"], key=lambda c: c.get("index", 0))
            choices = [Choice(str(c["message"].get("content") or ""), c.get("finish_reason")) for c in raw]
        except (KeyError, TypeError, AttributeError) as err:
            raise RequestFailed(f"unexpected reply from {self.url}: {str(payload)[:300]} ({err})") from None
        usage = payload.get("usage") or {}
        return Reply(choices, usage.get("prompt_tokens"), usage.get("completion_tokens"), payload.get("model"))
