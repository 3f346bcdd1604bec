#!/usr/bin/env bash
# Adapting the model, end to end on the demo project (`make adapt-demo`; needs the `all` install, which
# this script makes): ask the advisor, fine-tune SmolLM2-135M with LoRA on a Korean house style
# (examples/support-chat-ko) on the project's served prompt, register and export the adapter, answer
# through llama.cpp with it, compare the four strategies and ask the advisor again with the measurement.
# Small sizes so it finishes in minutes on 2 cores; absolute quality of a 135M model is low.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh all
LP=.venv/bin/llmpilot
DEMO=${DEMO_DIR:-demo-project}
OUT=${ADAPT_DIR:-adapt-demo}
DATA=examples/support-chat-ko
mkdir -p "$OUT"
[ -f "$DEMO/llmpilot.yaml" ] || DEMO_DIR="$DEMO" bash scripts/demo.sh

echo "== advise: how to build a Korean support chatbot with a house style?"
$LP advise --use-case customer-service --json "$OUT/advice.json"

# The served config of the fine-tuned model: llama.cpp with the adapter, and a short context, since
# SmolLM2 spends ~2 tokens per Korean character. The fine-tune trains on this config's prompt.
.venv/bin/python - "$DEMO" <<'PY'
import sys
from pathlib import Path

import yaml

demo = Path(sys.argv[1])
config = yaml.safe_load((demo / "llmpilot.yaml").read_text(encoding="utf-8"))
config["generator"] = {"name": "llama-cpp", "adapter": "adapters/house.gguf", "max_tokens": 96, "temperature": 0.0}
config["prompt"] = {**config.get("prompt", {}), "max_context_chars": 400}
config["retrieval"] = {**config.get("retrieval", {}), "top_k": 2}
config.setdefault("cache", {})["enabled"] = False
(demo / "llmpilot-house.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
PY

echo; echo "== fine-tune SmolLM2-135M with LoRA on the house style, on the served RAG prompt"
$LP finetune -p "$DEMO/llmpilot-house.yaml" --dataset "$DATA" --with-context --base smollm2-135m \
  --method lora --epochs 3 --batch-size 2 --max-length 1024 --threads 1 --out "$DEMO/adapters/house" \
  --name house --json "$OUT/finetune.json"
$LP adapters list -p "$DEMO"

echo; echo "== export the adapter for llama.cpp and answer with it on the quantized base"
$LP adapters export --adapter "$DEMO/adapters/house" --gguf "$DEMO/adapters/house.gguf"
$LP ask -p "$DEMO/llmpilot-house.yaml" "반품은 언제까지 신청할 수 있나요?"

echo; echo "== the four strategies on one held-out split (report: $OUT/strategies/report.html)"
$LP strategies --dataset "$DATA" --task chat --out "$OUT/strategies" --test-size 8 --val-size 3 \
  --max-steps 8 --batch-size 2 --max-tokens 64 --threads 1

echo; echo "== advise again, with the measured comparison"
$LP advise --use-case customer-service --dataset "$OUT/strategies" --json "$OUT/advice-measured.json"
echo; echo "outputs: $OUT/ (advice, finetune.json, strategies/report.html); adapter: $DEMO/adapters/house"
