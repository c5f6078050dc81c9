#!/usr/bin/env bash
# Feature extraction speed: `nrf bench features` (built-in extractor, ViT-B/16-sized CLIP) beside
# Hugging Face transformers' CLIP on the same machine in the same run. Results go to BENCHMARKS.md.
#
# Needs a release build and PyTorch + transformers in ~/.cache/torch-bench:
#   ~/.cache/torch-bench/bin/pip install torch numpy transformers
set -euo pipefail
cd "$(dirname "$0")/.."
nrf=${NRF:-target/release/nrf}
python=${TORCH_PYTHON:-$HOME/.cache/torch-bench/bin/python}
batch=${BATCH:-8}
echo "# $(date -u +%F) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
"$nrf" bench features --clip-batch "$batch" --clip-batches 3 --device "${DEVICE:-auto}" --json
if [ -x "$python" ]; then
    "$python" benches/clip_vs_hf.py --batch "$batch" --batches 3
else
    echo "(transformers not available: $python)"
fi
