#!/usr/bin/env bash
# The paper's three experiments on virtual subjects; writes docs/experiments/results/*.json and
# then docs/results.md with its plots (docs/experiments/report.py, needs matplotlib).
#
#   (a) data efficiency: NRF vs voxel-wise ridge at 20 / 200 / 800 / all training images
#   (b) cross-subject: fine-tune from other subjects' models (one, and three + ensemble) vs
#       training from scratch, at 20 and 200 images
#   (c) super-resolution: NRF at a 0.9 mm grid between the 1.8 mm voxels vs trilinear ridge,
#       against the noise-free truth
#
# Run from the repository root after `cargo build --release`. Resumable: results already on disk
# are kept. About 45 minutes on 2 cores for the default target subject.
#   NRF=path/to/nrf  DATA=simulated-data-folder  TARGET=1  ./docs/experiments/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
nrf=${NRF:-target/release/nrf}
data=${DATA:-$HOME/.cache/nrf/virtual-seed1}
target=${TARGET:-1}
sources=${SOURCES:-"2 3 4"}
out=docs/experiments/results
work=${WORK:-$HOME/.cache/nrf/experiments}
mkdir -p "$out" "$work"
if [ ! -f "$data/virtual/simulation.json" ]; then
    "$nrf" simulate --out "$data" --subjects 8 --images 1000 --shared 100 --seed 1
fi
# The embedded default models' architecture (see assets/models/train_defaults.sh).
arch=(--width 128 --layers 4 --merged 64 --token-proj 16)
common=(--data "$data" --subject "$target" --voxels-per-image 500 --seed 1 --device cpu)

# Epochs by training-set size: small sets get more (shorter) epochs and are validated every few
# epochs (patience counts validations).
schedule() {
    case "$1" in
        20) echo "--epochs 400 --validate-every 10 --patience 4" ;;
        200) echo "--epochs 60 --validate-every 3 --patience 3" ;;
        *) echo "--epochs 20 --patience 3" ;;
    esac
}
images_arg() { [ "$1" = all ] && true || echo "--images $1"; }

# eval_json NAME MODEL: scores MODEL on the target's held-out images into $out/NAME.json.
eval_json() {
    "$nrf" eval --model "$2" --data "$data" --subject "$target" --json --device cpu > "$out/$1.json.partial"
    mv "$out/$1.json.partial" "$out/$1.json"
}

echo "== (a) data efficiency, subj0$target"
for n in 20 200 800 all; do
    name=a-nrf-s$target-$n
    if [ ! -f "$out/$name.json" ]; then
        # shellcheck disable=SC2046
        "$nrf" train "${common[@]}" "${arch[@]}" $(images_arg $n) $(schedule $n) --out "$work/$name.nrf"
        eval_json "$name" "$work/$name.nrf"
    fi
    name=a-ridge-s$target-$n
    if [ ! -f "$out/$name.json" ]; then
        # shellcheck disable=SC2046
        "$nrf" ridge --data "$data" --subject "$target" --seed 1 $(images_arg $n) --json > "$out/$name.json.partial"
        mv "$out/$name.json.partial" "$out/$name.json"
    fi
done

echo "== (b) cross-subject, target subj0$target, sources $sources"
first=${sources%% *}
name=b-zeroshot-s$target-from$first
[ -f "$out/$name.json" ] || eval_json "$name" "assets/models/subj0$first.nrf"
for n in 20 200; do
    name=b-finetune-s$target-$n-from$first
    if [ ! -f "$out/$name.json" ]; then
        # shellcheck disable=SC2046
        "$nrf" finetune "${common[@]}" --from "assets/models/subj0$first.nrf" --images "$n" $(schedule $n) --out "$work/$name.nrf"
        # An untouched source (no epoch beat it) is not written: score the source then.
        if [ -f "$work/$name.nrf" ]; then eval_json "$name" "$work/$name.nrf"; else eval_json "$name" "assets/models/subj0$first.nrf"; fi
    fi
    name=b-ensemble-s$target-$n
    if [ ! -f "$out/$name.json" ]; then
        from=()
        for s in $sources; do from+=(--from "assets/models/subj0$s.nrf"); done
        # shellcheck disable=SC2046
        "$nrf" finetune "${common[@]}" "${from[@]}" --ensemble --images "$n" $(schedule $n) --out "$work/$name.nrf"
        eval_json "$name" "$work/$name.nrf"
    fi
done

echo "== (c) super-resolution, subj0$target"
name=c-superres-s$target
if [ ! -f "$out/$name.json" ]; then
    "$nrf" superres --model "$work/a-nrf-s$target-all.nrf" --data "$data" --subject "$target" --seed 1 --json --device cpu > "$out/$name.json.partial"
    mv "$out/$name.json.partial" "$out/$name.json"
fi

python3 docs/experiments/report.py "$out" docs/results.md
