"""Speech and music codecs through real encoders (FFmpeg's, in the PyAV wheel, and pedalboard's GSM
full-rate compressor: the optional ``codecs`` extra): Opus, MP3, AAC, Vorbis, AMR-NB, G.711 µ-law and
A-law, G.722, GSM. The mixture is
resampled to the codec's rate (soxr), brought to a fixed peak, encoded and decoded in memory, and
brought back; the codec's delay (measured once per codec, bitrate and rate on a fixed probe, by
cross-correlation) is removed, so the output stays aligned to the sample with the targets.
Non-linear: applied to the mixture (the change is in the ``distortion`` role).

AMR-NB may switch mode within an example (``switches``: [share of the example, bitrate], the
encoder reading its bitrate every 20 ms frame). Labels: ``codec``, ``bitrate`` (bits/s; None for
the fixed-rate G.711/G.722/GSM and Vorbis' default), ``codec_rate`` (Hz), ``delay_samples``
(removed, at the output rate) and, with switches, ``bitrates_used``."""

from __future__ import annotations

import functools
import importlib.util
from typing import Any, cast

import numpy as np
from pydantic import Field

from ..dsp import kernels
from . import Effect, EffectSettings, Packets, Share, register, uniform
from .packet_loss import burst_lengths, losses

# name -> (encoder, decoder, sample format, codec rate Hz, bitrates drawn from (bits/s; None: fixed))
CODECS: dict[str, tuple[str, str, str, int, tuple[int, ...] | None]] = {
    "opus": ("libopus", "libopus", "s16", 16000, (6000, 8000, 12000, 16000, 24000, 32000)),
    "mp3": ("libmp3lame", "mp3float", "s16p", 16000, (16000, 24000, 32000, 48000, 64000)),
    "aac": ("aac", "aac", "fltp", 16000, (16000, 24000, 32000, 48000)),
    "vorbis": ("vorbis", "vorbis", "fltp", 16000, None),  # FFmpeg's own encoder: experimental, stereo only (the mono signal twice)
    "amr_nb": ("libopencore_amrnb", "libopencore_amrnb", "s16", 8000, (4750, 5150, 5900, 6700, 7400, 7950, 10200, 12200)),
    "mulaw": ("pcm_mulaw", "pcm_mulaw", "s16", 8000, None),
    "alaw": ("pcm_alaw", "pcm_alaw", "s16", 8000, None),
    "g722": ("g722", "g722", "s16", 16000, None),
    "gsm": ("pedalboard", "pedalboard", "flt", 8000, None),  # GSM 06.10 full rate: pedalboard's compressor (not in this FFmpeg)
}
PEAK = 0.5  # the mixture's peak going into the encoder (and back out at its own level)
PROBE_S = 2.0  # s of seeded noise whose round trip measures a codec's delay
MAX_DELAY_S = 0.25  # the longest delay looked for


class CodecSettings(EffectSettings):
    codecs: tuple[str, ...] = Field(tuple(CODECS), description="codecs drawn from (equal chances)")
    switch_probability: float = Field(0.5, ge=0, le=1, description="share of AMR-NB examples whose mode switches (1-3 times)")
    loss_probability: float = Field(0.3, ge=0, le=1, description="share of Opus examples that lose packets (concealed by its PLC)")
    loss_rate: Share = (0.02, 0.2)
    mean_burst_packets: Packets = (1.0, 3.0)

    def model_post_init(self, _: Any) -> None:
        unknown = [c for c in self.codecs if c not in CODECS]
        if unknown or not self.codecs:
            raise ValueError(f"codecs: {unknown or 'none'} not among {', '.join(CODECS)}")
        needs = {"pedalboard"} if self.codecs == ("gsm",) else {"av", "pedalboard"} if "gsm" in self.codecs else {"av"}
        missing = sorted(m for m in needs if importlib.util.find_spec(m) is None)
        if missing:
            raise ValueError(f"the codec effect needs {' and '.join(missing)}: pip install 'audiosynth[codecs]'")


SWITCHING = ("amr_nb",)  # codecs whose mode (bitrate) may change within an example, as adaptive multi-rate links do
CONCEALING = ("opus",)  # codecs whose decoder conceals lost packets (PLC); others lose packets in `packet_loss` (zeros)


