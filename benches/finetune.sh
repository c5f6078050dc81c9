#!/usr/bin/env bash
# A 20-image fine-tune as the viewer runs it (embedded subject 2's model onto virtual subject 1,
# 500 voxels per image, one step per epoch, validated every 10 epochs), 100 epochs without early
# stopping so both runs do the same work: the training step on the direct CPU path, then all in
# burn (NRF_CPU_KERNEL=burn). Run from the repository root after `cargo build --release`;
# BENCHMARKS.md records the results.
set -euo pipefail
cd "$(dirname "$0")/.."
nrf=${NRF:-target/release/nrf}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "# $(date -u +%F) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
"$nrf" simulate --out "$work/sim" --subjects 1 --images 300 --shared 100 --seed 1 > /dev/null
run() {
    local started=$SECONDS
    "$nrf" finetune --from assets/models/subj02.nrf --data "$work/sim" --subject 1 --images 20 \
        --voxels-per-image 500 --epochs 100 --validate-every 10 --patience 100 --seed 1 \
        --cache "$work/cache" --device cpu --out "$work/tuned-$1.nrf" 2>&1 | grep -E "best|wrote|unchanged" | tail -2
}
run warm-cache > /dev/null # features into the cache
TIMEFORMAT='  wall %R s'
echo "direct CPU training step"
time run direct
echo "burn autodiff (NRF_CPU_KERNEL=burn)"
time NRF_CPU_KERNEL=burn run burn
