#!/usr/bin/env bash
# Fuzzes every reader nrf has (src/formats.rs) with libFuzzer, one target after another.
#
#   fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]     (default 600 s, every target)
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`). Each target starts
# from the committed seeds in fuzz/seeds/<target>/ plus files from tests/data; what it learns
# stays in fuzz/corpus/<target>/ (not committed), crashes land in fuzz/artifacts/<target>/, and
# the last lines of each run (runs done, coverage) in fuzz/logs/<target>.log. A finding becomes a
# regression case in tests/data/fuzz-regressions/<target>/, which the mutation tests replay.
# Allocations above 512 MiB (1 GiB for images) count as findings (-malloc_limit_mb), as do runs
# over 30 s.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-600}"
shift || true
all=(nifti nifti_pair npy nrf_model official_checkpoint run_config stimulus_hdf5 image plain_table atlas_names)
targets=("${@:-${all[@]}}")
data=../tests/data

seed() {
    local target="$1"
    shift
    mkdir -p "corpus/$target"
    cp -n seeds/"$target"/* "corpus/$target/" 2>/dev/null || true
    for file in "$@"; do
        cp -n "$file" "corpus/$target/" 2>/dev/null || true
    done
}
seed nifti "$data/nifti/standard.nii.gz" "$data/nifti/example_nifti2.nii.gz"
seed nifti_pair
seed npy "$data/nrf-official/B.npy" "$data/nrf-official/coords_mni_mm.npy" \
    "$data/nsd-processed/validation_idx.npy" \
    "$data/nsd-processed/roi_response_average/subj01/image_order.npy"
seed nrf_model
seed official_checkpoint "$data/nrf-official/best_model/best_NRF_model.pth.tar"
seed run_config "$data/nrf-official/experiment_config.yaml"
seed stimulus_hdf5
seed image "$data"/legal-images/*.png "$data"/legal-images/*.jpg "$data"/legal-images/*.gif
seed plain_table
seed atlas_names
for found in "$data"/fuzz-regressions/*/; do
    seed "$(basename "$found")" "$found"*
done

mkdir -p logs
for target in "${targets[@]}"; do
    echo "fuzzing $target for $seconds s"
    status=0
    # Images may claim up to 100 megapixels, which nrf accepts by design: a 16-bit RGBA one needs
    # 800 MB. Every other reader must stay under 512 MB.
    malloc_limit=512
    [[ "$target" == image ]] && malloc_limit=1024
    cargo +nightly fuzz run "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -malloc_limit_mb="$malloc_limit" -rss_limit_mb=4096 -timeout=30 \
        -print_final_stats=1 >"logs/$target.log" 2>&1 || status=$?
    tail -n 4 "logs/$target.log"
    if ((status != 0)); then
        echo "$target: finding (exit $status), see fuzz/logs/$target.log and fuzz/artifacts/$target/"
    fi
done