def draw(rng: np.random.Generator, settings: CodecSettings, sample_rate: int) -> dict[str, Any]:
    name = str(rng.choice(list(settings.codecs)))
    bitrates = CODECS[name][4]
    params: dict[str, Any] = {"codec": name, "bitrate": None if bitrates is None else int(rng.choice(bitrates))}
    if name in SWITCHING and bitrates and rng.random() < settings.switch_probability:
        count = int(rng.integers(1, 4))
        params["switches"] = [[round(float(at), 6), int(rng.choice(bitrates))] for at in np.sort(rng.uniform(0.05, 0.95, count))]
    if name in CONCEALING and rng.random() < settings.loss_probability:
        params.update(
            loss_rate=uniform(rng, settings.loss_rate),
            mean_burst_packets=max(1.0, uniform(rng, settings.mean_burst_packets)),
            loss_seed=int(rng.integers(2**31)),
        )
    return params


def _loss(params: dict[str, Any]) -> dict[str, Any] | None:
    """The Gilbert-Elliott settings of a step's lost packets (`packet_loss.losses`), None without losses."""
    if "loss_rate" not in params:
        return None
    return {"loss_rate": params["loss_rate"], "mean_burst_packets": params["mean_burst_packets"], "seed": params["loss_seed"]}


def schedule(params: dict[str, Any]) -> tuple[tuple[float, int], ...]:
    """``(start share of the example, bitrate)`` of each mode: the drawn bitrate from 0, then each switch."""
    if params.get("bitrate") is None:
        return ()
    return ((0.0, int(params["bitrate"])), *((float(at), int(rate)) for at, rate in params.get("switches") or ()))


def roundtrip(
    x: np.ndarray, codec: str, bitrate: int | None, switches: tuple[tuple[float, int], ...] = (), loss: dict[str, Any] | None = None
) -> np.ndarray:
    """``x (N,)`` at the codec's rate encoded and decoded (float64, as decoded: delay included);
    ``switches``: ``(share of x, bitrate)`` at which the encoder changes mode (AMR-NB); ``loss``:
    packets lost (`packet_loss.losses`), each replaced by a zero-length Opus frame (its TOC byte
    alone), which the decoder conceals (RFC 6716: a frame of length 0 is decoded by PLC)."""
    if codec == "gsm":
        from pedalboard import GSMFullRateCompressor

        return np.asarray(GSMFullRateCompressor()(x[None].astype(np.float32), CODECS[codec][3])[0], np.float64)
    import av

    encoder, decoder, fmt, rate, _ = CODECS[codec]
    stereo = codec == "vorbis"
    enc = cast("av.AudioCodecContext", av.CodecContext.create(encoder, "w"))
    enc.sample_rate, enc.layout, enc.format = rate, "stereo" if stereo else "mono", fmt
    if bitrate is not None:
        enc.bit_rate = bitrate
    if stereo:
        enc.options = {"strict": "experimental"}
    enc.thread_count = 1
    enc.open()
    size = enc.frame_size or 1024
    packets = []
    modes = [(int(at * len(x)), rate) for at, rate in switches]
    for start in range(0, len(x), size):
        while modes and modes[0][0] <= start:  # the encoder reads its bitrate every frame
            enc.bit_rate = modes.pop(0)[1]
        block = x[start : start + size]
        if len(block) < size and enc.frame_size:
            block = np.concatenate([block, np.zeros(size - len(block))])
        data: np.ndarray = (np.round(block * 32767).astype(np.int16) if fmt.startswith("s16") else block.astype(np.float32))[None, :]
        if stereo:
            data = np.repeat(data, 2, axis=0)  # planar: one row per channel
        frame = av.AudioFrame.from_ndarray(data, format=fmt, layout="stereo" if stereo else "mono")
        frame.sample_rate, frame.pts = rate, start
        packets.extend(enc.encode(frame))
    packets.extend(enc.encode(None))
    dec = cast("av.AudioCodecContext", av.CodecContext.create(decoder, "r"))
    dec.sample_rate, dec.layout = rate, "stereo" if stereo else "mono"
    if enc.extradata:
        dec.extradata = enc.extradata
    out, decoded_rate = [], rate
    if loss is not None:
        lost = losses(loss, len(packets))
        packets = [_concealed(p, av) if gone else p for p, gone in zip(packets, lost, strict=True)]
    for packet in [*packets, None]:
        for frame in dec.decode(packet):
            array = frame.to_ndarray().astype(np.float64)
            samples = array[0] if frame.format.is_planar else array.reshape(-1, len(frame.layout.channels))[:, 0]
            out.append(samples / 32768 if frame.format.name.startswith("s16") else samples)
            decoded_rate = frame.sample_rate  # libopus decodes at 48 kHz whatever it was given
    y = np.concatenate(out) if out else np.zeros(0)
    return kernels.resample(y[None], decoded_rate, rate)[0] if decoded_rate != rate and len(y) else y


