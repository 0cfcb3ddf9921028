"""Target-speaker extraction: a target talker, interferers, and an enrollment utterance of the
target speaker that is not in the mixture.

    python recipes/target_speaker.py -o out/tse --num-examples 200

Writes mix, s1 (the target), s2 … (interferers), noise and enrollment; labels name the
target speaker and the enrollment clip.
"""

from audiosynth.recipe import recipe_parser, run_recipe

SETTINGS = {
    "task": "target_speaker",
    "snr_db": [5.0, 20.0],
    "speech_level_dbfs": [-30.0, -20.0],
    "talkers": {"count": [2, 2], "sir_db": [-5.0, 5.0], "overlap": "max", "enrollment": True},
    "reverb": {"probability": 0.3, "source": "simulated", "room": {"rt60_s": [0.2, 0.7]}},
    "splits": {"train": 0.8, "dev": 0.1, "test": 0.1},
    "output": {"format": "flac", "subtype": "PCM_16", "shard_size": 50},
}

if __name__ == "__main__":
    args = recipe_parser(__doc__, SETTINGS).parse_args()
    run_recipe(args, SETTINGS)
