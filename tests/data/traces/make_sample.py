#!/usr/bin/env python3
"""Writes sample_trace.jsonl: a small trace in Mooncake's schema (timestamp ms, input_length, output_length,
hash_ids of 512-token blocks) for tests and a first trace replay. It is synthetic, not recorded traffic: 120
requests over about 12 s (Poisson arrivals at 10/s), each starting with one of three shared 1,024-token "system
prompts" (blocks 0-1, 2-3, 4-5) followed by blocks of its own, as agent and chat traffic share prefixes.
Deterministic: `python3 make_sample.py` writes the same file every time."""
import json
import random

rng = random.Random(19)
t = 0.0
next_block = 100
with open("sample_trace.jsonl", "w") as out:
    for i in range(120):
        shared = 2 * rng.randrange(3)
        own_blocks = rng.randrange(0, 3)
        tail = rng.randrange(1, 512)
        input_length = 1024 + own_blocks * 512 + tail
        hash_ids = [shared, shared + 1] + list(range(next_block, next_block + own_blocks + 1))
        next_block += own_blocks + 1
        row = {
            "timestamp": round(t),
            "input_length": input_length,
            "output_length": rng.randrange(8, 129),
            "hash_ids": hash_ids,
        }
        out.write(json.dumps(row) + "\n")
        t += rng.expovariate(10.0) * 1000