def _concealed(packet: Any, av: Any) -> Any:
    """A lost Opus packet's stand-in: its TOC byte with frame code 0 and no frame data."""
    stand_in = av.Packet(bytes([bytes(packet)[0] & 0xFC]))
    stand_in.pts, stand_in.duration = packet.pts, packet.duration
    return stand_in


def _path(
    x: np.ndarray,
    codec: str,
    bitrate: int | None,
    sample_rate: int,
    switches: tuple[tuple[float, int], ...] = (),
    loss: dict[str, Any] | None = None,
) -> np.ndarray:
    """One channel ``x (N,)`` at ``sample_rate`` through the codec and back, its delay still in (``(M,)``)."""
    rate = CODECS[codec][3]
    signal = kernels.resample(x[None], sample_rate, rate)[0]
    peak = float(np.max(np.abs(signal)))
    if peak == 0:
        return np.zeros(len(x))
    decoded = roundtrip(signal * (PEAK / peak), codec, bitrate, switches, loss) * (peak / PEAK)
    return np.asarray(kernels.resample(decoded[None], rate, sample_rate)[0])


@functools.lru_cache(maxsize=256)
def codec_delay(codec: str, bitrate: int | None, sample_rate: int) -> int:
    """The delay (samples at ``sample_rate``) of the codec's path at this bitrate: the lag at which
    the round trip of a fixed probe (noise below a fifth of the codec's rate) best matches it
    (cross-correlation peak, 0 .. `MAX_DELAY_S`), measured at the output rate (so within half an
    output sample, whatever the codec's rate)."""
    rate = CODECS[codec][3]
    noise = np.random.default_rng(1234).standard_normal(int(PROBE_S * sample_rate))
    spectrum = np.fft.rfft(noise)
    spectrum[int(0.2 * rate / (sample_rate / 2) * len(spectrum)) :] = 0  # what every codec here keeps as a waveform
    probe = np.fft.irfft(spectrum, len(noise))
    probe *= PEAK / np.max(np.abs(probe))
    y = _path(probe, codec, bitrate, sample_rate)
    lags = int(MAX_DELAY_S * sample_rate)
    size = 1 << int(np.ceil(np.log2(len(probe) + len(y))))
    corr = np.fft.irfft(np.fft.rfft(y, size) * np.conj(np.fft.rfft(probe, size)), size)[: lags + 1]
    return int(np.argmax(corr))


def apply(params: dict[str, Any], x: np.ndarray, sample_rate: int) -> np.ndarray:
    codec, bitrate = params["codec"], params["bitrate"]
    delay, n = codec_delay(codec, bitrate, sample_rate), x.shape[-1]
    out = np.zeros_like(x)
    for channel in range(x.shape[0]):
        y = _path(x[channel], codec, bitrate, sample_rate, schedule(params)[1:], _loss(params))[delay : delay + n]
        out[channel, : len(y)] = y
    return out


def labels(params: dict[str, Any], before: np.ndarray, after: np.ndarray, sample_rate: int) -> dict[str, Any]:
    codec = params["codec"]
    facts: dict[str, Any] = {"codec_rate": CODECS[codec][3], "delay_samples": codec_delay(codec, params["bitrate"], sample_rate)}
    if params.get("switches"):
        facts["bitrates_used"] = sorted({rate for _, rate in schedule(params)})
    loss = _loss(params)
    if loss is not None:
        frame = 320 * sample_rate // 16000  # 20 ms Opus packets
        lost = losses(loss, -(-before.shape[-1] // frame))
        bursts = burst_lengths(lost)
        facts["lost_fraction"] = round(float(lost.mean()), 6)
        facts["mean_burst_packets_lost"] = round(float(np.mean(bursts)), 4) if bursts else 0.0
        facts["concealed"] = True
    return facts


CODEC = register(Effect("codec", 50, False, CodecSettings, draw, apply, labels))
