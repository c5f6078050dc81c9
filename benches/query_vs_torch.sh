#!/usr/bin/env bash
# NRF query speed: `nrf bench query` beside the PyTorch anchor (benches/anchors/torch_nrf_query.py),
# same sizes, same machine, same run. Results go to BENCHMARKS.md by hand, with machine and date.
#
# Needs a release build (cargo build --release) and PyTorch in ~/.cache/torch-bench:
#   python3 -m venv ~/.cache/torch-bench && ~/.cache/torch-bench/bin/pip install torch numpy
set -euo pipefail
cd "$(dirname "$0")/.."
nrf=${NRF:-target/release/nrf}
python=${TORCH_PYTHON:-$HOME/.cache/torch-bench/bin/python}
anchor=${TORCH_ANCHOR:-benches/anchors/torch_nrf_query.py}
threads=$(nproc)

echo "# $(date -u +%F) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $threads cores"
for size in "256 6 200000" "4096 8 20000"; do
    read -r hidden layers points <<<"$size"
    echo "## width $hidden × $layers layers, $points points"
    "$nrf" bench query --hidden "$hidden" --layers "$layers" --points "$points" --device "${DEVICE:-auto}" --json
    if [ -x "$python" ] && [ -f "$anchor" ]; then
        "$python" "$anchor" --hidden "$hidden" --layers "$layers" --points "$points" --threads "$threads"
    else
        echo "(PyTorch anchor not available: $python / $anchor)"
    fi
done
