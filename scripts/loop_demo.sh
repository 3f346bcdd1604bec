#!/usr/bin/env bash
# The improvement loop on the demo corpus, against a running `llmpilot serve` (docs/MONITORING.md):
# serve → a user's correction → review → the eval set grows → monitor run → re-optimize → shadow
# traffic → verdict → promote (the server swaps config versions while serving) → rollback is one
# command away. Offline, no model: the answerer is `extractive`, retrieval keyword-only.
#
# The live config starts with a plausible mistake for a Korean service — BM25 over whitespace tokens
# ("보증기간이" never matches "보증 기간") — so that the loop has something to find and fix.
# Needs the core install (`make demo` or `scripts/setup.sh core`). Safe to run again (starts afresh).
set -euo pipefail
cd "$(dirname "$0")/.."
LP=.venv/bin/llmpilot
PY=.venv/bin/python
DIR=${LOOP_DIR:-loop-demo}
PORT=${LOOP_PORT:-8765}
URL="http://127.0.0.1:$PORT"
CORRECTED="보증기간이 어떻게 되나요?"
ABSTAINED="에러 코드 E07은 무슨 뜻인가요?"

say() { printf '\n== %s\n' "$*"; }
ask() {  # ask KEY QUESTION -> prints trace id, abstained, cited documents and the answer's start
  curl -sf "$URL/api/ask" -H "Authorization: Bearer $1" -H 'Content-Type: application/json' \
    -d "$($PY -c 'import json,sys; print(json.dumps({"question": sys.argv[1]}))' "$2")" |
    $PY -c 'import json,sys; a=json.load(sys.stdin); print(json.dumps({"trace_id": a["trace_id"], "abstained": a["abstained"], "cited": [c["doc_id"] for c in a["citations"]], "answer": a["answer"][:90]}, ensure_ascii=False))'
}
trace_of() { $PY -c 'import json,sys; print(json.loads(sys.argv[1])["trace_id"])' "$1"; }

rm -rf "$DIR"
$LP init --generator extractive "$DIR" >/dev/null
$PY - "$DIR" <<'EOF'
import sys
from pathlib import Path
from llmpilot.config import update_config_file
update_config_file(Path(sys.argv[1]) / "llmpilot.yaml", {
    "retrieval": {"mode": "keyword", "top_k": 3},
    "index": {"keyword": {"tokenizer": "whitespace"}},
    "answer": {"abstain_below": 0.05, "followups": 0},
})
EOF
sample=$($PY -c "import llmpilot, pathlib; print(pathlib.Path(llmpilot.__file__).parent / 'sample_corpus')")
mkdir -p "$DIR/docs" "$DIR/eval"
cp -r "$sample"/. "$DIR/docs/"
rm -f "$DIR/docs/QUESTIONS.md"
cp examples/monitoring-loop/eval-seed.jsonl "$DIR/eval/questions.jsonl"

say "ingest (the folder is watched: \`llmpilot sync\` re-reads it)"
$LP ingest -p "$DIR" "$DIR/docs" --no-progress >/dev/null
ADMIN=$($LP keys create -p "$DIR" --tenant default --role admin --name ops 2>/dev/null)
USER_KEY=$($LP keys create -p "$DIR" --tenant default --role user --name kim 2>/dev/null)

say "baseline: monitor run on the eval set (6 items from QUESTIONS.md)"
$LP monitor run -p "$DIR"

say "serve"
$LP serve -p "$DIR" --port "$PORT" --rate-limit 0 >"$DIR/serve.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do curl -sf "$URL/api/health" >/dev/null && break; sleep 0.5; done

say "a user asks; the live config retrieves the wrong FAQ row and cannot answer"
first=$(ask "$USER_KEY" "$CORRECTED"); echo "$first"
trace=$(trace_of "$first")
say "thumbs-down and a correction"
for body in "{\"trace_id\": \"$trace\", \"signal\": \"thumbs_down\"}" \
            "{\"trace_id\": \"$trace\", \"signal\": \"correction\", \"correction\": \"배터리 보증 기간은 10년입니다.\"}"; do
  curl -sf "$URL/api/feedback" -H "Authorization: Bearer $USER_KEY" -H 'Content-Type: application/json' -d "$body" >/dev/null
done
say "a question the live config cannot answer at all"
ask "$USER_KEY" "$ABSTAINED"

say "review: the correction is queued by the server; abstained questions by \`review collect\`"
$LP review collect -p "$DIR"
$LP review list -p "$DIR"
ids=$($LP review list -p "$DIR" --json | $PY -c 'import json,sys; print(" ".join(str(i["id"]) for i in json.load(sys.stdin)))')
set -- $ids
$LP review approve "$1" -p "$DIR" --doc-id "docs/faq.csv#faq-09" --as reviewer
$LP review approve "$2" -p "$DIR" --answer "과열: 내부 온도 60 °C 초과 시 정지" --doc-id docs/safety.html --as reviewer
echo "eval set: $(wc -l <"$DIR/eval/questions.jsonl") items"; tail -n 1 "$DIR/eval/questions.jsonl"

say "monitor run on the grown eval set (compared with the baseline, item by item)"
$LP monitor run -p "$DIR" || true

say "re-optimize on the grown eval set → a candidate config version"
$LP deploy reoptimize -p "$DIR" --space examples/monitoring-loop/space.yaml --out "$DIR/reports/reoptimize" \
  --workdir "$DIR/.bench" --no-progress
$LP deploy list -p "$DIR"

say "shadow: live traffic is answered again by the candidate (users still get the live answer)"
$LP deploy shadow 2 -p "$DIR"
sleep 3
for _ in 1 2 3; do
  for q in "$CORRECTED" "$ABSTAINED" "보증기간은요?" "솔박스 10의 무게와 정격 출력은?"; do ask "$USER_KEY" "$q" >/dev/null; done
done
sleep 3
$LP deploy report -p "$DIR"

say "promote: llmpilot.yaml becomes version 2; the running server swaps within seconds"
$LP deploy promote 2 -p "$DIR" --as reviewer
sleep 4
say "the corrected question, answered by version 2 from the right FAQ row"
ask "$USER_KEY" "$CORRECTED"
curl -sf "$URL/metrics" -H "Authorization: Bearer $ADMIN" | grep -E '^llmpilot_config_version|^llmpilot_requests_total' | head -n 6

say "drift: this hour's questions against the eval set's"
$PY -c 'import json,sys; [print(json.dumps({"id": json.loads(l)["id"], "text": json.loads(l)["question"]}, ensure_ascii=False)) for l in open(sys.argv[1])]' \
  "$DIR/eval/questions.jsonl" >"$DIR/eval/baseline-queries.jsonl"
$LP monitor drift -p "$DIR" --baseline "$DIR/eval/baseline-queries.jsonl" --current "traces:-1h..now" --json "$DIR/drift.json" || true

say "history (every version kept; \`llmpilot deploy rollback\` goes back)"
$LP deploy list -p "$DIR"
echo; echo "dashboard: $URL/admin/monitor and review queue: $URL/admin/review (sign in with the admin key)"
