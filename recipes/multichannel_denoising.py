"""Multi-channel denoising: one talker and a noise source at two places in a random room,
recorded by a randomly placed and rotated microphone array.

    python recipes/multichannel_denoising.py -o out/mc --num-examples 200 --array circular --num-mics 6

Writes (M, N) mix, clean and noise per example (mix == clean + noise on every channel), plus
clean_direct / clean_early targets; labels carry each microphone's distance and direct-path delay.
"""

from audiosynth.recipe import recipe_parser, run_recipe

SETTINGS = {
    "task": "denoising",
    "duration_s": [3.0, 6.0],
    "snr_db": [-5.0, 20.0],
    "speech_level_dbfs": [-35.0, -15.0],
    "reverb": {
        "probability": 1.0,
        "source": "simulated",
        "room": {"length_m": [4, 10], "width_m": [3, 8], "height_m": [2.5, 4], "rt60_s": [0.2, 0.9], "distance_m": [0.7, 3.0]},
    },
    "output": {"format": "flac", "subtype": "PCM_16", "shard_size": 50},
}

if __name__ == "__main__":
    parser = recipe_parser(__doc__, SETTINGS, reverb=("simulated",))
    parser.add_argument("--array", choices=["linear", "circular"], default="linear", help="array layout")
    parser.add_argument("--num-mics", type=int, default=4, help="microphones (FLAC holds at most 8)")
    parser.add_argument("--spacing", type=float, default=0.05, help="linear spacing or circular radius (m)")
    args = parser.parse_args()
    array = {"type": args.array, "num_mics": args.num_mics, "spacing_m": args.spacing, "radius_m": args.spacing}
    reverb = {**SETTINGS["reverb"], "room": {**SETTINGS["reverb"]["room"], "array": array}}
    run_recipe(args, {**SETTINGS, "reverb": reverb})
