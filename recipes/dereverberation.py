"""Dereverberation dataset: one talker in a random room, light noise, with dereverberation targets.

    python recipes/dereverberation.py -o out/dereverb --num-examples 200 --seed 0

Every example is reverberant: a simulated room (RT60 0.2–1.2 s) or, with --rirs, a catalog
RIR. Writes mix, clean (the reverberant image), noise, clean_direct (direct path only) and
clean_early (direct path + reflections up to 50 ms), all aligned sample for sample with the
mixture; labels carry RT60, DRR and C50.
"""

from audiosynth.recipe import recipe_parser, run_recipe

SETTINGS = {
    "task": "denoising",
    "duration_s": [3.0, 6.0],
    "snr_db": [15.0, 40.0],
    "speech_level_dbfs": [-35.0, -20.0],
    "reverb": {
        "probability": 1.0,
        "source": "simulated",
        "simulator": "ism",
        "room": {"length_m": [3, 12], "width_m": [3, 10], "height_m": [2.4, 4.5], "rt60_s": [0.2, 1.2], "distance_m": [0.5, 4.0]},
    },
    "targets": {"direct": True, "early": True, "early_ms": 50.0},
    "output": {"format": "flac", "subtype": "PCM_16", "shard_size": 50},
}

if __name__ == "__main__":
    parser = recipe_parser(__doc__, SETTINGS, reverb=("simulated", "catalog"))
    parser.add_argument("--backend", choices=["numpy", "torch"], default="numpy", help="room simulation and convolution backend")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="device of the torch backend")
    args = parser.parse_args()
    run_recipe(args, {**SETTINGS, "backend": args.backend, "device": args.device})
