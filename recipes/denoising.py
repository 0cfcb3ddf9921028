"""Denoising dataset: one talker + background noise at a random SNR, reverberant half of the time.

    python recipes/denoising.py -o out/denoising --num-examples 200 --seed 0

Builds from the shipped demo corpus unless given catalogs (--speech, --noise, --rirs).
Writes mix / clean / noise per example, with clean + noise == mix exactly.
"""

from audiosynth.recipe import recipe_parser, run_recipe

SETTINGS = {
    "task": "denoising",
    "sample_rate": 16000,
    "duration_s": [3.0, 6.0],
    "snr_db": [-5.0, 20.0],
    "speech_level_dbfs": [-35.0, -15.0],
    "reverb": {
        "probability": 0.5,
        "source": "simulated",
        "room": {"length_m": [3, 10], "width_m": [3, 8], "height_m": [2.4, 4], "rt60_s": [0.2, 0.8], "distance_m": [0.5, 3]},
    },
    "splits": {"train": 0.8, "dev": 0.1, "test": 0.1},
    "output": {"format": "flac", "subtype": "PCM_16", "shard_size": 50},
}

if __name__ == "__main__":
    args = recipe_parser(__doc__, SETTINGS).parse_args()
    run_recipe(args, SETTINGS)
