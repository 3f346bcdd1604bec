#!/usr/bin/env bash
# Installs llmpilot into .venv. One argument, the profile:
#   core  what `make demo` needs: the core install (no torch, no Ray; ~0.7 GB)
#   all   what `make test` and `make lint` need: every extra plus the dev tools (the default)
# Idempotent: each profile stamps a hash of pyproject.toml + this script; a second run with nothing
# changed returns in about a second. `all` includes `core`, so a current `all` install serves both.
set -euo pipefail
cd "$(dirname "$0")/.."

PROFILE=${1:-all}
case "$PROFILE" in
  core) TARGET="." ;;
  all) TARGET=".[all,dev]" ;;
  *) echo "usage: scripts/setup.sh [core|all]" >&2; exit 2 ;;
esac

PY=${PYTHON:-python3.11}
VENV=.venv
LLAMA_VERSION=0.3.36
TORCH_VERSION=2.13.0
WHEEL_CACHE=${LLMPILOT_WHEEL_CACHE:-$HOME/.cache/llmpilot/wheels}
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)

current() { [ -f "$VENV/.llmpilot-installed-$1" ] && [ "$(cat "$VENV/.llmpilot-installed-$1")" = "$want" ]; }
if current "$PROFILE" || current all; then
  exit 0
fi

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP="$VENV/bin/python -m pip"
$PIP install -q --upgrade pip wheel setuptools

# torch first and pinned: this version is a local CPU build; an unpinned torch pulls CUDA.
# Only the extras need it (english, eval, optimize, finetune); the core never imports it.
if [ "$PROFILE" = all ] &&
  ! $VENV/bin/python -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" 2>/dev/null; then
  echo "[setup] installing torch==$TORCH_VERSION (CPU)"
  $PIP install -q "torch==$TORCH_VERSION"
fi

# llama-cpp-python is a core dependency that pip would build natively, and the native build
# crashes on multi-token prompts on AVX-512/AMX CPUs. So build it portable (~3 min, once; the
# wheel is cached outside the repo) and install it before pip sees the requirement: pip keeps it.
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

# Debian packages: Chromium + ChromeDriver (browser tests), CJK fonts, WordNet (METEOR); root only.
# The demo needs none of them.
if [ "$PROFILE" = all ]; then
  bash scripts/install_debian_deps.sh || echo "[setup] warning: Debian packages missing; browser and METEOR tests will be skipped"
fi

echo "[setup] installing llmpilot ($PROFILE: $TARGET)"
$PIP install -q -e "$TARGET"

echo "$want" > "$VENV/.llmpilot-installed-$PROFILE"
echo "[setup] done: $VENV ($PROFILE)"
