"""`audiosynth report`: the HTML report of a built dataset, checked against the manifest."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from audiosynth.build import build
from audiosynth.cli import main
from audiosynth.config import config_from_dict
from audiosynth.errors import DatasetError
from audiosynth.plan import demo_dir
from audiosynth.report import make_report
from audiosynth.report.stats import Coverage, Sample

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SECTIONS = ["Summary", "Distributions", "Coverage", "Reuse", "Split check", "Example spectrograms", "Rejects", "Validation"]


class Page(HTMLParser):
    """What a test reads from index.html: section headings (h2), subheadings (h3), image
    sources, tables (by id) as rows of cell texts, and the text of paragraphs and list items."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.headings: list[str] = []
        self.subheadings: list[str] = []
        self.images: list[str] = []
        self.tables: dict[str, list[list[str]]] = {}
        self.paragraphs: list[str] = []
        self._table: str | None = None
        self._cell: list[str] | None = None
        self._heading: list[str] | None = None
        self._paragraph: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "img":
            self.images.append(attributes["src"] or "")
        elif tag == "table":
            self._table = attributes.get("id") or f"table{len(self.tables)}"
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag in ("h2", "h3"):
            self._heading = []
        elif tag in ("p", "li"):
            self._paragraph = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table = None
        elif tag in ("td", "th") and self._cell is not None and self._table:
            self.tables[self._table][-1].append("".join(self._cell))
            self._cell = None
        elif tag in ("h2", "h3") and self._heading is not None:
            (self.headings if tag == "h2" else self.subheadings).append("".join(self._heading))
            self._heading = None
        elif tag in ("p", "li") and self._paragraph is not None:
            self.paragraphs.append("".join(self._paragraph))
            self._paragraph = None

    def handle_data(self, data: str) -> None:
        for part in (self._cell, self._heading, self._paragraph):
            if part is not None:
                part.append(data)

    def table(self, table_id: str) -> list[dict[str, str]]:
        """The table's body rows as dicts keyed by its header."""
        header, *rows = self.tables[table_id]
        return [dict(zip(header, row, strict=True)) for row in rows]


def catalogs() -> dict[str, str]:
    demo = demo_dir()
    return {"speech": str(demo / "speech.jsonl"), "noise": str(demo / "noise.jsonl"), "rirs": str(demo / "rirs.jsonl")}


def manifest_rows(root: Path) -> list[dict]:
    return [json.loads(line) for line in (root / "manifest.jsonl").read_text().splitlines()]


def check_images(report: Path, page: Page) -> None:
    """Every img src is a relative path to a non-empty PNG beside index.html."""
    assert page.images
    for src in page.images:
        assert "/" not in src and not src.startswith(("http", "data:"))
        data = (report.parent / src).read_bytes()
        assert len(data) > 100 and data.startswith(PNG_SIGNATURE), src


