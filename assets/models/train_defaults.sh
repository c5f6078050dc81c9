#!/usr/bin/env bash
# Reproduces the embedded default models: eight virtual subjects (nrf simulate, seed 1,
# 1000 images each, 100 shared for validation), one small NRF per subject on the built-in
# features. Run from the repository root after `cargo build --release`; takes about 35 minutes on
# 2 cores. Writes assets/models/subjNN.nrf and assets/models/scores.tsv.
set -euo pipefail
cd "$(dirname "$0")/../.."
nrf=${NRF:-target/release/nrf}
data=${DATA:-$HOME/.cache/nrf/virtual-seed1}
if [ ! -f "$data/virtual/simulation.json" ]; then
    "$nrf" simulate --out "$data" --subjects 8 --images 1000 --shared 100 --seed 1
fi
printf 'subject\tval_median_r\n' > assets/models/scores.tsv.partial
for n in 1 2 3 4 5 6 7 8; do
    out=assets/models/subj0$n.nrf
    "$nrf" train --data "$data" --subject "$n" --out "$out" --features builtin \
        --width 128 --layers 4 --merged 64 --token-proj 16 \
        --voxels-per-image 500 --epochs 20 --patience 3 --seed "$n" --device cpu
    r=$("$nrf" eval --model "$out" --data "$data" --subject "$n" --json --device cpu | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["r"]["median"], 4))')
    printf 'subj0%s\t%s\n' "$n" "$r" >> assets/models/scores.tsv.partial
done
mv assets/models/scores.tsv.partial assets/models/scores.tsv
