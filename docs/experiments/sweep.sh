#!/usr/bin/env bash
# Where the NRF might lose for want of tuning (issue 20, item 5): a small sweep of the NRF's
# capacity, merged-latent size, learning rate and Fourier scale (σ of B), trained on 20 and on all
# 900 images of one subject (as (a) trains them) and scored on the VALIDATION split only (the test
# split is never read here, so choosing from this table does not touch the test scores). Writes
# docs/experiments/results/GENERATOR/sweep-*.json; report.py tabulates them.
#
# Run from the repository root after `cargo build --release` and docs/experiments/run.sh's
# simulation (it reuses the same data, and (a)'s NRFs as the baselines). About 40 minutes per
# generator on 2 cores (the 256 × 6 MLP on all images is a third of it).
#   NRF=path/to/nrf  GENERATORS="steerable gabor"  SUBJECT=1  SIZES="all 20" \
#       ./docs/experiments/sweep.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
nrf=${NRF:-target/release/nrf}
generators=${GENERATORS:-"steerable gabor"}
subject=${SUBJECT:-1}

# name|options: the baseline is (a)'s NRF (run.sh: the embedded models' architecture, its
# schedule for the training-set size); each other row changes one thing.
arch="--width 128 --layers 4 --merged 64 --token-proj 16"
variants=(
    "base|$arch"
    "wide256x6|--width 256 --layers 6 --merged 64 --token-proj 16"
    "merged128tp128|--width 128 --layers 4 --merged 128 --token-proj 128"
    "lr1e-3|$arch --lr 0.001"
    "fourier16|$arch --fourier-scale 16"
    "fourier64|$arch --fourier-scale 64"
)
# Training images (run.sh's sizes where the NRF is closest to a baseline) and run.sh's schedule
# for each.
sizes=${SIZES:-"all 20"}
schedule() {
    case "$1" in
        20) echo "--images 20 --epochs 400 --validate-every 10 --patience 4" ;;
        all) echo "--epochs 150 --patience 5" ;;
        *) echo "sweep.sh: no schedule for $1 images" >&2; exit 1 ;;
    esac
}

for generator in $generators; do
    data=${DATA_ROOT:-$HOME/.cache/nrf}/virtual-seed1-$generator
    out=docs/experiments/results/$generator
    work=${WORK:-$HOME/.cache/nrf/experiments}/$generator
    mkdir -p "$out" "$work"
    [ -f "$data/virtual/simulation.json" ] || {
        echo "no simulation at $data: run docs/experiments/run.sh first" >&2
        exit 1
    }
    for size in $sizes; do
        for variant in "${variants[@]}"; do
            name=${variant%%|*}
            options="${variant#*|} $(schedule "$size")"
            json="$out/sweep-s$subject-$size-$name.json"
            [ -f "$json" ] && continue
            model="$work/sweep-s$subject-$size-$name.nrf"
            # The baseline is (a)'s model when run.sh has trained it.
            if [ "$name" = base ] && [ -f "$work/a-nrf-s$subject-$size.nrf" ]; then
                model="$work/a-nrf-s$subject-$size.nrf"
            fi
            if [ ! -f "$model" ]; then
                echo "== $generator: sweep $name, $size images"
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
done
