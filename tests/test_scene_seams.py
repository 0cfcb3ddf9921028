"""The Scene's seams (source paths, the noise field kind, the effect chain, the level definition):
at their defaults a scene keeps the dict it had (manifest rows of a build of main load and write
back byte for byte), at other values they survive the round trip through JSON, and inconsistent
values are refused."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from conftest import small_config

from audiosynth.acoustics.room import Room
from audiosynth.plan import Planner, load_catalogs
from audiosynth.scene import DEFAULT_LEVEL_DEFINITION, NOISE_FIELDS, EffectStep, Noise, Scene, Segment, Source, Waypoint, static_path

# one or two manifest rows of a build of every recipe by main at 30ee160 (golden settings), plus
# catalog RIRs, a dry noise-free example and a 4-microphone array (noise as a point in the room)
OLD_ROWS = [json.loads(line) for line in (Path(__file__).parent / "golden" / "scenes_main.jsonl").read_text().splitlines()]


def _moving_scene() -> Scene:
    """A scene with every seam away from its default."""
    room = Room((5.0, 4.0, 3.0), 0.4, ((1.0, 1.0, 1.5), (2.0, 1.0, 1.5), (3.0, 1.5, 1.5), (4.0, 3.0, 1.2)), ((2.5, 2.0, 1.0),))
    walker = Source("s1", Segment("a", 0, 16000), -25.0, path=(Waypoint(0), Waypoint(1, 8000), Waypoint(2, 15000)))
    still = Source("s2", Segment("b", 10, 12000, onset=2000), -30.0, path=static_path(3), sir_db=2.5)
    chain = (
        EffectStep("mic_response", (("gains_db", (0.5, -1.25, 3.0)), ("preset", "phone")), ("s1", "s2", "noise")),
        EffectStep("clipping", (("threshold", 0.8), ("soft", True), ("none", None)), ("mix",)),
    )
    noise = Noise(Segment("n", 5, 16000, loop=True), 12.5, channel="mean")
    return Scene(
        "train-000003",
        3,
        "train",
        16000,
        16000,
        (walker, still),
        noise,
        room,
        chain=chain,
        level_definition="p56_active",
        type="separation",
    )


@pytest.mark.parametrize("row", OLD_ROWS, ids=[f"{r['recipe']}-{r['scene']['id']}" for r in OLD_ROWS])
def test_old_manifest_rows_load_and_write_back_the_same_bytes(row):
    scene = Scene.from_dict(row["scene"])
    assert json.dumps(scene.to_dict()) == json.dumps(row["scene"])  # the same keys, in the same order
    assert scene.chain == () and scene.level_definition == DEFAULT_LEVEL_DEFINITION == "power"
    assert scene.noise is None or scene.noise.field == ("mono" if row["scene"]["noise"]["position"] is None else "point")
    for source, old in zip(scene.sources, row["scene"]["sources"], strict=True):
        assert not source.moving and source.position == old["position"]
        assert source.path == (() if old["position"] is None else (Waypoint(old["position"], 0),))


def test_the_old_rows_cover_every_task_and_both_noise_fields():
    assert {r["scene"]["type"] for r in OLD_ROWS} == {"asr", "denoising", "diarization", "separation", "target_speaker"}
    scenes = [Scene.from_dict(r["scene"]) for r in OLD_ROWS]
    assert {s.noise.field for s in scenes if s.noise} == set(NOISE_FIELDS)
    assert any(s.noise is None for s in scenes) and any(src.rir_clip for s in scenes for src in s.sources)
    assert any(s.enrollment for s in scenes) and any(src.position is not None for s in scenes for src in s.sources)


def test_seams_away_from_their_defaults_round_trip_through_json():
    scene = _moving_scene()
    data = json.loads(json.dumps(scene.to_dict()))
    assert Scene.from_dict(data) == scene
    assert hash(Scene.from_dict(data)) == hash(scene)  # frozen all the way down (params as tuples)
    assert data["chain"][0] == {
        "name": "mic_response",
        "params": {"gains_db": [0.5, -1.25, 3.0], "preset": "phone"},
        "roles": ["s1", "s2", "noise"],
    }
    assert data["level_definition"] == "p56_active"
    assert data["sources"][0]["path"] == [{"point": 0, "sample": 0}, {"point": 1, "sample": 8000}, {"point": 2, "sample": 15000}]
    assert "position" not in data["sources"][0] and data["sources"][1]["position"] == 3 and "path" not in data["sources"][1]
    assert scene.chain[0].params_dict() == {"gains_db": (0.5, -1.25, 3.0), "preset": "phone"}
    assert scene.sources[0].moving and not scene.sources[1].moving and scene.sources[1].position == 3


def test_a_dict_with_the_seams_spelled_out_loads_as_the_default():
    """A writer may spell defaults out: a static ``path`` and an explicit ``field`` load as today's scene."""
    row = next(r["scene"] for r in OLD_ROWS if (r["scene"]["noise"] or {}).get("position") is not None)
    spelled = json.loads(json.dumps(row))
    for source in spelled["sources"]:
        source["path"] = [] if source["position"] is None else [{"point": source.pop("position"), "sample": 0}]
    spelled["noise"]["field"] = "point"
    spelled.update(chain=[], level_definition="power")
    assert Scene.from_dict(spelled) == Scene.from_dict(row)
    assert json.dumps(Scene.from_dict(spelled).to_dict()) == json.dumps(row)


