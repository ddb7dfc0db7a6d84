"""Cost of "understood as" with the bundled model on the CPU: embedding the caption index
(once per engine, at the first prompt) and one prompt report after it; prints the
similarities of seen captions, paraphrases and prompts the model never saw (the
``KNOWN_THRESHOLD`` of bamm_core/generation/understanding.py is set between them).

    .venv/bin/python benchmarks/bench_understanding.py
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bamm_core.generation.engine import Engine  # noqa: E402

PROMPTS = {
    "seen": ["a person walks forward.", "a person bows.", "a person waves the right hand."],
    "paraphrase": ["a person strolls forward", "someone bows politely", "a man runs",
                   "a person waves hello with the right hand", "a person turns left while walking",
                   "a person raises both arms", "a person walks backwards", "someone jogs happily"],
    "never seen": ["a person sits down on a chair", "sit down", "a person jumps", "a person swims",
                   "a person lies down", "a person climbs a ladder", "a person picks up a box",
                   "a person does a cartwheel", "a person squats"],
}


def main() -> int:
    t = time.perf_counter()
    eng = Engine.from_pretrained()
    eng.encode_text(["a person walks forward"])
    print(f"engine + text encoder load: {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    eng.caption_index()
    print(f"caption index: {len(eng.known_captions)} captions embedded in {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    for _ in range(20):
        eng.prompt_report("a person strolls forward")
    print(f"prompt_report: {(time.perf_counter() - t) / 20 * 1000:.0f} ms; threshold {eng.known_threshold}")
    for group, prompts in PROMPTS.items():
        for p in prompts:
            caption, sim = eng.understood(p, 1)[0]
            print(f"  {group:10}  {sim:.2f}  {p!r} -> {caption!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
