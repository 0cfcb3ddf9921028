"""ASR: noisy, reverberant speech with exact transcripts; with --talkers > 1, multi-talker ASR
with speaker-attributed segments (speaker, text, start, end) in conversation-like overlap.

    python recipes/asr.py -o out/asr --num-examples 200 --talkers 2

Only clips with a transcript are used; with one talker the whole utterance is always inside
the example, so ``labels.text`` is always set.
"""

from audiosynth.recipe import recipe_parser, run_recipe

SETTINGS = {
    "task": "asr",
    "duration_s": [6.0, 8.0],
    "min_speech_ratio": 0.3,
    "snr_db": [0.0, 25.0],
    "speech_level_dbfs": [-35.0, -15.0],
    "reverb": {"probability": 0.5, "source": "simulated", "room": {"rt60_s": [0.2, 0.9]}},
    "targets": {"direct": False, "early": False},
    "splits": {"train": 0.8, "dev": 0.1, "test": 0.1},
    "output": {"format": "flac", "subtype": "PCM_16", "shard_size": 50},
}

if __name__ == "__main__":
    parser = recipe_parser(__doc__, SETTINGS)
    parser.add_argument("--talkers", type=int, default=1, help="talkers per example")
    args = parser.parse_args()
    talkers = {"count": [args.talkers, args.talkers], "overlap": "ratio", "overlap_ratio": [0.1, 0.3]}
    run_recipe(args, {**SETTINGS, "talkers": talkers})
