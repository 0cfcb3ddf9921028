"""Packet loss on a network link: packets of ``packet_ms`` lost in bursts by a Gilbert-Elliott
channel (a good state that keeps packets, a bad state that loses them), lost packets zeroed (no
concealment: there is no codec in this step). Non-linear: applied to the mixture.

The two-state chain has P(good -> bad) = p and P(bad -> good) = r; its stationary loss rate is
p / (p + r) and its mean burst 1 / r packets, so both are drawn and p, r follow. The pattern is
drawn from the step's own ``seed`` (saved), so the example re-renders with the same losses.
Labels: ``lost_fraction`` (share of lost packets) and ``mean_burst_packets`` of the drawn pattern."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import Effect, EffectSettings, Packets, Positive, Share, register, uniforms


class PacketLossSettings(EffectSettings):
    loss_rate: Share = (0.01, 0.2)
    mean_burst_packets: Packets = (1.0, 4.0)
    packet_ms: Positive = (20.0, 20.0)


def draw(rng: np.random.Generator, settings: PacketLossSettings, sample_rate: int) -> dict[str, Any]:
    params: dict[str, Any] = uniforms(rng, settings, "loss_rate", "mean_burst_packets", "packet_ms")
    return {
        **params,
        "mean_burst_packets": max(1.0, params["mean_burst_packets"]),
        "seed": int(rng.integers(2**31)),
    }


def losses(params: dict[str, Any], num_packets: int) -> np.ndarray:
    """Which of ``num_packets`` packets are lost (bool ``(num_packets,)``), the chain started in its
    stationary distribution."""
    loss, burst = float(params["loss_rate"]), float(params["mean_burst_packets"])
    r = 1.0 / burst
    p = min(1.0, loss * r / max(1e-12, 1.0 - loss))
    u = np.random.default_rng(int(params["seed"])).random(num_packets + 1)
    lost = np.zeros(num_packets, bool)
    bad = u[0] < loss
    for k in range(num_packets):
        lost[k] = bad
        bad = (u[k + 1] >= r) if bad else (u[k + 1] < p)
    return lost


def packet_samples(params: dict[str, Any], sample_rate: int) -> int:
    return max(1, round(float(params["packet_ms"]) * sample_rate / 1000))


def apply(params: dict[str, Any], x: np.ndarray, sample_rate: int) -> np.ndarray:
    size = packet_samples(params, sample_rate)
    lost = losses(params, -(-x.shape[-1] // size))
    mask = np.repeat(~lost, size)[: x.shape[-1]]
    return x * mask


def burst_lengths(lost: np.ndarray) -> list[int]:
    """Lengths (packets) of the runs of lost packets, in order."""
    edges = np.diff(np.r_[0, lost.astype(np.int8), 0])
    return (np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)).tolist()


def labels(params: dict[str, Any], before: np.ndarray, after: np.ndarray, sample_rate: int) -> dict[str, Any]:
    lost = losses(params, -(-before.shape[-1] // packet_samples(params, sample_rate)))
    bursts = burst_lengths(lost)
    return {
        "lost_fraction": round(float(lost.mean()) if lost.size else 0.0, 6),
        "mean_burst_packets": round(float(np.mean(bursts)), 4) if bursts else 0.0,
        "bursts": len(bursts),
    }


PACKET_LOSS = register(Effect("packet_loss", 60, False, PacketLossSettings, draw, apply, labels))
