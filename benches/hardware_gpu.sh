#!/usr/bin/env bash
# Every GPU figure of BENCHMARKS.md in one run, for a machine with a hardware GPU, CUDA PyTorch
# and many cores (the rows that are "unmeasured" on the 2-core development machine):
#   1. queries on the product's GPU path (`nrf bench query --device gpu`) beside PyTorch on CUDA,
#      at 256 × 6 and at the official 8 × 4096 over the 2 mm brain (216 000 points);
#   2. the WGSL kernels against each other and burn-wgpu (`nrf bench render --queries-only`);
#   3. the 3D view's frames per second up to 1920×1080;
#   4. drop → first picture in the viewer's pipeline, embedded and official-size models;
#   5. a training step on the GPU beside PyTorch on CUDA;
#   6. the CPU paths on one thread and on every core, beside PyTorch on every core.
# Each step has its own time limit so that one slow path cannot take the whole run; a step that
# fails or runs out says so and the script goes on. Results go to BENCHMARKS.md by hand.
#
# Needs a release build (cargo build --release, or NRF=path) and python3 with torch (TORCH_PYTHON).
set -uo pipefail
cd "$(dirname "$0")/.."
nrf=${NRF:-target/release/nrf}
python=${TORCH_PYTHON:-python3}
anchors=benches/anchors
cores=$(nproc)

step() {
    local limit=$1
    shift
    echo "## $*"
    local started=$SECONDS
    timeout "$limit" "$@"
    local code=$?
    if [ "$code" -ne 0 ]; then
        echo "(step ended with exit code $code; limit ${limit} s)"
    fi
    echo "(step took $((SECONDS - started)) s)"
}

echo "# $(date -u +%F) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $cores cores"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
step 60 "$nrf" gpu

echo "# 1. Queries: nrf on the GPU beside PyTorch on CUDA (float32, no TF32)"
for size in "256 6 200000" "4096 8 216000"; do
    read -r hidden layers points <<<"$size"
    step 120 "$nrf" bench query --device gpu --hidden "$hidden" --layers "$layers" --points "$points" --repeats 3 --json
    step 120 "$python" "$anchors/torch_nrf_query.py" --device cuda --hidden "$hidden" --layers "$layers" --points "$points" --chunk 65536
done

echo "# 2. WGSL kernels, burn-wgpu and burn on the CPU, same run"
step 120 "$nrf" bench render --queries-only --json
step 120 "$nrf" bench render --queries-only --hidden 1024 --layers 4 --points 20000 --json
step 150 "$nrf" bench render --queries-only --hidden 4096 --layers 8 --points 20000 --json

echo "# 3. The 3D view"
step 150 "$nrf" bench render --frames-only --frames 30 --size 640x480 --size 1280x800 --size 1920x1080 --json

echo "# 4. Drop → first picture, the model on the GPU"
step 120 "$nrf" bench viewer --device gpu --images 4 --json
step 150 "$nrf" bench viewer --device gpu --official-size --images 1 --finest 2 --json

echo "# 5. A training step on the GPU beside PyTorch on CUDA (256 × 6, 32 images × 2000 voxels)"
step 120 "$nrf" bench train --device gpu --json
step 120 "$python" "$anchors/torch_nrf_train_step.py" --device cuda --hidden 256 --layers 6 --images 32 --voxels 2000

echo "# 6. The CPU paths: one thread, every core, PyTorch on every core"
for threads in 1 "$cores"; do
    step 120 "$nrf" bench query --device cpu --threads "$threads" --hidden 256 --layers 6 --points 200000 --json
    step 120 "$nrf" bench train --device cpu --threads "$threads" --json
done
step 120 "$python" "$anchors/torch_nrf_query.py" --threads "$cores" --hidden 256 --layers 6 --points 200000
step 120 "$python" "$anchors/torch_nrf_train_step.py" --threads "$cores" --hidden 256 --layers 6 --images 32 --voxels 2000
