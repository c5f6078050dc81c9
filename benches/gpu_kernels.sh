#!/usr/bin/env bash
# The GPU query kernels against each other and against burn, same run, on whatever adapter
# `nrf gpu` finds: the fused kernel (narrow models only), the workgroup-tiled and the layered
# per-layer kernels, burn-wgpu on the same adapter, and burn on the CPU. Widths 128 (the embedded
# models' size), 1024 and 4096 (the official size, 8 layers). Compile time is excluded (each
# line says the first run's time). Results go to BENCHMARKS.md by hand.
#
# Needs a release build (cargo build --release). POINTS_WIDE sets the points for 4096 wide
# (default 512: seconds on a software adapter; a hardware GPU takes 216000, the 2 mm brain).
set -euo pipefail
cd "$(dirname "$0")/.."
nrf=${NRF:-target/release/nrf}
wide=${POINTS_WIDE:-512}
echo "# $(date -u +%F) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
"$nrf" gpu
echo "## embedded model (MLP 4 × 128), every point of the 2 mm grid"
"$nrf" bench render --queries-only
echo "## MLP 4 × 1024, 20000 points"
"$nrf" bench render --queries-only --hidden 1024 --layers 4 --points 20000
echo "## MLP 8 × 4096 (official size), $wide points"
"$nrf" bench render --queries-only --hidden 4096 --layers 8 --points "$wide"
