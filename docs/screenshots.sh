#!/usr/bin/env bash
# Takes the viewer screenshots in docs/images/ with `nrf view --screenshot … --exit`: what a
# newcomer sees at each step (an image dropped, another subject, a 20-image fine-tune, the ground
# truth, a NIfTI map dropped, the Ask panel's localiser and pRF). Run from the repository root after `cargo build --release`; uses
# xvfb-run when there is no display (about 3 minutes on 2 cores with lavapipe).
set -euo pipefail
cd "$(dirname "$0")/.."
nrf=${NRF:-target/release/nrf}
out=docs/images
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
view() {
    if [ -n "${DISPLAY:-}" ]; then "$nrf" view "$@"; else xvfb-run -a -s "-screen 0 1280x1024x24" "$nrf" view "$@"; fi
}
# A procedural face and a place (the built-in examples), as files a user would drop.
"$nrf" stimuli --out "$work/stimuli" --count 14 > /dev/null
face=$(ls "$work"/stimuli/*_face.png | head -1)
place=$(ls "$work"/stimuli/*_place.png | head -1)

view --image "$face" --subject 1 --screenshot "$out/viewer.png" --exit
view --image "$place" --subject 1 --screenshot "$out/viewer-place.png" --exit
view --image "$face" --subject 4 --screenshot "$out/viewer-subject4.png" --exit
view --image "$face" --subject 1 --truth --screenshot "$out/viewer-truth.png" --exit
view --image "$face" --subject 1 --finetune-from 2 --finetune-images 20 \
    --screenshot "$out/viewer-finetune.png" --exit
# A map from elsewhere, dropped as NIfTI: here subject 4's predicted response to the place at 2 mm.
"$nrf" predict --subject 4 --image "$place" --grid 2 --out "$work/subj04-place.nii.gz" > /dev/null
view --image "$face" --overlay "$work/subj04-place.nii.gz" --screenshot "$out/viewer-overlay.png" --exit
# The Ask panel: a face − place localiser (the crosshair on its top peak, the images driving it,
# its pRF), and the pRF at a left V1 point.
view --image "$face" --subject 1 --localizer face:20 place:20 --screenshot "$out/viewer-localizer.png" --exit
view --image "$face" --subject 1 --prf-at=-6,-64,4 --screenshot "$out/viewer-prf.png" --exit
ls -l "$out"/viewer*.png
