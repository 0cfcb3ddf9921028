"""Diarization: minutes-long conversations of 2–4 talkers with pauses and overlaps, in noise and
random rooms, with RTTM labels measured on each talker's written image.

    python recipes/diarization.py -o out/diar --num-examples 20 --minutes 1 3

Writes per session mix, s1 … sN (each talker's image), noise, and an RTTM file; labels carry
the turns (speaker, text, start, end), the activity, and the speech and overlap ratios.
"""

from audiosynth.recipe import recipe_parser, run_recipe

SETTINGS = {
    "task": "diarization",
    "snr_db": [5.0, 25.0],
    "speech_level_dbfs": [-30.0, -20.0],
    "session": {"speakers": [2, 4], "switch_probability": 0.8, "overlap_probability": 0.15, "overlap_s": [0.2, 1.0], "pause_s": [0.1, 1.0]},
    "reverb": {"probability": 0.5, "source": "simulated", "room": {"rt60_s": [0.2, 0.7]}},
    "targets": {"direct": False, "early": False},
    "splits": {"train": 1.0, "dev": 0.0, "test": 0.0},
    "output": {"format": "flac", "subtype": "PCM_16", "shard_size": 5},
}

if __name__ == "__main__":
    parser = recipe_parser(__doc__, SETTINGS, reverb=("simulated", "none"))
    parser.add_argument("--minutes", type=float, nargs=2, default=[1.0, 2.0], metavar=("MIN", "MAX"), help="session length")
    parser.add_argument("--speakers", type=int, nargs=2, default=[2, 4], metavar=("MIN", "MAX"), help="talkers per session")
    parser.set_defaults(num_examples=20)
    args = parser.parse_args()
    session = {**SETTINGS["session"], "duration_s": [60 * args.minutes[0], 60 * args.minutes[1]], "speakers": args.speakers}
    run_recipe(args, {**SETTINGS, "session": session})
