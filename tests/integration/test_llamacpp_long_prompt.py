"""A long (>= 1,500 tokens) Korean + English prompt through the llama-cpp generator, in a subprocess.

llama.cpp builds compiled for the build machine's CPU (GGML_NATIVE=ON) segfault on batched prompt
evaluation on some CPUs. Running in a child process turns such a crash into a test failure that
names the signal, instead of killing the whole test session.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.slow

CHILD = textwrap.dedent(
    """
    import json, sys
    from llama_cpp import Llama
    from llmpilot.config import GeneratorConfig
    from llmpilot.generation.llamacpp import create_llama_cpp
    from llmpilot.generation.models import smollm2_gguf_path

    english = (
        "Retrieval-augmented generation combines a search index with a language model. "
        "Documents are split into chunks, embedded, indexed and retrieved for each question. "
    )
    korean = (
        "검색 증강 생성은 검색 색인과 언어 모델을 결합한다. 문서는 청크로 나뉘고, 임베딩되어 색인된 뒤 "
        "질문마다 검색된다. 한국어와 영어를 모두 지원해야 한다. "
    )
    context = "".join(f"[{i}] " + (korean if i % 2 else english) for i in range(15))
    messages = [
        {"role": "system", "content": "Answer from the context. 문맥에 근거해 답하세요."},
        {"role": "user", "content": context + "\\n\\nQuestion: 문서는 어떻게 처리되나요? How?"},
    ]
    vocab = Llama(model_path=str(smollm2_gguf_path()), vocab_only=True, verbose=False)
    prompt_tokens = sum(len(vocab.tokenize(m["content"].encode(), add_bos=False)) for m in messages)
    vocab.close()
    gen = create_llama_cpp(GeneratorConfig(n_ctx=2048, seed=0))
    answer = gen.generate(messages, max_tokens=16, temperature=0.0)
    print(json.dumps({"prompt_tokens": prompt_tokens, "answer": answer}, ensure_ascii=False))
    """
)


def test_long_korean_english_prompt_does_not_crash() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=300, check=False
    )
    if proc.returncode < 0:
        name = signal.Signals(-proc.returncode).name
        pytest.fail(
            f"llama.cpp crashed with {name} on a long prompt: this llama-cpp-python build is not portable "
            f"to this CPU; rebuild it with CMAKE_ARGS='-DGGML_NATIVE=OFF'.\nstderr:\n{proc.stderr[-2000:]}"
        )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["prompt_tokens"] >= 1500
    assert result["answer"].strip()
