#!/usr/bin/env bash
# Where the NRF might lose for want of tuning (issue 20, item 5): a small sweep of the NRF's
# epochs, capacity, merged-latent size, learning rate and Fourier scale (σ of B), trained on all 900
# images of one subject and scored on the VALIDATION split only (the test split is never read
# here, so choosing from this table does not touch the test scores). Writes
# docs/experiments/results/GENERATOR/sweep-*.json; report.py tabulates them.
#
# Run from the repository root after `cargo build --release` and docs/experiments/run.sh's
# simulation (it reuses the same data and (a)'s all-image NRF as the baseline). About 30 minutes
# per generator on 2 cores.
#   NRF=path/to/nrf  GENERATORS="steerable gabor"  SUBJECT=1  ./docs/experiments/sweep.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
nrf=${NRF:-target/release/nrf}
generators=${GENERATORS:-"steerable gabor"}
subject=${SUBJECT:-1}

# name|options: the baseline is (a)'s NRF with all training images (run.sh: the embedded models'
# architecture, up to 150 epochs, patience 5); each other row changes one thing.
schedule="--epochs 150 --patience 5"
variants=(
    "base|--width 128 --layers 4 --merged 64 --token-proj 16 $schedule"
    "wide256x6|--width 256 --layers 6 --merged 64 --token-proj 16 $schedule"
    "merged128tp128|--width 128 --layers 4 --merged 128 --token-proj 128 $schedule"
    "lr1e-3|--width 128 --layers 4 --merged 64 --token-proj 16 $schedule --lr 0.001"
    "fourier16|--width 128 --layers 4 --merged 64 --token-proj 16 $schedule --fourier-scale 16"
    "fourier64|--width 128 --layers 4 --merged 64 --token-proj 16 $schedule --fourier-scale 64"
)

for generator in $generators; do
    data=${DATA_ROOT:-$HOME/.cache/nrf}/virtual-seed1-$generator
    out=docs/experiments/results/$generator
    work=${WORK:-$HOME/.cache/nrf/experiments}/$generator
    mkdir -p "$out" "$work"
    [ -f "$data/virtual/simulation.json" ] || {
        echo "no simulation at $data: run docs/experiments/run.sh first" >&2
        exit 1
    }
    for variant in "${variants[@]}"; do
        name=${variant%%|*}
        options=${variant#*|}
        json="$out/sweep-s$subject-$name.json"
        [ -f "$json" ] && continue
        model="$work/sweep-s$subject-$name.nrf"
        # The baseline is (a)'s model when run.sh has trained it.
        if [ "$name" = base ] && [ -f "$work/a-nrf-s$subject-all.nrf" ]; then
            model="$work/a-nrf-s$subject-all.nrf"
        fi
        if [ ! -f "$model" ]; then
            echo "== $generator: sweep $name"
            # The trainer's last line says where its best validation epoch fell.
            # shellcheck disable=SC2086
            "$nrf" train --data "$data" --subject "$subject" --voxels-per-image 500 --seed 1 \
                --device cpu $options --out "$model.partial" 2>&1 | tail -1 | tee "$model.txt"
            mv "$model.partial" "$model"
        fi
        "$nrf" eval --model "$model" --data "$data" --subject "$subject" --split validation \
            --json --device cpu > "$json.partial"
        mv "$json.partial" "$json"
    done
done
