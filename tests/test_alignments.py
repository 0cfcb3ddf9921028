"""Alignments beside a corpus (CTM, Praat TextGrid, LibriSpeech .alignment.txt): parsed from small
files, attached to catalogued clips by id, fitted to the audio, round-tripped through the catalog."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from click.testing import CliRunner
from sources_kit import catalog, speech_file

from audiosynth.catalog import read_catalog
from audiosynth.cli import main
from audiosynth.corpora import catalog_corpus
from audiosynth.corpora.alignments import fit, read_alignments, read_ctm, read_librispeech_alignment, read_textgrid
from audiosynth.errors import CatalogError

CTM = """;; a NIST comment
utt1 1 0.35 0.30 hello 0.98
utt1 1 0.80 0.45 world 0.91
utt1 1 0.65 0.15 uh 0.40
utt2 A 0.00 0.50 one
utt2 A 0.50 0.25 two
bad1 1 0.10 0.20 fine
bad1 1 zero 0.20 oops
bad1 1 0.50 0.20
"""

_LONG = '''File type = "ooTextFile"
Object class = "TextGrid"

xmin = 0
xmax = 1.6
tiers? <exists>
size = 2
item []:
    item [1]:
        class = "IntervalTier"
        name = "words"
        xmin = 0
        xmax = 1.6
        intervals: size = 4
        intervals [1]:
            xmin = 0
            xmax = 0.31
            text = ""
        intervals [2]:
            xmin = 0.31
            xmax = 0.72
            text = "north"
        intervals [3]:
            xmin = 0.72
            xmax = 1.44
            text = "wind's ""tale"""
        intervals [4]:
            xmin = 1.44
            xmax = 1.6
            text = ""
    item [2]:
        class = "IntervalTier"
        name = "phones"
        xmin = 0
        xmax = 1.6
        intervals: size = 3
        intervals [1]:
            xmin = 0
            xmax = 0.31
            text = "sil"
        intervals [2]:
            xmin = 0.31
            xmax = 0.45
            text = "N"
        intervals [3]:
            xmin = 0.45
            xmax = 0.72
            text = "AO1"
'''
LONG_TEXTGRID = "".join(
    line + (" \n" if " = " in line or line.endswith("<exists>") else "\n") for line in _LONG.splitlines()
)  # as Praat writes it

# the same grid in Praat's short text format, its tiers named as MFA 1 names them, plus a point tier
SHORT_TEXTGRID = '''File type = "ooTextFile"
Object class = "TextGrid"