@pytest.fixture(scope="module")
def denoising(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A 20-example denoising build, half reverberant in simulated rooms, and its report."""
    root = tmp_path_factory.mktemp("report") / "den"
    config = config_from_dict(
        {
            "catalogs": catalogs(),
            "num_examples": 20,
            "seed": 5,
            "duration_s": [1.5, 3.0],
            "snr_db": [0.0, 20.0],
            "reverb": {"probability": 0.5, "source": "simulated"},
            "output": {"shard_size": 10},
        }
    )
    build(config, root, workers=1, progress=False)
    return root, make_report(root, progress=False, num_examples_shown=2)


@pytest.fixture(scope="module")
def separation(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A 16-example 2-talker separation build (catalog RIRs, disjoint noises and RIRs) and its report."""
    root = tmp_path_factory.mktemp("report") / "sep"
    config = config_from_dict(
        {
            "task": "separation",
            "catalogs": catalogs(),
            "num_examples": 16,
            "seed": 2,
            "talkers": {"count": [2, 2], "overlap": "ratio", "overlap_ratio": [0.1, 0.4]},
            "reverb": {"probability": 0.5, "source": "catalog"},
            "splits": {"train": 0.5, "dev": 0.25, "test": 0.25, "disjoint_noise": True, "disjoint_rirs": True},
            "output": {"shard_size": 8},
        }
    )
    build(config, root, workers=1, progress=False)
    return root, make_report(root, root / "html", progress=False, num_examples_shown=1)


def test_denoising_report_has_every_section_and_its_images(denoising):
    root, report = denoising
    assert report == root / "report" / "index.html"
    page = Page(report.read_text())
    assert page.headings == SECTIONS
    check_images(report, page)
    assert page.images.count("example_0.png") == 1 and "example_1.png" in page.images and "example_2.png" not in page.images
    assert {"dist_snr_db.png", "dist_rt60_s.png", "dist_drr_db.png", "dist_c50_db.png", "cov_reverb_room_rt60_s.png"} <= set(page.images)
    histograms = {Image.open(report.parent / src).size for src in page.images if src.startswith(("dist_", "cov_"))}
    assert len(histograms) == 1  # one fixed figure size
    assert "OK: 20 examples validated, no problem." in page.paragraphs
    assert "none" in page.paragraphs  # no rejects


def test_summary_counts_match_the_manifest(denoising):
    root, report = denoising
    rows = manifest_rows(root)
    page = Page(report.read_text())
    facts = {r["field"]: r["value"] for r in page.table("summary-facts")}
    assert facts["task"] == "denoising" and facts["seed"] == "5" and facts["examples"] == "20"
    assert float(facts["hours"]) == pytest.approx(sum(r["duration"] for r in rows) / 3600, abs=1e-4)
    splits = {r["split"]: r for r in page.table("summary-splits")}
    assert {s: int(r["examples"]) for s, r in splits.items()} == Counter(r["split"] for r in rows)
    for split, r in splits.items():
        assert int(r["speakers"]) == len({row["labels"]["speaker"] for row in rows if row["split"] == split})


def test_coverage_and_distributions_match_the_manifest(denoising):
    root, report = denoising
    rows = manifest_rows(root)
    page = Page(report.read_text())
    coverage = {r["quantity"]: r for r in page.table("coverage-table")}
    assert set(coverage) >= {"snr_db", "duration_s", "speech_level_dbfs", "reverb.room.rt60_s", "reverb.room.distance_m"}
    snr = [r["labels"]["snr_db"] for r in rows]  # coverage is read from the labels, not from the plan
    rt60 = [r["labels"]["rt60_s"] for r in rows if r["scene"]["room"]]
    for name, values, (low, high) in (("snr_db", snr, (0.0, 20.0)), ("reverb.room.rt60_s", rt60, (0.2, 1.0))):
        row = coverage[name]
        assert int(row["values"]) == len(values)
        assert float(row["sampled min"]) == pytest.approx(min(values), abs=1e-3)
        assert float(row["sampled max"]) == pytest.approx(max(values), abs=1e-3)
        assert (float(row["configured min"]), float(row["configured max"])) == (low, high)
        filled = len({max(0, min(int((v - low) / (high - low) * 10), 9)) for v in values})
        assert row["bins filled"] == f"{filled}/10 ({100 * filled / 10:.0f}%)" and row["outside range"] == "0"
    labels = {r["label"]: r for r in page.table("label-stats")}
    measured = [r["labels"]["snr_db"] for r in rows]
    assert float(labels["snr_db"]["min"]) == pytest.approx(min(measured), abs=1e-3)
    assert float(labels["snr_db"]["max"]) == pytest.approx(max(measured), abs=1e-3)
    assert int(labels["rt60_s"]["values"]) == sum("rt60_s" in r["labels"] for r in rows) == len(rt60)
    assert "sir_db" not in labels and "overlap_ratio" not in labels


def test_separation_report_pools_talker_labels_and_checks_disjoint_pools(separation):
    root, report = separation
    rows = manifest_rows(root)
    assert report == root / "html" / "index.html"
    page = Page(report.read_text())
    assert page.headings == SECTIONS
    check_images(report, page)
    assert "example_0.png" in page.images and "example_1.png" not in page.images
    labels = {r["label"]: r for r in page.table("label-stats")}
    assert int(labels["sir_db"]["values"]) == 2 * len(rows)
    assert int(labels["speech_dbfs"]["values"]) == 2 * len(rows)  # s1_dbfs and s2_dbfs pooled
    assert int(labels["rt60_s"]["values"]) == sum(k in r["labels"] for r in rows for k in ("s1_rt60_s", "s2_rt60_s")) > 0
    assert float(labels["overlap_ratio"]["max"]) == pytest.approx(max(r["labels"]["overlap_ratio"] for r in rows), abs=1e-3)
    coverage = {r["quantity"]: r for r in page.table("coverage-table")}
    sirs = [s["sir_db"] for r in rows for s in r["scene"]["sources"] if s["sir_db"] is not None]
    assert int(coverage["talkers.sir_db"]["values"]) == len(sirs) == len(rows)
    assert float(coverage["talkers.sir_db"]["sampled min"]) == pytest.approx(min(sirs), abs=1e-3)
    assert "duration_s" not in coverage  # several talkers: the utterances set the length
    checks = page.table("split-check")
    assert {c["check"] for c in checks} == {"speakers", "noise clips", "RIRs"} and len(checks) == 9
    assert all(c["result"] == "PASS" for c in checks)
    reuse = {r["kind"]: r for r in page.table("reuse-table")}
    rir_uses = Counter(s["rir_clip"] for r in rows for s in r["scene"]["sources"] if s["rir_clip"])
    speech_uses = Counter(seg["clip"] for r in rows for seg in r["labels"]["segments"])
    assert int(reuse["catalog RIRs"]["uses"]) == sum(rir_uses.values()) and int(reuse["catalog RIRs"]["in catalogs"]) == 5
    assert int(reuse["speech utterances"]["distinct used"]) == len(speech_uses)
    top = [r for r in page.table("most-used") if r["kind"] == "noise clips"]
    noise_uses = Counter(r["labels"]["noise_clip"] for r in rows)
    assert len(top) == min(5, len(noise_uses)) and int(top[0]["uses"]) == max(noise_uses.values())
    assert any(p.startswith("OK: 16 examples validated") for p in page.paragraphs)


def copy_metadata(src: Path, dst: Path) -> Path:
    """A dataset folder with only src's build.json and manifest.jsonl (no audio)."""
    dst.mkdir()
    for name in ("build.json", "manifest.jsonl"):
        shutil.copy(src / name, dst / name)
    return dst


def test_split_check_fails_and_names_a_speaker_in_two_splits(denoising, tmp_path):
    root, _ = denoising
    ds = copy_metadata(root, tmp_path / "ds")
    rows = manifest_rows(ds)
    moved = rows[0]["labels"]["speaker"]  # a train speaker, now also heard in dev
    dev = next(r for r in rows if r["split"] == "dev")
    dev["labels"]["speaker"] = moved
    (ds / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    page = Page(make_report(ds, progress=False, num_examples_shown=0).read_text())
    checks = {c["splits"]: c for c in page.table("split-check")}
    assert checks["train / dev"]["result"] == "FAIL" and checks["train / dev"]["offenders"] == moved
    assert checks["train / dev"]["in common"] == "1"
    assert checks["train / test"]["result"] == "PASS" and checks["dev / test"]["result"] == "PASS"
    problems = [p for p in page.paragraphs if moved in p]
    assert any("appears in splits ['dev', 'train']" in p for p in problems)  # validate agrees
    assert "No example shown." in page.paragraphs


def test_rejects_are_counted_per_reason_and_escaped(denoising, tmp_path):
    root, _ = denoising
    ds = copy_metadata(root, tmp_path / "ds")
    info = json.loads((ds / "build.json").read_text())
    (ds / "build.json").write_text(json.dumps({**info, "excluded_speech": {"no_text": 4}}))
    rejects = [{"clip": f"c{k}", "reason": "silent", "path": f"/corpus/c{k}.wav"} for k in range(3)]
    rejects += [{"clip": "<script>x</script>", "reason": "nan", "detail": "NaN samples"}, {"clip": "d", "reason": "nan"}]
    (ds / "rejects.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rejects) + "not json\n")
    report = make_report(ds, run_validate=False, progress=False, num_examples_shown=0)
    text = report.read_text()
    page = Page(text)
    assert {r["reason"]: int(r["count"]) for r in page.table("reject-reasons")} == {"silent": 3, "nan": 2}
    first = page.table("rejects-first")
    assert [r["clip"] for r in first] == [r["clip"] for r in rejects]
    assert first[3]["detail"] == "NaN samples" and first[0]["path"] == "/corpus/c0.wav"
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert {r["reason"]: r["count"] for r in page.table("excluded-speech")} == {"no_text": "4"}
    assert "1 line(s) of rejects.jsonl could not be read." in page.paragraphs
    assert "rejects.png" in page.images
    check_images(report, page)
    assert "Validation skipped (not asked for)." in page.paragraphs


def test_webdataset_report_reads_audio_from_tars_and_validates_them(tmp_path):
    config = config_from_dict({"catalogs": catalogs(), "num_examples": 10, "duration_s": [1.5, 2.5], "output": {"shard_size": 5}})
    build(config, tmp_path / "wds", workers=1, progress=False, format="webdataset")
    report = make_report(tmp_path / "wds", progress=False, num_examples_shown=1)
    page = Page(report.read_text())
    check_images(report, page)
    assert "example_0.png" in page.images
    assert "OK: 10 examples validated, no problem." in page.paragraphs


def test_cli_report_prints_the_html_path(denoising, tmp_path):
    root, _ = denoising
    result = CliRunner().invoke(main, ["report", str(root), "-o", str(tmp_path / "out"), "--no-validate", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(tmp_path / "out" / "index.html")
    page = Page((tmp_path / "out" / "index.html").read_text())
    assert [f"example_{k}.png" for k in range(3)] == [s for s in page.images if s.startswith("example_")]
    result = CliRunner().invoke(main, ["report", str(tmp_path)])
    assert result.exit_code == 1 and "no manifest.jsonl" in result.output


def test_missing_manifest_is_a_dataset_error(tmp_path):
    with pytest.raises(DatasetError, match=r"no manifest\.jsonl"):
        make_report(tmp_path, progress=False)


def test_sample_keeps_exact_extremes_in_bounded_memory():
    sample = Sample(capacity=50)
    values = [((k * 37) % 1000) / 10 for k in range(1000)]
    for v in values:
        sample.add(v)
    assert len(sample.values) == 50 and set(sample.values) <= set(values)
    assert (sample.n, sample.min, sample.max) == (1000, min(values), max(values))
    assert sample.mean == pytest.approx(sum(values) / len(values))


def test_coverage_counts_filled_bins_and_values_outside():
    quantity = Coverage("x", 0.0, 10.0, lambda row: [])
    for v in (0.0, 0.5, 9.99, 10.0, 5.0, -1.0, 11.0):
        quantity.add(v)
    assert quantity.filled() == (3, 10) and quantity.outside == 2  # bins 0, 5 and 9 (10.0 falls in the last)
    fixed = Coverage("y", 2.0, 2.0, lambda row: [])
    fixed.add(2.0)
    assert fixed.filled() == (1, 1) and fixed.outside == 0
