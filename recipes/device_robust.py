"""Device-robust denoising: speech over phones, laptops, conferencing links and headsets, a wide
device/channel chain (microphone, clock, gain stage, clipping, band, codec, packet loss) on top of
rooms and noise. Codecs need PyAV (pip install 'audiosynth[codecs]').

    python recipes/device_robust.py -o out/device_robust --num-examples 200 --seed 0

Builds from the shipped demo corpus unless given catalogs (--speech, --noise, --rirs).
Writes mix / clean / noise per example and, for chained examples, distortion (what clipping and
packet loss changed: mix == clean + noise + distortion exactly) and clean_acoustic (the talker
before the device: the restoration target); clean is the talker as the device recorded it.
"""

from audiosynth.recipe import recipe_parser, run_recipe

SETTINGS = {
    "task": "denoising",
    "sample_rate": 16000,
    "duration_s": [3.0, 6.0],
    "snr_db": [-5.0, 25.0],
    "speech_level_dbfs": [-40.0, -15.0],
    "reverb": {
        "probability": 0.7,
        "source": "simulated",
        "room": {"length_m": [3, 10], "width_m": [3, 8], "height_m": [2.4, 4], "rt60_s": [0.2, 1.0], "distance_m": [0.3, 3]},
    },
    "targets": {"direct": False, "early": False},
    "channel": {
        "probability": 0.9,
        "steps": [1, 5],
        "effects": {
            "mic_response": {"low_shelf_db": [-15.0, 3.0], "high_shelf_db": [-12.0, 6.0], "peak_db": [-6.0, 10.0]},
            "band_limit": {"low_hz": [80.0, 400.0], "high_hz": [3400.0, 7500.0], "path_probability": 0.5},
            "clipping": {"below_peak_db": [1.0, 15.0], "soft_probability": 0.5, "weight": 0.5},
            "codec": {"codecs": ["opus", "mp3", "aac", "amr_nb", "mulaw", "alaw", "g722", "gsm"]},
            "packet_loss": {"loss_rate": [0.01, 0.15], "mean_burst_packets": [1.0, 3.0], "weight": 0.7},
            "clock_drift": {"ppm": [-60.0, 60.0], "weight": 0.3},
            "gain_jumps": {"gain_db": [-8.0, 4.0], "weight": 0.3},
        },
    },
    "splits": {"train": 0.8, "dev": 0.1, "test": 0.1},
    "output": {"format": "flac", "subtype": "PCM_16", "shard_size": 50},
}

if __name__ == "__main__":
    args = recipe_parser(__doc__, SETTINGS).parse_args()
    run_recipe(args, SETTINGS)
