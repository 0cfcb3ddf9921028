"""Speaker separation (LibriMix / WHAMR!-style): 2 talkers of different speakers, noise, optional reverb.

    python recipes/separation.py -o out/sep --num-examples 200 --talkers 2 --overlap min

Writes mix, s1 … sN and noise (they sum to mix) and, in reverberant examples, s1_dry,
s1_direct, s1_early … (they do not). Labels: SIR per talker, SNR, overlap ratio, segments.
"""

from audiosynth.recipe import recipe_parser, run_recipe

SETTINGS = {
    "task": "separation",
    "snr_db": [0.0, 20.0],
    "speech_level_dbfs": [-30.0, -20.0],
    "talkers": {"sir_db": [-5.0, 5.0]},
    "reverb": {"probability": 0.5, "source": "simulated", "room": {"rt60_s": [0.2, 0.8], "distance_m": [0.5, 2.5]}},
    "targets": {"direct": True, "early": True, "dry": True},
    "splits": {"train": 0.8, "dev": 0.1, "test": 0.1},
    "output": {"format": "flac", "subtype": "PCM_16", "shard_size": 50},
}

if __name__ == "__main__":
    parser = recipe_parser(__doc__, SETTINGS)
    parser.add_argument("--talkers", type=int, default=2, help="talkers per mixture")
    parser.add_argument("--overlap", choices=["min", "max", "ratio"], default="max", help="LibriMix min/max, or a sparse overlap ratio")
    parser.add_argument("--overlap-ratio", type=float, nargs=2, default=[0.2, 0.5], metavar=("MIN", "MAX"), help="with --overlap ratio")
    args = parser.parse_args()
    talkers = {**SETTINGS["talkers"], "count": [args.talkers, args.talkers], "overlap": args.overlap, "overlap_ratio": args.overlap_ratio}
    run_recipe(args, {**SETTINGS, "talkers": talkers})
