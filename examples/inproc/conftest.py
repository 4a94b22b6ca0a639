"""The example suite's settings: which manager it tests, and how long the sustained load runs.

    CONVERSATION_MANAGER=broken   test the broken variant (broken_conversations.py)
    INPROC_SUSTAINED_S=30         the sustained test's length in seconds (default 30; CI: short)
"""
from __future__ import annotations

import os

import pytest

from conversations import ConversationManager


@pytest.fixture
def manager_class():
    if os.environ.get("CONVERSATION_MANAGER") == "broken":
        from broken_conversations import BrokenConversationManager

        return BrokenConversationManager
    return ConversationManager


@pytest.fixture
def sustained_s() -> float:
    return float(os.environ.get("INPROC_SUSTAINED_S", "30"))
