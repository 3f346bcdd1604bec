"""The demo corpus questions (src/llmpilot/sample_corpus/QUESTIONS.md), shared by the serving benchmarks:
all answerable from the sample corpus."""

DEMO_QUESTIONS = [
    "솔박스 10의 기본 설치비는 얼마인가요?",
    "단순 변심으로 반품하면 운송비는 얼마인가요?",
    "솔박스 10의 무게와 정격 출력은?",
    "How long is the SolBox 10 battery warranty?",
    "What does error code E07 mean?",
    "When is phone support open on Saturday?",
    "배터리 보증 기간은 몇 년인가요?",
]
