"""CLIP ViT-B/16 vision tower in Hugging Face transformers (PyTorch, CPU), timed like
`nrf bench features`: random weights, batches of N 224x224 images, tokens of layers 3 and 6 and
image_embeds read out. Prints one JSON line. Nothing is downloaded: the model is built from a config.

    ~/.cache/torch-bench/bin/python benches/clip_vs_hf.py --batch 8 --batches 3
"""
import argparse
import json
import os
import time

import torch
from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--batches", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = CLIPVisionConfig(
        hidden_size=768, intermediate_size=3072, num_attention_heads=12, num_hidden_layers=12,
        patch_size=16, image_size=224, projection_dim=512, hidden_act="quick_gelu",
    )
    model = CLIPVisionModelWithProjection(config).eval()
    pixels = torch.rand(args.batch, 3, 224, 224) * 2 - 1

    def run():
        start = time.perf_counter()
        with torch.inference_mode():
            out = model(pixel_values=pixels, output_hidden_states=True)
            _ = [out.hidden_states[l + 1][:, 1:, :].numpy() for l in (3, 6)]
            _ = out.image_embeds.numpy()
        return (time.perf_counter() - start) * 1e3 / args.batch

    run()  # warm-up
    times = [run() for _ in range(args.batches)]
    best = min(times)
    print(json.dumps({
        "extractor": f"transformers {__import__('transformers').__version__} CLIPVisionModelWithProjection (random weights)",
        "device": f"CPU, torch {torch.__version__}, {args.threads} threads",
        "images": args.batch * args.batches, "batch": args.batch,
        "best_ms_per_image": best, "mean_ms_per_image": sum(times) / len(times),
        "images_per_second": 1e3 / best,
    }))


if __name__ == "__main__":
    main()
