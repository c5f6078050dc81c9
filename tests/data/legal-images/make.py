"""Legal image files in the modes PIL opens, and what PIL + HF's convert_rgb make of each
(uint8 H x W x 3 .npy beside it); pil.json records the versions.

Usage: python3 make.py OUT_DIR ../clip-tiny/images/landscape_300x227.jpg
"""
import numpy as np
from PIL import Image, features
import sys, os, json

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(7)
h, w = 37, 53
yy, xx = np.mgrid[0:h, 0:w]

def hf_convert_rgb(img):
    # transformers.image_transforms.convert_rgb (as in the fixtures' README)
    if img.mode == "RGB":
        return img
    rgba = img.convert("RGBA")
    bg = Image.new("RGBA", rgba.size, (255, 255, 255))
    return Image.alpha_composite(bg, rgba).convert("RGB")

files = {}
rgb16 = np.stack([xx * 1237 % 65536, yy * 1733 % 65536, (xx * yy * 97) % 65536], -1).astype(np.uint16)
# 16-bit RGB PNG: PIL writes it from an array via the PNG plugin's 'RGB;16B' rawmode
import io, zlib, struct
def png16(path, arr, color_type):
    # minimal PNG writer: bit depth 16, no filter
    hgt, wid = arr.shape[:2]
    raw = b"".join(b"\x00" + arr[r].astype(">u2").tobytes() for r in range(hgt))
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    ihdr = struct.pack(">IIBBBBB", wid, hgt, 16, color_type, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
png16(f"{out}/rgb16.png", rgb16, 2)
gray16 = ((xx * 300 + yy * 20) % 65536).astype(np.uint16)
gray16[:5, :5] = 100  # some values below 256
png16(f"{out}/gray16.png", gray16, 0)
rgba16 = np.concatenate([rgb16, ((xx * 2000) % 65536).astype(np.uint16)[..., None]], -1)
png16(f"{out}/rgba16.png", rgba16, 6)
la16 = np.stack([gray16, ((yy * 3000) % 65536).astype(np.uint16)], -1)
png16(f"{out}/gray_alpha16.png", la16, 4)

base = np.stack([xx * 5 % 256, yy * 7 % 256, (xx + yy) * 3 % 256], -1).astype(np.uint8)
Image.fromarray(base).convert("P", palette=Image.Palette.ADAPTIVE, colors=16).save(f"{out}/palette.png")
p = Image.fromarray(base).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
p.info["transparency"] = 3
p.save(f"{out}/palette_transparent.png", transparency=3)
Image.fromarray(base).convert("LA").save(f"{out}/gray_alpha.png")
Image.fromarray((xx % 3 == 0).astype(np.uint8) * 255).convert("1").save(f"{out}/bilevel.png")
smooth = np.stack([128 + 100 * np.sin(xx / 5), 128 + 100 * np.cos(yy / 7), 128 + 80 * np.sin((xx + yy) / 9)], -1).astype(np.uint8)
Image.fromarray(smooth).convert("CMYK").save(f"{out}/cmyk.jpg", quality=90)
Image.fromarray(smooth).save(f"{out}/subsampled_420.jpg", quality=85, subsampling=2)
Image.fromarray(smooth).save(f"{out}/progressive.jpg", quality=85, progressive=True)
Image.fromarray(smooth).convert("L").save(f"{out}/gray.jpg", quality=85)
frames = [Image.fromarray(base).convert("P", palette=Image.Palette.ADAPTIVE, colors=32),
          Image.fromarray(255 - base).convert("P", palette=Image.Palette.ADAPTIVE, colors=32)]
frames[0].save(f"{out}/animated.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)

import shutil
shutil.copy(sys.argv[2], f"{out}/landscape_300x227.jpg")  # the CLIP fixture's JPEG (4:2:0, 300x227)

for name in sorted(os.listdir(out)):
    if name.endswith((".npy", ".py", ".json", ".md")):
        continue
    img = Image.open(f"{out}/{name}")
    mode = img.mode
    rgb = np.asarray(hf_convert_rgb(img))
    np.save(f"{out}/{name}.rgb.npy", rgb)
    files[name] = {"mode": mode, "shape": list(rgb.shape)}
json.dump({"pillow": Image.__version__ if hasattr(Image, "__version__") else "",
           "libjpeg_turbo": features.version("libjpeg_turbo"), "files": files},
          open(f"{out}/pil.json", "w"), indent=1)
print(json.dumps(files, indent=1))