def test_planned_scenes_use_the_seams_as_today(corpus):
    """An array hears the noise from a point of the room (``point``); one microphone hears it ``mono``."""
    for array, field in (({"type": "linear", "num_mics": 3}, "point"), ({"type": "single"}, "mono")):
        config = small_config(
            corpus, num_examples=6, reverb={"probability": 1.0, "room": {"array": array}}, splits={"train": 1.0, "dev": 0.0, "test": 0.0}
        )
        planner = Planner(config, load_catalogs(config))
        for scene in map(planner.scene, range(6)):
            assert scene.noise.field == field and (scene.noise.position == 1) == (field == "point")
            assert scene.sources[0].path == (Waypoint(0, 0),) and scene.sources[0].position == 0
            assert scene.chain == () and scene.level_definition == "power"
            assert not {"chain", "level_definition"} & set(scene.to_dict()) and "field" not in scene.to_dict()["noise"]


def test_inconsistent_seams_are_refused():
    segment = Segment("n", 0, 100)
    with pytest.raises(ValueError, match="a point noise field needs position"):
        Noise(segment, 0.0, field="point")
    with pytest.raises(ValueError, match="a mono noise field has no position"):
        Noise(segment, 0.0, position=2)
    with pytest.raises(ValueError, match="noise field 'diffuse' is not one of mono, point"):
        Noise(segment, 0.0, field="diffuse")
    with pytest.raises(ValueError, match="path samples must start at 0 and increase"):
        Source("s1", segment, -20.0, path=(Waypoint(0, 10),))
    with pytest.raises(ValueError, match="path samples must start at 0 and increase"):
        Source("s1", segment, -20.0, path=(Waypoint(0), Waypoint(1, 50), Waypoint(2, 50)))
    with pytest.raises(ValueError, match="a catalog RIR"):
        Source("s1", segment, -20.0, rir_clip="rir", path=static_path(0))
    with pytest.raises(ValueError, match=r"moves .* it has a path, not a position"):
        _ = _moving_scene().sources[0].position
    with pytest.raises(ValueError, match="effect parameter"):
        EffectStep.from_dict({"name": "eq", "params": {"bands": {"low": 1}}})
    with pytest.raises(ValueError, match="effect parameter"):
        EffectStep("eq", (("curve", object()),), ("mix",))
    listed = EffectStep("eq", (("gains_db", [1.0, [2.0, 3]]),), ["s1"])  # lists as a planner may give them
    assert listed.params == (("gains_db", (1.0, (2.0, 3))),) and listed.roles == ("s1",) and hash(listed) == hash(listed)
    moved = dataclasses.replace(_moving_scene().noise, field="point", position=1)
    assert Noise.from_dict(moved.to_dict()) == moved and "field" not in moved.to_dict()
