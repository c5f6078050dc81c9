"""Figures of docs/virtual-subjects.md, made with the nrf binary (nothing here is part of nrf).

    python3 docs/figures/virtual_subjects.py --nrf target/release/nrf --data /tmp/sim8

Needs numpy, nibabel, matplotlib and pillow. `--data` is a folder written by
`nrf simulate --seed 1` (the truth maps use its subjects 1 and 2).
"""
import argparse
import subprocess
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import nibabel as nib
import numpy as np
from PIL import Image

OUT = Path(__file__).resolve().parent.parent / "images"
CATEGORIES = ["face", "place", "object", "body", "text", "texture", "grating"]


def run(*args):
    subprocess.run([str(a) for a in args], check=True, stdout=subprocess.DEVNULL)


def stimuli_grid(nrf, work):
    tiles = []
    for category in CATEGORIES:
        folder = work / category
        run(nrf, "stimuli", "--out", folder, "--count", 4, "--category", category, "--seed", 1)
        tiles.append([Image.open(p).convert("RGB") for p in sorted(folder.glob("*.png"))])
    size = 150
    grid = Image.new("RGB", (4 * size, len(tiles) * size), "white")
    for row, images in enumerate(tiles):
        for col, image in enumerate(images):
            grid.paste(image.resize((size, size), Image.LANCZOS), (col * size, row * size))
    grid.save(OUT / "stimuli.png", optimize=True)


def truth_figure(nrf, data, work):
    run(nrf, "template", "--out", work / "t1.nii.gz", "--spacing", 2)
    t1 = nib.load(work / "t1.nii.gz")
    anatomy = t1.get_fdata()
    to_voxel = np.linalg.inv(t1.affine)
    # One example image per row: a face, a place and a grating.
    examples = []
    for category in ["face", "place", "grating"]:
        folder = work / f"example-{category}"
        run(nrf, "stimuli", "--out", folder, "--count", 1, "--category", category, "--seed", 1, "--first", 7)
        examples.append((category, next(folder.glob("*.png"))))
    # Slices through the ventral and lateral visual cortex (MNI mm).
    cuts = [("axial z = -14", 2, -14), ("sagittal x = 40", 0, 40), ("coronal y = -80", 1, -80)]
    subjects = [1, 2]
    fig, axes = plt.subplots(len(examples), 1 + len(cuts) * len(subjects), figsize=(15, 2.2 * len(examples)))
    for row, (category, image) in enumerate(examples):
        axes[row, 0].imshow(Image.open(image))
        axes[row, 0].set_title(category, fontsize=9)
        column = 1
        for subject in subjects:
            out = work / f"truth-{category}-{subject}.nii.gz"
            run(nrf, "truth", "--data", data, "--subject", subject, "--image", image, "--grid", 2, "--out", out)
            values = nib.load(out).get_fdata()
            for title, axis, mm in cuts:
                index = int(round((to_voxel @ np.array([mm if axis == 0 else 0, mm if axis == 1 else 0, mm if axis == 2 else 0, 1]))[axis]))
                take = lambda v: np.rot90(np.take(v, index, axis=axis))
                ax = axes[row, column]
                ax.imshow(take(anatomy), cmap="gray")
                overlay = np.ma.masked_less(take(values), 0.25)
                ax.imshow(overlay, cmap="hot", vmin=0.25, vmax=2.0)
                if row == 0:
                    ax.set_title(f"subj0{subject}, {title}", fontsize=8)
                column += 1
    for ax in axes.ravel():
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(OUT / "truth-maps.png", dpi=90)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nrf", default="target/release/nrf")
    parser.add_argument("--data", required=True)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        stimuli_grid(args.nrf, work)
        truth_figure(args.nrf, args.data, work)


if __name__ == "__main__":
    main()
