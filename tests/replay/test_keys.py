"""Unit tests of the canonical prompt key (rlvr.replay.keys)."""

from __future__ import annotations

import pytest

from rlvr.replay.keys import prompt_key


def test_prompt_key_canonicalises_whitespace_and_keeps_roles():
    a = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is  2+2?\n"}]
    b = [{"role": "system", "content": " Be\tbrief. "}, {"role": "user", "content": "What is 2+2?"}]
    assert prompt_key(a) == prompt_key(b)
    c = [{"role": "user", "content": "Be brief."}, {"role": "user", "content": "What is 2+2?"}]
    assert prompt_key(a) != prompt_key(c)  # role matters
    assert prompt_key("  hello\n world ") == prompt_key("hello world")
    assert prompt_key("hello world") != prompt_key("helloworld")
    assert prompt_key("hi") != prompt_key([{"role": "user", "content": "hi"}])
    k = prompt_key("hello world")
    assert isinstance(k, str) and len(k) == 32 and int(k, 16) >= 0
    # Stable across processes and runs (not Python's salted hash()): pinned values.
    assert k == "e9c0e8e5ccc5a4c9042080087f30988f"
    assert prompt_key([{"role": "user", "content": " hi "}]) == "5fa3d9d8d579f08ea953a6ce2e9d0d62"
    with pytest.raises(TypeError):
        prompt_key(42)


def test_prompt_key_message_boundaries_and_order_matter():
    one = [{"role": "user", "content": "a b"}]
    split = [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]
    assert prompt_key(one) != prompt_key(split)  # whitespace collapses inside a message, not across
    sys_user = [{"role": "system", "content": "x"}, {"role": "user", "content": "y"}]
    assert prompt_key(sys_user) != prompt_key(sys_user[::-1])
    assert prompt_key([{"role": " user\n", "content": "y"}]) == prompt_key([{"role": "user", "content": "y"}])
    # Missing or None content is the empty string; a tuple of messages keys like a list.
    assert prompt_key([{"role": "user"}]) == prompt_key([{"role": "user", "content": None}])
    assert prompt_key([{"role": "user", "content": ""}]) == prompt_key([{"role": "user", "content": None}])
    assert prompt_key(tuple(sys_user)) == prompt_key(sys_user)


def test_prompt_key_content_parts():
    parts = [{"role": "user", "content": [{"type": "text", "text": "What is  2+2?"}]}]
    same = [{"role": "user", "content": [{"text": " What is 2+2? ", "type": "text"}]}]  # key order, spaces
    other = [{"role": "user", "content": [{"type": "text", "text": "What is 2+3?"}]}]
    assert prompt_key(parts) == prompt_key(same)
    assert prompt_key(parts) != prompt_key(other)
    # Parts are not the same thing as plain string content, and their roles still count.
    assert prompt_key(parts) != prompt_key([{"role": "user", "content": "What is 2+2?"}])
    assert prompt_key(parts) != prompt_key([{"role": "assistant", "content": parts[0]["content"]}])


def test_prompt_key_rejects_non_prompts():
    for bad in (42, None, [1, 2], [{"role": "user", "content": "x"}, "y"]):
        with pytest.raises(TypeError, match="prompt_key"):
            prompt_key(bad)
