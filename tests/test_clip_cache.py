"""The clip cache of on-the-fly rendering (audiosynth.render.load.ClipCache): a segment cut from a
clip decoded whole equals `read_segment`'s bit for bit, for every format and clip piece, with the
same refusals; the cache keeps to its budget, notices a file changed or gone, and never hands out
its own memory."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from sources_kit import speech_file

from audiosynth.errors import AudioError
from audiosynth.io.audio import read_clip, read_segment
from audiosynth.render.load import ClipCache, active_cache, load_segment

FORMATS = [
    ("a.wav", {"subtype": "PCM_16"}),
    ("a24.wav", {"subtype": "PCM_24"}),
    ("f.wav", {"subtype": "FLOAT"}),
    ("d.wav", {"subtype": "DOUBLE"}),
    ("a.flac", {"format": "FLAC"}),
    ("a.mp3", {"format": "MP3"}),
    ("a.ogg", {"format": "OGG", "subtype": "VORBIS"}),
]


def _stereo(path: Path, seconds: float, rate: int = 16000, **write: str) -> np.ndarray:
    rng = np.random.default_rng(len(path.name))
    x = 0.3 * rng.standard_normal((int(seconds * rate), 2))
    sf.write(path, x, rate, **write)
    return x


@pytest.mark.parametrize(("name", "write"), FORMATS)
def test_a_cached_segment_equals_the_read_segment_bit_for_bit(tmp_path: Path, name: str, write: dict) -> None:
    path = tmp_path / name
    speech_file(path, 2.0, **write)
    n = sf.info(path).frames
    cases = [  # (offset, frames, loop, start, clip frames)
        (0, 3000, False, 0, None),
        (577, 4000, False, 0, None),
        (n - 3000, 3000, False, 0, None),
        (n - 1000, 5000, True, 0, None),  # wraps around the clip's end
        (3 * n + 17, 2500, True, 0, None),  # an offset past several loops
        (100, 2000, False, 7000, 9000),  # a clip that is frames 7000..16000 of the file
        (8000, 3000, True, 7000, 9000),  # looping within that clip
        (50, 1000, False, 20000, None),  # from 20000 to the file's end
    ]
    for offset, frames, loop, start, clip_frames in cases:
        want = read_segment(path, offset, frames, loop=loop, start=start, frames=clip_frames)
        got = read_clip(path, start=start, frames=clip_frames).segment(offset, frames, loop)
        assert got.dtype == np.float64 and got.shape == want.shape
        np.testing.assert_array_equal(got, want, err_msg=f"{name} offset {offset} loop {loop} start {start}")


def test_multichannel_and_its_refusals_are_the_same(tmp_path: Path) -> None:
    path = tmp_path / "two.wav"
    _stereo(path, 1.0, subtype="PCM_16")
    clip = read_clip(path)
    np.testing.assert_array_equal(clip.segment(123, 4000), read_segment(path, 123, 4000))
    assert clip.segment(0, 10).shape == (2, 10)
    with pytest.raises(AudioError) as too_short:
        clip.segment(15000, 2000)
    with pytest.raises(AudioError) as same:
        read_segment(path, 15000, 2000)
    assert too_short.value.reason == same.value.reason == "too_short"
    for kwargs, reason in [({"sample_rate": 8000}, "wrong_rate"), ({"start": 15000, "frames": 5000}, "too_short")]:
        with pytest.raises(AudioError) as err:
            read_clip(path, **kwargs)
        assert err.value.reason == reason
    bad = tmp_path / "nan.wav"
    x = np.zeros((1000, 1))
    x[700] = np.nan
    sf.write(bad, x, 16000, subtype="FLOAT")
    assert read_clip(bad).segment(0, 500).shape == (1, 500)  # NaN elsewhere: refused only where it is read, as read_segment
    with pytest.raises(AudioError) as nan:
        read_clip(bad).segment(600, 200)
    assert nan.value.reason == "nan"


def test_the_cache_keeps_to_its_budget_and_drops_the_least_recent(tmp_path: Path) -> None:
    paths = []
    for k in range(4):
        paths.append(tmp_path / f"{k}.wav")
        speech_file(paths[-1], 1.0, subtype="PCM_16")  # 16000 int16 frames: 32000 bytes each
    cache = ClipCache(max_bytes=70_000)  # room for two
    for p in paths[:2]:
        cache.clip(str(p), 16000, 0, None)
    cache.clip(str(paths[0]), 16000, 0, None)  # 0 is now the most recent
    cache.clip(str(paths[2]), 16000, 0, None)  # drops 1
    assert cache.nbytes == 64_000 <= cache.max_bytes
    assert (cache.hits, cache.misses) == (1, 3)
    cache.clip(str(paths[0]), 16000, 0, None)
    cache.clip(str(paths[1]), 16000, 0, None)
    assert (cache.hits, cache.misses) == (2, 4)
    tiny = ClipCache(max_bytes=1000)
    got = tiny.clip(str(paths[3]), 16000, 0, None)  # larger than the whole budget: decoded, not kept
    assert tiny.nbytes == 0 and got.segment(0, 10).shape == (1, 10)


def test_a_file_changed_or_gone_is_noticed(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    first = _stereo(path, 0.5, subtype="FLOAT")
    cache = ClipCache(max_bytes=10**7)
    np.testing.assert_allclose(cache.clip(str(path), 16000, 0, None).segment(0, 100), first[:100].T.astype(np.float32))
    second = _stereo(tmp_path / "other.wav", 0.5, subtype="FLOAT")
    os.replace(tmp_path / "other.wav", path)  # same size, another file
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(cache.clip(str(path), 16000, 0, None).segment(0, 100), read_segment(path, 0, 100))
    path.unlink()
    with pytest.raises(AudioError) as gone:
        cache.clip(str(path), 16000, 0, None)
    assert gone.value.reason == "missing"


def test_a_segment_is_a_fresh_array_not_the_cache(tmp_path: Path) -> None:
    for name, write in [("f.wav", {"subtype": "DOUBLE"}), ("i.wav", {"subtype": "PCM_16"})]:
        path = tmp_path / name
        speech_file(path, 0.5, **write)
        cache = ClipCache(max_bytes=10**7)
        a = cache.clip(str(path), None, 0, None).segment(0, 8000)
        want = a.copy()
        a *= 0.0  # what mixing does to a loaded signal
        np.testing.assert_array_equal(cache.clip(str(path), None, 0, None).segment(0, 8000), want)


def test_load_segment_through_the_cache_equals_the_files(corpus: dict[str, Path]) -> None:
    from audiosynth.catalog import read_catalog
    from audiosynth.scene import Segment

    clips = read_catalog(corpus["noise"])
    cache = ClipCache(max_bytes=10**8)
    for clip in clips:
        segments = [Segment(clip.id, 0, 4000), Segment(clip.id, 5, clip.num_samples + 3000, loop=True, onset=700), Segment(clip.id, 9, 99)]
        for seg in segments:
            want = load_segment(seg, clips, 16000, 9000)
            with active_cache(cache):
                got = load_segment(seg, clips, 16000, 9000)
            np.testing.assert_array_equal(got, want)
    # per clip: the first segment read alone, the second decodes the clip whole (a miss), the third is cut from it
    assert (cache.misses, cache.hits) == (len(clips), len(clips)) and len(clips) >= 2


def test_a_clip_read_once_or_too_big_is_not_decoded_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from audiosynth.render import load

    path = tmp_path / "long.wav"
    speech_file(path, 4.0, subtype="PCM_16")  # 64000 frames
    decoded = []
    monkeypatch.setattr(load, "read_clip", lambda *a, **k: decoded.append(a) or read_clip(*a, **k))

    def cut(cache: ClipCache, offset: int, length: int) -> np.ndarray:
        got = cache.segment(str(path), None, 0, None, offset, length, False, clip_frames=64000, channels=1)
        np.testing.assert_array_equal(got, read_segment(path, offset, length))
        return got

    big = ClipCache(max_bytes=8 * 64000 * 7)  # the clip (64000 float64 frames) is above 1/8 of it
    for offset in (0, 100, 200):
        cut(big, offset, 60000)
    assert decoded == [] and big.nbytes == 0
    roomy = ClipCache(max_bytes=10**8)
    for offset in (0, 100, 200):  # short segments: read alone the first time, the clip decoded at the second
        cut(roomy, offset, 500)
    assert len(decoded) == 1 and roomy.nbytes == 64000 * 2  # decoded once; kept as int16
    at_once = ClipCache(max_bytes=10**8)
    cut(at_once, 10, int(0.8 * 64000))  # most of the clip: decoded whole at once
    assert len(decoded) == 2 and at_once.nbytes == 64000 * 2


def test_a_catalog_rir_is_made_once_and_equals_the_uncached(corpus: dict[str, Path]) -> None:
    from audiosynth.catalog import read_catalog
    from audiosynth.render.load import catalog_reverb

    clips = read_catalog(corpus["rirs"])
    cache = ClipCache(max_bytes=10**8)
    for clip in clips:
        want = catalog_reverb(clip.id, clips, 16000)
        with active_cache(cache):
            first, again = catalog_reverb(clip.id, clips, 16000), catalog_reverb(clip.id, clips, 16000)
        assert again is first
        for name in ("rir", "direct", "delays"):
            np.testing.assert_array_equal(getattr(first, name), getattr(want, name))


def test_on_the_fly_items_are_the_same_with_and_without_the_cache(folder_and_shards) -> None:
    import torch

    from audiosynth.torch import OnTheFlyDataset

    config = folder_and_shards[0]  # catalog RIRs on some examples
    cached, uncached = OnTheFlyDataset(config, roles=("mix", "clean", "noise")), OnTheFlyDataset(config, ("mix", "clean", "noise"), 0)
    reverberant = 0
    for key in [(e, i) for e in (0, 1) for i in range(config.num_examples)]:
        a, b = cached[key], uncached[key]
        assert a["labels"] == b["labels"] and a["id"] == b["id"]
        assert all(torch.equal(a[r], b[r]) for r in ("mix", "clean", "noise"))
        reverberant += "rt60_s" in a["labels"]
    assert reverberant >= 2
    with pytest.raises(ValueError, match="clip_cache_mb"):
        OnTheFlyDataset(config, clip_cache_mb=-1)


def test_a_build_with_the_cache_writes_the_bytes_of_one_without(corpus: dict[str, Path], tmp_path: Path, monkeypatch) -> None:
    import hashlib

    from conftest import small_config

    from audiosynth.build import build, worker

    config = small_config(corpus, num_examples=16, reverb={"probability": 0.5, "source": "catalog"})

    def digests(out: Path) -> dict[str, str]:
        files = [p for p in sorted(out.rglob("*")) if p.is_file() and p.name != "build.json"]
        return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}

    build(config, tmp_path / "cached", workers=1, progress=False)
    cache = worker._WORKER["clip_cache"]
    assert cache.hits > 10  # the corpus's few noises and RIRs came back
    monkeypatch.setattr(worker, "BUILD_CLIP_CACHE_MB", 0)
    build(config, tmp_path / "plain", workers=1, progress=False)
    assert worker._WORKER["clip_cache"].max_bytes == 0
    assert digests(tmp_path / "cached") == digests(tmp_path / "plain") != {}
