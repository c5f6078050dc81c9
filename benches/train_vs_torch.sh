#!/usr/bin/env bash
# Training speed: `nrf bench train` beside the PyTorch anchor (benches/anchors/torch_nrf_train_step.py),
# 256×6 MLP with a CLIP-sized merger, batch 32 × 2000, same machine, same run. Results go to
# BENCHMARKS.md by hand. Needs a release build and PyTorch in ~/.cache/torch-bench.
set -euo pipefail
cd "$(dirname "$0")/.."
nrf=${NRF:-target/release/nrf}
python=${TORCH_PYTHON:-$HOME/.cache/torch-bench/bin/python}
anchor=${TORCH_ANCHOR:-benches/anchors/torch_nrf_train_step.py}
threads=$(nproc)
echo "# $(date -u +%F) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $threads cores"
"$nrf" bench train --hidden 256 --layers 6 --images 32 --voxels 2000 --steps 3 --device "${DEVICE:-cpu}" --json
if [ -x "$python" ] && [ -f "$anchor" ]; then
    "$python" "$anchor" --hidden 256 --layers 6 --images 32 --voxels 2000 --steps 3 --threads "$threads"
else
    echo "(PyTorch anchor not available: $python / $anchor)"
fi
