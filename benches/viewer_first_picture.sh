#!/usr/bin/env bash
# Drop → first picture in the viewer's own pipeline (`nrf bench viewer`), the levels planned from
# the model's measured cost beside the fixed 8 → 4 → 2 → 1 mm levels of before, same run: the
# embedded default model, and an official-size model (MLP 8 × 4096 on a ViT-B/16 CLIP tower,
# random weights; nothing is read or downloaded). Results go to BENCHMARKS.md by hand.
#
# Needs a release build (cargo build --release). DEVICE=gpu times the model on the GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
nrf=${NRF:-target/release/nrf}
device=${DEVICE:-cpu}
echo "# $(date -u +%F) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, --device $device"
for schedule in planned fixed; do
    echo "## embedded default model, $schedule levels"
    "$nrf" bench viewer --device "$device" --images 8 --schedule "$schedule" --json
done
for schedule in planned fixed; do
    echo "## official size (8 × 4096, ViT-B/16), $schedule levels, down to 8 mm"
    "$nrf" bench viewer --device "$device" --official-size --images 1 --finest 8 --schedule "$schedule" --json
done