0
1.6
<exists>
3
"TextTier"
"events"
0
1.6
1
0.5
"click"
"IntervalTier"
"spk7 - words"
0
1.6
4
0
0.31
""
0.31
0.72
"north"
0.72
1.44
"wind's ""tale"""
1.44
1.6
""
"IntervalTier"
"spk7 - phones"
0
1.6
3
0
0.31
"sil"
0.31
0.45
"N"
0.45
0.72
"AO1"
'''

ALIGNMENT_TXT = """84-121123-0000 ",GO,,DO,YOU,HEAR," "0.490,0.890,1.270,1.380,1.490,1.890,2.09"
84-121123-0001 ",BUT,IN," "0.270,0.420"
84-121123-0002 ",BUT,IN," "0.270,0.420,0.300,0.9"

84-121123-0003 ",LESS,THAN," "0.100,0.300,0.500,0.60"
"""

WORDS = (("north", 0.31, 0.72), ('wind\'s "tale"', 0.72, 1.44))
PHONES = (("sil", 0.0, 0.31), ("N", 0.31, 0.45), ("AO1", 0.45, 0.72))


def test_ctm_words_sorted_with_times_from_start_and_duration(tmp_path: Path) -> None:
    (tmp_path / "words.ctm").write_text(CTM)
    got = read_ctm(tmp_path / "words.ctm")
    assert got.words == {
        "utt1": (("hello", 0.35, 0.65), ("uh", 0.65, 0.8), ("world", 0.8, 1.25)),
        "utt2": (("one", 0.0, 0.5), ("two", 0.5, 0.75)),
    }
    assert got.phones == {}
    # one bad line costs its utterance all its words (no partial alignment), named by file:line, once per utterance
    assert len(got.problems) == 1 and f"{tmp_path / 'words.ctm'}:8: the start is not a number" in got.problems[0]
    assert "bad1" in got.problems[0]


def test_a_ctm_named_for_phones_holds_phones(tmp_path: Path) -> None:
    (tmp_path / "phones.ctm").write_text("utt1 1 0.00 0.12 sil\nutt1 1 0.12 0.08 HH\n")
    got = read_ctm(tmp_path / "phones.ctm")
    assert got.phones == {"utt1": (("sil", 0.0, 0.12), ("HH", 0.12, 0.2))} and got.words == {}


def test_textgrid_long_and_short_formats_read_the_same(tmp_path: Path) -> None:
    (tmp_path / "a" / "u-1.TextGrid").parent.mkdir()
    (tmp_path / "a" / "u-1.TextGrid").write_text(LONG_TEXTGRID)
    (tmp_path / "u-2.TextGrid").write_text(SHORT_TEXTGRID)
    (tmp_path / "u-3.TextGrid").write_bytes(LONG_TEXTGRID.encode("utf-16"))  # what Praat writes for non-ASCII labels
    for utt, path in [("u-1", tmp_path / "a" / "u-1.TextGrid"), ("u-2", tmp_path / "u-2.TextGrid"), ("u-3", tmp_path / "u-3.TextGrid")]:
        got = read_textgrid(path)
        assert got.problems == []
        assert got.words == {utt: WORDS}, utt  # empty intervals (silences) dropped, "" inside a string is a quote
        assert got.phones == {utt: PHONES}, utt  # labels kept as written ("sil")


def test_a_malformed_textgrid_is_skipped_naming_file_and_line(tmp_path: Path) -> None:
    cut = LONG_TEXTGRID.replace('            xmax = 0.72 \n            text = "north" \n', "            xmax = 0.72 \n")
    (tmp_path / "cut.TextGrid").write_text(cut)
    (tmp_path / "back.TextGrid").write_text(LONG_TEXTGRID.replace("xmax = 0.45", "xmax = 0.2"))
    (tmp_path / "open.TextGrid").write_text(LONG_TEXTGRID.replace('text = "north"', 'text = "north'))
    (tmp_path / "notes.TextGrid").write_text("just some notes\n")
    problems = {name: read_textgrid(tmp_path / f"{name}.TextGrid").problems for name in ("cut", "back", "open", "notes")}
    assert all(len(p) == 1 for p in problems.values()), problems
    # the cut grid: interval 3's xmin (line 23) is where interval 2's text should be
    assert problems["cut"][0].startswith(f"{tmp_path / 'cut.TextGrid'}:23: expected an interval's text")
    assert problems["back"][0].startswith(f"{tmp_path / 'back.TextGrid'}:43: an interval ends (0.2 s) before it starts (0.31 s)")
    assert "without its closing quote" in problems["open"][0]
    assert "the file ends where the file type should be" in problems["notes"][0]
    assert read_textgrid(tmp_path / "cut.TextGrid").words == {}


def test_librispeech_alignment_txt_words_start_where_the_one_before_ends(tmp_path: Path) -> None:
    path = tmp_path / "84-121123.alignment.txt"
    path.write_text(ALIGNMENT_TXT.replace('"\n', '" \n'))  # each line ends in a space, as the published files do
    got = read_librispeech_alignment(path)
    assert got.words["84-121123-0000"] == (
        ("GO", 0.49, 0.89),
        ("DO", 1.27, 1.38),
        ("YOU", 1.38, 1.49),
        ("HEAR", 1.49, 1.89),
    )
    assert got.words["84-121123-0003"] == (("LESS", 0.1, 0.3), ("THAN", 0.3, 0.5))
    assert set(got.words) == {"84-121123-0000", "84-121123-0003"}
    assert [p.split(": ")[0] for p in got.problems] == [f"{path}:2", f"{path}:3"]
    assert "4 words but 2 end times" in got.problems[0] and "the end times go back" in got.problems[1]


def test_read_alignments_searches_a_folder_and_refuses_what_is_none(tmp_path: Path) -> None:
    (tmp_path / "al" / "deep").mkdir(parents=True)
    (tmp_path / "al" / "deep" / "u-1.TextGrid").write_text(LONG_TEXTGRID)
    (tmp_path / "al" / "words.ctm").write_text("u-1 1 0 0.5 other\nu-9 1 0 0.5 nine\n")
    (tmp_path / "al" / "readme.md").write_text("not read")
    (tmp_path / "al" / "deep" / "loop").symlink_to(tmp_path / "al")  # a link loop is walked once
    got = read_alignments(tmp_path / "al")
    assert got.files == 2 and set(got.ids()) == {"u-1", "u-9"}
    assert got.words["u-1"] == WORDS  # sorted paths: al/deep/u-1.TextGrid comes before al/words.ctm and keeps its words
    assert got.phones["u-1"] == PHONES
    assert len(got.problems) == 1 and "u-1: words already read from" in got.problems[0]
    (tmp_path / "empty").mkdir()
    with pytest.raises(CatalogError, match=r"no \*\.ctm, \*\.TextGrid or \*\.alignment\.txt files found"):
        read_alignments(tmp_path / "empty")
    with pytest.raises(CatalogError, match="not an alignment file"):
        read_alignments(tmp_path / "al" / "readme.md")
    with pytest.raises(CatalogError, match="must be a"):
        read_alignments(tmp_path / "missing")


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A folder corpus of three utterances (ids u-1, u-2, spk-u-3) and an alignments folder for them."""
    root = tmp_path / "corpus"
    speech_file(root / "u-1.wav", 1.6, f0=120.0)
    speech_file(root / "u-2.wav", 1.6, f0=180.0, seed=3)
    speech_file(root / "spk" / "u-3.wav", 1.0, f0=150.0, seed=4)
    al = tmp_path / "mfa_out"
    (al / "spk").mkdir(parents=True)
    (al / "spk" / "u-1.TextGrid").write_text(LONG_TEXTGRID)
    (al / "u-2.TextGrid").write_text(SHORT_TEXTGRID.replace('1.44\n1.6\n""', '1.44\n1.62\n"tail"'))  # 20 ms past the end
    (al / "more.ctm").write_text(
        "spk-u-3 1 0.10 0.40 first\nspk-u-3 1 0.55 0.454 last\n"  # ends at 1.004 s: within 10 ms of the 1.0 s file
        "gone-1 1 0 1 nobody\ngone-2 1 0 1 nobody\n"
    )
    return root


def test_alignments_attach_by_clip_id_and_round_trip_through_the_catalog(corpus: Path, tmp_path: Path, caplog) -> None:
    out = tmp_path / "cat" / "speech.jsonl"
    with caplog.at_level(logging.WARNING):
        summary = catalog_corpus("folder", corpus, out, kind="speech", workers=1, progress=False, alignments=tmp_path / "mfa_out")
    cat = read_catalog(out)  # every row valid (Clip.from_dict)
    assert sorted(c.id for c in cat) == ["spk-u-3", "u-1", "u-2"]
    one, two, three = cat.by_id("u-1"), cat.by_id("u-2"), cat.by_id("spk-u-3")
    assert (one.words, one.phones) == (WORDS, PHONES)
    assert two.words is None and two.phones == PHONES  # its words end 20 ms past its audio: dropped, phones kept, clip kept
    assert three.words == (("first", 0.1, 0.5), ("last", 0.55, 1.0))  # the 4 ms past the end cut to the end
    rows = {row["id"]: row for row in map(json.loads, out.read_text().splitlines())}
    assert rows["u-1"]["words"] == [["north", 0.31, 0.72], ['wind\'s "tale"', 0.72, 1.44]]
    assert "words" not in rows["u-2"]
    # one warning line each: alignments matching no clip, alignments past the end
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert [m for m in messages if "match no clip" in m] == ["2 alignments match no clip id (gone-1, gone-2): they are not used"]
    assert len([m for m in messages if "past their clip's audio" in m]) == 1 and "clip u-2: its words end at 1.62 s" in messages[-1]
    assert summary.alignments == "words for 2 clips, phones for 2, from 3 files; 2 matched no clip; 1 past the audio's end (dropped)"
    assert "alignments: words for 2 clips" in summary.format()
    assert summary.num_rejected == 0


def test_the_catalog_cli_takes_alignments(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "speech.jsonl"
    ctm = tmp_path / "mfa_out" / "more.ctm"
    result = CliRunner().invoke(
        main, ["catalog", "folder", str(corpus), "-o", str(out), "--kind", "speech", "--workers", "1", "--alignments", str(ctm)]
    )
    assert result.exit_code == 0, result.output
    assert "alignments: words for 1 clips, phones for 0, from 1 files; 2 matched no clip" in result.output
    assert read_catalog(out).by_id("spk-u-3").words == (("first", 0.1, 0.5), ("last", 0.55, 1.0))
    bad = CliRunner().invoke(
        main, ["catalog", "folder", str(corpus), "-o", str(out), "--kind", "speech", "--alignments", str(tmp_path / "no")]
    )
    assert bad.exit_code != 0 and "does not exist" in bad.output


def test_segments_are_matched_by_their_clip_id_with_times_from_the_segment(tmp_path: Path) -> None:
    speech_file(tmp_path / "meeting.wav", 6.0)
    lines = [
        {"audio_filepath": "meeting.wav", "offset": 0.5, "duration": 2.0, "text": "first part"},
        {"audio_filepath": "meeting.wav", "offset": 3.0, "duration": 2.5, "text": "second part"},
    ]
    (tmp_path / "m.json").write_text("\n".join(map(json.dumps, lines)) + "\n")
    ctm = "meeting-0003000 1 0.2 0.4 second\nmeeting-0003000 1 0.7 0.3 part\nmeeting 1 3.2 0.4 second\n"  # recording times: no clip
    (tmp_path / "m.ctm").write_text(ctm)
    cat = catalog("nemo", tmp_path / "m.json", tmp_path / "cat.jsonl", alignments=tmp_path / "m.ctm")
    assert cat.by_id("meeting-0003000").words == (("second", 0.2, 0.6), ("part", 0.7, 1.0))
    assert cat.by_id("meeting-0000500").words is None


def test_librispeech_picks_up_alignments_merged_into_its_tree(tmp_path: Path) -> None:
    chapter = tmp_path / "LibriSpeech" / "dev-clean" / "84" / "121123"
    for utt in range(3):
        speech_file(chapter / f"84-121123-{utt:04d}.flac", 2.2, seed=utt)
    (chapter / "84-121123.trans.txt").write_text("84-121123-0000 GO DO YOU HEAR\n84-121123-0001 BUT IN\n84-121123-0002 LESS THAN\n")
    (chapter / "84-121123.alignment.txt").write_text(ALIGNMENT_TXT)
    (chapter / "84-121123-0000.TextGrid").write_text(LONG_TEXTGRID)  # its phones; the .alignment.txt keeps the words
    (chapter / "84-121123-0002.TextGrid").write_text(LONG_TEXTGRID)  # line 3 of the .alignment.txt is bad: words from here
    cat = catalog("librispeech", tmp_path / "LibriSpeech", tmp_path / "ls.jsonl")
    first = cat.by_id("84-121123-0000")
    assert first.words == (("GO", 0.49, 0.89), ("DO", 1.27, 1.38), ("YOU", 1.38, 1.49), ("HEAR", 1.49, 1.89))
    assert first.phones == PHONES and first.split == "dev" and first.text == "GO DO YOU HEAR"
    assert cat.by_id("84-121123-0001").words is None  # its line is malformed (logged), the clip stays
    assert cat.by_id("84-121123-0002").words == WORDS
    # an --alignments file overrides what lay beside the corpus, for the fields it has
    (tmp_path / "fix.ctm").write_text("84-121123-0001 1 0.27 0.15 BUT\n84-121123-0000 1 0.1 0.2 NEW\n")
    cat = catalog("librispeech", tmp_path / "LibriSpeech", tmp_path / "ls.jsonl", alignments=tmp_path / "fix.ctm")
    assert cat.by_id("84-121123-0001").words == (("BUT", 0.27, 0.42),)
    assert cat.by_id("84-121123-0000").words == (("NEW", 0.1, 0.3),) and cat.by_id("84-121123-0000").phones == PHONES


def test_fit_keeps_what_lies_in_the_audio(tmp_path: Path) -> None:
    from audiosynth.catalog import Clip

    clip = Clip("a", "a.wav", "speech", 2.0, 16000, words=(("x", 0.0, 1.0), ("y", 1.5, 2.009)), phones=(("p", 1.9, 2.5),))
    fitted, notes = fit(clip)
    assert fitted.words == (("x", 0.0, 1.0), ("y", 1.5, 2.0)) and fitted.phones is None
    assert notes == ["clip a: its phones end at 2.5 s, past its 2 s of audio; catalogued without phones"]
    assert fit(Clip("b", "b.wav", "speech", 2.0, 16000)) == (Clip("b", "b.wav", "speech", 2.0, 16000), [])
