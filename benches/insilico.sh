#!/usr/bin/env bash
# The in-silico questions on the embedded model of virtual subject 1, timed as a user runs them:
# a set of 100 images predicted on the 2 mm domain grid, `nrf top` over 1000 library images,
# `nrf prf` and a 20 + 20 image localiser, each first with an empty feature cache (features
# computed) and then again (features read from the cache). Run from the repository root after
# `cargo build --release`; BENCHMARKS.md records the results.
set -euo pipefail
cd "$(dirname "$0")/.."
nrf=${NRF:-target/release/nrf}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cache="$work/cache"
TIMEFORMAT='  wall %R s'

for pass in "empty cache" "cached features"; do
    echo "== $pass"
    echo "predict --images library:100 --grid 2 (100 volumes, uncompressed NIfTI)"
    time "$nrf" predict --images library:100 --grid 2 --out "$work/set.nii" --device cpu --cache "$cache"
    echo "the same, gzipped NIfTI"
    rm -f "$work/set.nii"
    time "$nrf" predict --images library:100 --grid 2 --out "$work/set.nii.gz" --device cpu --cache "$cache"
    echo "top --images library:1000 at the right FFA peak, radius 4 mm"
    time "$nrf" top --point 42,-56,-16 --radius 4 --images library:1000 --device cpu --cache "$cache" --json \
        | python3 -c 'import json,sys; d=json.load(sys.stdin); print("  ranked", d["ranked"], "in", round(d["seconds"], 2), "s")'
    echo "prf at a left V1 point (with the truth's pRF probed too)"
    time "$nrf" prf --point=-9,-86,6 --device cpu --cache "$cache" --json \
        | python3 -c 'import json,sys; d=json.load(sys.stdin); print("  fit in", round(d["seconds"], 2), "s")'
    echo "localizer face:20 vs place:20 on the 2 mm domain grid"
    time "$nrf" localizer --a face:20 --b place:20 --device cpu --cache "$cache" --json \
        | python3 -c 'import json,sys; d=json.load(sys.stdin); print("  t map and peaks in", round(d["seconds"], 2), "s")'
done
