"""Condensing a chat history into a standalone retrieval query (llmpilot.conversation)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest

from llmpilot.conversation import (
    ConversationError,
    Turn,
    condense,
    content_words,
    rewrite_messages,
    turns_from_messages,
)
from llmpilot.errors import LlmpilotError


def chat(*texts: str) -> list[Turn]:
    """Alternating user/assistant turns, starting with the user."""
    return [Turn("user" if i % 2 == 0 else "assistant", t) for i, t in enumerate(texts)]


class ScriptedGenerator:
    """A real (if tiny) Generator: replies with a fixed text and records the prompts it was given."""

    model_id = "scripted"

    def __init__(self, reply: str) -> None:
        self.reply = reply
        self.prompts: list[Sequence[dict[str, str]]] = []

    def generate(self, messages: Sequence[dict[str, str]], *, max_tokens: int, temperature: float) -> str:
        self.prompts.append(messages)
        return self.reply

    def stream(
        self, messages: Sequence[dict[str, str]], *, max_tokens: int, temperature: float
    ) -> Iterator[str]:
        yield self.generate(messages, max_tokens=max_tokens, temperature=temperature)


# --- rules, English ------------------------------------------------------------------------------


def test_english_slot_followup_replaces_the_weekday() -> None:
    c = condense(chat("When is phone support open on Saturday?", "From 10:00 to 14:00.", "And on Sunday?"))
    assert c.followup and c.method == "rules"
    assert "connective:and" in c.cues
    assert c.query == "When is phone support open on Sunday?"


def test_english_error_code_slot() -> None:
    c = condense(chat("What does error code E07 mean?", "Overheating.", "What about E12?"))
    assert c.query == "What does error code E12 mean?"


def test_english_pronoun_followup_carries_the_previous_content_words() -> None:
    c = condense(
        chat("How often is the firmware updated?", "Every second Tuesday at 3:00.", "How long does it take?")
    )
    assert c.method == "rules"
    assert "deictic:it" in c.cues
    assert c.query.startswith("How long does it take?")
    assert "firmware" in c.query and "updated" in c.query


def test_question_without_content_words_is_a_followup() -> None:
    c = condense(chat("Where do I register the battery?", "In the SolBox app.", "By when?"))
    assert c.cues == ("no-content-word",)
    assert c.query == "By when? register battery"


def test_standalone_english_question_passes_as_is() -> None:
    turns = chat(
        "When is phone support open on Saturday?", "10:00 to 14:00.", "What does error code E07 mean?"
    )
    c = condense(turns)
    assert (c.method, c.followup, c.cues) == ("as-is", False, ())
    assert c.query == "What does error code E07 mean?"


def test_short_question_with_its_own_topic_is_not_a_followup() -> None:
    # Short, but it names its topic and has no follow-up cue: not merged with the warranty question.
    c = condense(chat("How long is the battery warranty?", "10 years.", "Which Wi-Fi does the app need?"))
    assert c.method == "as-is"
    assert c.query == "Which Wi-Fi does the app need?"


def test_dummy_it_in_a_full_question_is_not_a_followup() -> None:
    c = condense(
        chat("How long is the warranty?", "10 years.", "Is it safe to install the battery in a garage?")
    )
    assert c.method == "as-is"


def test_three_turn_chain_merges_with_the_condensed_previous_question() -> None:
    turns = chat(
        "When is phone support open on Saturday?", "10:00 to 14:00.",
        "And on Sunday?", "Closed.",
        "And on Monday?",
    )  # fmt: skip
    assert condense(turns).query == "When is phone support open on Monday?"


def test_followup_after_a_topic_change_uses_the_nearest_question() -> None:
    turns = chat(
        "How long is the battery warranty?", "10 years.",
        "How often is the firmware updated?", "Monthly.",
        "How long does it take?",
    )  # fmt: skip
    query = condense(turns).query
    assert "firmware" in query and "warranty" not in query


# --- rules, Korean -------------------------------------------------------------------------------


def test_korean_ending_followup_appends_the_previous_nouns() -> None:
    c = condense(chat("솔박스 10의 기본 설치비는 얼마인가요?", "45만 원입니다.", "바닥 거치대는요?"))
    assert c.method == "rules"
    assert "ending:는요" in c.cues
    # kiwi splits 솔박스 into 솔 + 박스; the compound is put back together.
    assert c.query == "바닥 거치대는요? 솔박스 10 기본 설치비"


def test_korean_connective_and_deictic() -> None:
    c = condense(
        chat("반품 신청은 어떻게 하나요?", "앱이나 전화로 합니다.", "그럼 그 번호는 어떻게 생겼나요?")
    )
    assert "connective:그럼" in c.cues and "deictic:그" in c.cues
    assert c.query.endswith("반품 신청")


def test_korean_weekday_slot() -> None:
    c = condense(chat("토요일에도 상담 전화를 받나요?", "네, 10시부터 14시까지입니다.", "그럼 일요일은요?"))
    assert c.query == "일요일에도 상담 전화를 받나요?"


def test_standalone_korean_question_passes_as_is() -> None:
    c = condense(
        chat("배터리 보증 기간은 몇 년인가요?", "10년입니다.", "단순 변심으로 반품하면 운송비는 얼마인가요?")
    )
    assert c.method == "as-is"
    assert c.query == "단순 변심으로 반품하면 운송비는 얼마인가요?"


def test_content_words_korean_uses_kiwi_nouns() -> None:
    assert content_words("솔박스 10의 정격 용량은 얼마인가요?") == ["솔박스", "10", "정격", "용량"]


# --- no history, bad input ---------------------------------------------------------------------------


def test_single_question_without_history_passes_as_is_even_with_a_cue() -> None:
    c = condense([Turn("user", "  And on Sunday?  ")])
    assert (c.query, c.method, c.followup) == ("And on Sunday?", "as-is", False)
    assert c.used == (Turn("user", "  And on Sunday?  "),) and c.dropped == 0


def test_system_turns_and_trailing_assistant_turns_are_not_read() -> None:
    turns = [Turn("system", "Be brief."), *chat("What does error code E07 mean?", "Overheating.", "And E21?")]
    turns.append(Turn("assistant", "Lost connection."))
    c = condense(turns)
    assert c.query == "What does error code E21 mean?"
    assert [t.role for t in c.used] == ["user", "assistant", "user"]


def test_no_user_message_is_a_clear_error() -> None:
    with pytest.raises(ConversationError, match="no user message"):
        condense([Turn("assistant", "Hello"), Turn("user", "   ")])
    with pytest.raises(ConversationError, match="no user message"):
        condense([])


def test_bad_role_and_messages_name_the_item() -> None:
    with pytest.raises(LlmpilotError, match="turn role 'bot'"):
        Turn("bot", "hi")
    with pytest.raises(ConversationError, match=r"messages\[1\]\.role: 'tool'"):
        turns_from_messages([{"role": "user", "content": "a"}, {"role": "tool", "content": "b"}])
    with pytest.raises(ConversationError, match=r"messages\[0\]\.content"):
        turns_from_messages([{"role": "user", "content": 3}])


def test_turns_from_messages_joins_text_parts() -> None:
    turns = turns_from_messages(
        [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "When is"},
                    {"type": "image_url"},
                    {"type": "text", "text": "support open?"},
                ],
            }
        ]
    )
    assert turns == [Turn("user", "When is\nsupport open?")]


# --- history caps ----------------------------------------------------------------------------------


def test_max_turns_caps_the_history_and_says_so() -> None:
    turns = chat(
        "How often is the firmware updated?",
        "Monthly.",
        "When is support open?",
        "9 to 18.",
        "And on Sunday?",
    )
    c = condense(turns, max_turns=3)
    assert c.used == tuple(turns[2:]) and c.dropped == 2
    assert c.query == "And on Sunday? support open"  # the firmware question was never read


def test_max_chars_keeps_whole_turns_newest_first() -> None:
    long_answer = "x" * 300
    turns = chat("How often is the firmware updated?", long_answer, "How long does it take?")
    c = condense(turns, max_chars=200)
    # The 300-character answer does not fit, so nothing older is read either: no earlier question.
    assert c.used == (turns[-1],) and c.dropped == 2
    assert c.method == "as-is" and c.query == "How long does it take?"
    wide = condense(turns, max_chars=400)
    assert wide.dropped == 0 and "firmware" in wide.query


def test_question_longer_than_the_budget_is_read_whole() -> None:
    question = "What about " + "the battery " * 100
    c = condense([Turn("user", question)], max_chars=10)
    assert c.query == question.strip() and c.dropped == 0


def test_invalid_caps_are_errors() -> None:
    with pytest.raises(ConversationError, match="max_turns"):
        condense(chat("hi"), max_turns=0)
    with pytest.raises(ConversationError, match="max_chars"):
        condense(chat("hi"), max_chars=-1)


# --- generator -----------------------------------------------------------------------------------

SATURDAY = chat("When is phone support open on Saturday?", "From 10:00 to 14:00.", "And on Sunday?")


def test_generator_rewrite_is_used_when_it_passes_the_checks() -> None:
    gen = ScriptedGenerator("Standalone question: Is phone support open on Sunday?\nExplanation: ...")
    c = condense(SATURDAY, generator=gen)
    assert (c.method, c.query, c.rejected) == ("generator", "Is phone support open on Sunday?", "")
    assert c.rules_query == "When is phone support open on Sunday?"
    # The prompt holds the whole window and asks for the rewrite only.
    system, user = gen.prompts[0]
    assert system["role"] == "system" and "Output only the rewritten question" in system["content"]
    assert "User: When is phone support open on Saturday?" in user["content"]
    assert "Assistant: From 10:00 to 14:00." in user["content"]
    assert user["content"].rstrip().endswith("Standalone question:")


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ("", "empty"),
        ("   \n  ", "empty"),
        ("I like turtles and bananas very much.", "shares no content word"),
        ("Sunday " * 40, "too long"),
        # Repeats the earlier question: the follow-up's own slot ("Sunday") is lost.
        ("When is phone support open on Saturday?", "drops the last question's own content words"),
    ],
)
def test_garbage_rewrite_falls_back_to_the_rules(reply: str, reason: str) -> None:
    c = condense(SATURDAY, generator=ScriptedGenerator(reply))
    assert c.method == "rules"
    assert c.query == "When is phone support open on Sunday?"
    assert reason in c.rejected
    assert c.rewrite == reply


def test_garbage_rewrite_of_a_standalone_question_falls_back_to_as_is() -> None:
    turns = chat("How long is the warranty?", "10 years.", "What does error code E07 mean?")
    c = condense(turns, generator=ScriptedGenerator("Hello! How can I help you today?"))
    assert (c.method, c.query) == ("as-is", "What does error code E07 mean?")
    assert c.rejected


def test_generator_is_not_asked_without_history() -> None:
    gen = ScriptedGenerator("anything")
    c = condense([Turn("user", "What does error code E07 mean?")], generator=gen)
    assert gen.prompts == [] and c.method == "as-is"


def test_generator_errors_propagate() -> None:
    class Down(ScriptedGenerator):
        def generate(self, messages: Sequence[dict[str, str]], *, max_tokens: int, temperature: float) -> str:
            raise LlmpilotError("generator unreachable")

    with pytest.raises(LlmpilotError, match="unreachable"):
        condense(SATURDAY, generator=Down(""))


def test_rewrite_prompt_contains_only_the_capped_window() -> None:
    turns = chat(
        "How often is the firmware updated?",
        "Monthly.",
        "When is support open?",
        "9 to 18.",
        "And on Sunday?",
    )
    gen = ScriptedGenerator("When is support open on Sunday?")
    c = condense(turns, generator=gen, max_turns=3)
    assert c.method == "generator"
    assert "firmware" not in gen.prompts[0][1]["content"]
    assert rewrite_messages(c.used) == gen.prompts[0]


def test_trace_is_json_able() -> None:
    import json

    c = condense(SATURDAY)
    trace = json.loads(json.dumps(c.trace()))
    assert trace["method"] == "rules" and trace["turns_used"] == 3 and trace["turns_dropped"] == 0
