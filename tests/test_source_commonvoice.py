"""Mozilla Common Voice as a catalog: two locale folders (a release-17 header and an older one),
MP3 clips, splits from train/dev/test.tsv, quotes in sentences, bad and missing rows, a path
outside ROOT, and a build from the MP3 catalog."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from sources_kit import build_and_validate, catalog, noise_file, rejects, speech_file

from audiosynth.catalog import Catalog
from audiosynth.io.audio import read_segment

NEW = ["client_id", "path", "sentence_id", "sentence", "sentence_domain", "up_votes", "down_votes", "age", "gender", "accents", "variant"]
NEW += ["locale", "segment"]
OLD = ["client_id", "path", "sentence", "up_votes", "down_votes", "age", "gender", "accent"]  # release 1: no locale column
A, B, C, D, E = (hashlib.sha512(name.encode()).hexdigest() for name in "abcde")  # client ids: 128 hex digits
ODD = "x" * 130  # a client id that is no safe name (too long)


def new_row(client: str, path: str, sentence: str, age: str = "", gender: str = "", accents: str = "", variant: str = "") -> list[str]:
    return [client, path, "5f1e" + path[-7:-4], sentence, "", "2", "0", age, gender, accents, variant, "en", ""]


def write_tsv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    """As Corpora Creator writes them: tab-separated, no CSV quoting."""
    path.write_text("\n".join("\t".join(row) for row in [header, *rows]) + "\n", encoding="utf-8")


@pytest.fixture
def cv(tmp_path: Path) -> Path:
    root = tmp_path / "cv-corpus-17.0-2024-03-15"
    en, sv = root / "en", root / "sv"  # a folder not named after the locale
    for n, seconds in zip(range(100, 107), (1.6, 1.8, 2.0, 1.7, 2.2, 1.5, 1.5), strict=True):
        speech_file(en / "clips" / f"common_voice_en_{n}.mp3", seconds, f0=100.0 + 7 * n % 90, rate=48000, seed=n, format="MP3")
    speech_file(sv / "clips" / "common_voice_sv-SE_200.mp3", 1.9, f0=180.0, rate=32000, seed=9, format="MP3")
    speech_file(tmp_path / "stray.mp3", 1.5, rate=48000, format="MP3")
    rows = {
        100: new_row(
            A, "common_voice_en_100.mp3", '"Hello," she said.', "twenties", "male_masculine", "United States English|Canadian English"
        ),
        101: new_row(B, "common_voice_en_101.mp3", 'He said "stop', gender="female_feminine"),
        102: new_row(E, "common_voice_en_102.mp3", '"She said ""hi""."', "twenties", "male_masculine"),
        103: new_row(C, "common_voice_en_103.mp3", "It's  nine o'clock.", "fourties", "do_not_wish_to_say", variant="en-GB"),
        104: new_row(ODD, "common_voice_en_104.mp3", "Only validated.", gender="female"),
        199: new_row(C, "common_voice_en_199.mp3", "Its mp3 is missing."),
    }
    write_tsv(en / "train.tsv", NEW, [rows[100], rows[101]])
    write_tsv(en / "dev.tsv", NEW, [rows[102]])
    write_tsv(en / "test.tsv", NEW, [rows[103], rows[199]])
    write_tsv(
        en / "validated.tsv",
        NEW,
        [*rows.values(), [D, "common_voice_en_1"], new_row(D, "../../../stray.mp3", "Outside."), new_row(D, "", "No path.")],
    )
    write_tsv(en / "invalidated.tsv", NEW, [new_row(D, "common_voice_en_105.mp3", "Voted down.")])
    write_tsv(en / "other.tsv", NEW, [new_row(D, "common_voice_en_106.mp3", "Not voted on.")])
    sv_row = [D, "common_voice_sv-SE_200.mp3", "Hej då.", "2", "0", "thirties", "male", ""]
    write_tsv(sv / "train.tsv", OLD, [sv_row])
    write_tsv(sv / "validated.tsv", OLD, [sv_row])
    return root


def test_common_voice_rows_field_by_field(cv: Path, tmp_path: Path) -> None:
    out = tmp_path / "cat" / "cv.jsonl"
    cat = catalog("commonvoice", cv, out)
    assert sorted(c.id for c in cat) == [f"common_voice_en_{n}" for n in range(100, 105)] + ["common_voice_sv-SE_200"]
    first = cat.by_id("common_voice_en_100")
    assert (first.speaker, first.gender, first.language, first.split, first.text) == (A, "male", "en", "train", '"Hello," she said.')
    assert first.tags == ("age:twenties", "accent:United States English", "accent:Canadian English")
    assert (first.sample_rate, first.num_channels, first.corpus, first.kind) == (48000, 1, "commonvoice", "speech")
    assert first.duration == pytest.approx(1.6, abs=1e-9)  # libsndfile's LAME MP3s carry their exact length
    assert Path(first.path) == cv / "en" / "clips" / "common_voice_en_100.mp3"  # not below the catalog: absolute
    unbalanced = cat.by_id("common_voice_en_101")
    assert (unbalanced.text, unbalanced.gender, unbalanced.split, unbalanced.tags) == ('He said "stop', "female", "train", ())
    quoted = cat.by_id("common_voice_en_102")  # an older release's CSV quoting undone
    assert (quoted.text, quoted.split, quoted.speaker) == ('She said "hi".', "dev", E)  # speakers are split-disjoint
    test = cat.by_id("common_voice_en_103")
    assert (test.text, test.gender, test.split, test.tags) == ("It's nine o'clock.", None, "test", ("age:fourties", "variant:en-GB"))
    only_validated = cat.by_id("common_voice_en_104")
    assert only_validated.split is None and only_validated.gender == "female"
    assert only_validated.speaker == "cv-" + hashlib.sha1(ODD.encode()).hexdigest()
    sv = cat.by_id("common_voice_sv-SE_200")  # the oldest header: 'accent', male/female, the locale from the name
    assert (sv.language, sv.gender, sv.split, sv.sample_rate, sv.tags) == ("sv-SE", "male", "train", 32000, ("age:thirties",))
    assert sv.duration == pytest.approx(1.9, abs=1e-9)
    for clip in cat:
        assert clip.active and clip.active[0][0] < 0.2


def test_common_voice_rejects_name_the_tsv_line(cv: Path, tmp_path: Path) -> None:
    out = tmp_path / "cv.jsonl"
    catalog("commonvoice", cv, out)
    got = {(Path(r["path"]).name, r["reason"]) for r in rejects(out)}
    assert got == {
        ("test.tsv:3", "unreadable"),  # the missing mp3, named where its split comes from
        ("validated.tsv:8", "bad_row"),  # two columns only
        ("validated.tsv:10", "bad_row"),  # an empty path
        ("stray.mp3", "outside_root"),
    }
    by_path = {Path(r["path"]).name: r["detail"] for r in rejects(out)}
    assert "clips/common_voice_en_199.mp3" in by_path["test.tsv:3"]
    assert "2 columns" in by_path["validated.tsv:8"]
    assert str(cv / "en" / "test.tsv") + ":3" in {r["path"] for r in rejects(out)}


def test_root_may_be_one_locale_folder(cv: Path, tmp_path: Path) -> None:
    cat = catalog("commonvoice", cv / "sv", tmp_path / "sv.jsonl")
    assert [c.id for c in cat] == ["common_voice_sv-SE_200"]
    assert rejects(tmp_path / "sv.jsonl") == []


def test_an_mp3_segment_read_is_the_slice_of_its_whole_decode(cv: Path, tmp_path: Path) -> None:
    cat = catalog("commonvoice", cv, tmp_path / "cv.jsonl")
    merged = Catalog.merge([cat])
    path = merged.resolve(merged.by_id("common_voice_en_104"))
    with sf.SoundFile(path) as handle:
        whole = handle.read(dtype="float64", always_2d=True).T
    assert whole.shape[1] == merged.by_id("common_voice_en_104").num_samples
    for offset in (0, 1, 1151, 1152, 40000, whole.shape[1] - 5000):
        np.testing.assert_array_equal(read_segment(path, offset, 5000, sample_rate=48000), whole[:, offset : offset + 5000])
    again = [read_segment(path, 40000, 5000) for _ in range(3)]
    assert all(np.array_equal(again[0], a) for a in again)


def test_a_build_from_the_mp3_catalog_validates(cv: Path, tmp_path: Path) -> None:
    speech = tmp_path / "cv.jsonl"
    catalog("commonvoice", cv, speech)
    noise_file(tmp_path / "noise" / "hum.wav", 4.0)
    noise = tmp_path / "noise.jsonl"
    catalog("folder", tmp_path / "noise", noise, kind="noise")
    rows = build_and_validate(tmp_path / "ds", [speech], [noise], num_examples=4, duration_s=[2.3, 2.5], require_text=True)
    used = {row["labels"]["speech_clip"] for row in rows}
    assert used <= {c.id for c in catalog("commonvoice", cv, tmp_path / "again.jsonl")} and used
    assert all(row["labels"].get("text") for row in rows)
