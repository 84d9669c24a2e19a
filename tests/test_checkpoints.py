"""The checkpoint-ranking experiment (python experiments/checkpoints.py): its statistics on hand examples, its
corpus rules, and every stage on the tiny plan (a few steps, two candidates per study, two seeds) in a temporary
work folder, including reuse of finished work and the redoing of corrupt results."""
from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("transformers")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, which holds experiments/
from experiments import checkpoints as C  # noqa: E402
from experiments import ckpt_corpus as K  # noqa: E402
from experiments import ckpt_stats as S  # noqa: E402
from experiments.ckpt_work import Job, Work, read_json, stored  # noqa: E402

needs_shared = pytest.mark.skipif(not (K.SHARED / "glue" / "QNLI" / "dev.tsv").is_file(),
                                  reason="../shared/data is not beside the repository (set SWAPLM_SHARED)")


# ------------------------------------------------------------------------------------------------ hand examples
def test_unigram_cross_entropy_matches_a_hand_computation():
    # vocabulary of 8 ids, 0 and 1 special: 6 ordinary tokens; corpus counts c5 = 2, c6 = 1 (C = 3)
    # add-one: p(5) = 3/9, p(6) = 2/9, p(7) = 1/9; the special id 0 in the evaluation text is not scored
    h = K.unigram_cross_entropy(np.array([5, 5, 6, 1]), np.array([5, 6, 0, 7]), 8, exclude=(0, 1))
    assert h == pytest.approx(-(math.log(3 / 9) + math.log(2 / 9) + math.log(1 / 9)) / 3)


def test_spearman_brown_equal_halves_is_the_textbook_formula():
    assert S.step_up(0.8, 1, 1, 2) == pytest.approx(2 * 0.8 / 1.8)
    assert S.step_up(0.5, 2, 2, 4) == pytest.approx(2 / 3)
    assert S.step_up(-0.2, 1, 1, 2) == pytest.approx(-0.4 / 0.8)
    # two seeds, one split: halves [1, 2, 3, 4] and [1, 3, 2, 4] have ρ = 1 - 6·2 / (4·15) = 0.8
    rel = S.reliability(np.array([[1, 1], [2, 3], [3, 2], [4, 4]], dtype=float))
    assert rel["splits"] == 1 and rel["half_rho"] == pytest.approx(0.8)
    assert rel["reliability"] == pytest.approx(1.6 / 1.8) and rel["ceiling"] == pytest.approx(math.sqrt(1.6 / 1.8))


def test_spearman_brown_unequal_halves_recovers_the_single_seed_reliability():
    # single-seed reliability 0.5: R1 = 0.5, R2 = 2/3, so the halves (1 seed, 2 seeds) correlate sqrt(1/3);
    # three seeds: R3 = 1.5 / 2 = 0.75
    assert S.step_up(math.sqrt(1 / 3), 1, 2, 3) == pytest.approx(0.75, abs=1e-9)
    assert S.half_splits(3) == [((0,), (1, 2)), ((1,), (0, 2)), ((2,), (0, 1))]
    assert S.half_splits(4) == [((0, 1), (2, 3)), ((0, 2), (1, 3)), ((0, 3), (1, 2))]


def test_bootstrap_resamples_seeds_within_candidates():
    acc = np.array([[i, i + 0.5] for i in range(6)], dtype=float)  # seed 1 is 0.5 above seed 0
    idx, truth = S.resample(acc, 400, seed=0)
    assert set(np.round(truth - idx, 6).ravel()) == {0.0, 0.25, 0.5}  # both, one or the other seed drawn
    # a proxy that orders the candidates exactly: noiseless seeds keep every replicate at ρ = 1 ...
    quiet = S.seed_bootstrap(np.repeat(np.arange(6.0)[:, None], 3, 1), {"p": (list(range(6)), True)}, None, 500)
    assert quiet["p"]["spearman"] == pytest.approx(1.0) and quiet["p"]["interval"] == [1.0, 1.0]
    # ... seeds that overlap across candidates widen the interval below 1
    noisy = np.arange(6.0)[:, None] + np.array([[-1.5, 0.0, 1.5]] * 6)
    out = S.seed_bootstrap(noisy, {"p": (list(range(6)), True), "q": (list(range(6))[::-1], True)}, "q", 500)
    assert out["p"]["spearman"] == pytest.approx(1.0) and out["p"]["interval"][0] < 1.0
    assert out["p"]["delta"] == pytest.approx(2.0) and "delta" not in out["q"]


def test_failed_proxy_values_rank_worst_and_spread_is_range_over_seed_sd():
    assert list(S.oriented([1.0, None, 3.0], False)) == [-1.0, -np.inf, -3.0]
    sp = S.spread(np.array([[0.5, 0.7], [0.8, 0.8], [0.6, 0.6]]))
    noise = np.mean([np.std([0.5, 0.7], ddof=1), 0.0, 0.0])
    assert sp["range"] == pytest.approx(0.2) and sp["mean_seed_sd"] == pytest.approx(noise)
    assert sp["ratio_range"] == pytest.approx(0.2 / noise)


def test_verdict_notes_say_whether_pretraining_helped_and_count_pretrained_over_random_pairs():
    from experiments import ckpt_report as R

    def cand(name, acc, std, **meta):
        return {"name": name, "accuracy": {"sst2": {"mean": acc, "std": std}}, "proxies": meta.pop("proxies", {}),
                "meta": meta}

    flat = {"tasks": ["sst2"], "candidates": [cand("step-0", 0.70, 0.01), cand("step-9", 0.71, 0.01)]}
    assert "left it unchanged" in R._progress_note(flat) and "not a better one" in R._progress_note(flat)
    up = {"tasks": ["sst2"], "candidates": [cand("step-0", 0.60, 0.01), cand("step-9", 0.70, 0.01)]}
    assert "raised it" in R._progress_note(up) and "not a better one" not in R._progress_note(up)
    pairs = {"candidates": [cand("p1", 0.7, 0.0, layers=1, pretrained=True, proxies={"swap": 5.0}),
                            cand("r1", 0.5, 0.0, layers=1, pretrained=False, proxies={"swap": 6.0}),
                            cand("p2", 0.8, 0.0, layers=2, pretrained=True, proxies={"swap": 9.0}),
                            cand("r2", 0.5, 0.0, layers=2, pretrained=False, proxies={"swap": 8.0})]}
    note = R._pairs_note(pairs)
    assert "At 1 of 2 depths" in note and "better at 2 of 2" in note
    for c, qnli in zip(pairs["candidates"], (0.6, 0.7, 0.8, 0.7)):  # a second task: each task counted on its own
        c["accuracy"]["qnli"] = {"mean": qnli, "std": 0.0}
    note = R._pairs_note({**pairs, "tasks": ["sst2", "qnli"]})
    assert "better on sst2 at 2, on qnli at 1 of 2" in note


def test_maximal_phrases_and_wiki_cleaning():
    rows = ["a b c", "a b", "b c", "d", "c d", "a b c"]
    assert K.maximal_phrases(rows) == ["a b c", "c d"]
    assert K.clean_wiki(" the 1 @,@ 000 @-@ year <unk> war @.@ ") == "the 1,000-year war."


def test_tokenizer_ids_are_the_special_tokens_then_the_vocabulary_sorted(tmp_path):
    lines = [f"the {w}s of {v} were {w}ing the {v}" for w in ("walk", "talk", "jump", "read", "cook")
             for v in ("city", "river", "garden", "station")] * 5
    tok = K.train_tokenizer(lines, 120, tmp_path / "tok")
    ids = sorted(tok.get_vocab().items(), key=lambda kv: kv[1])
    assert [t for t, _ in ids[:5]] == K.SPECIAL_TOKENS and [t for t, _ in ids[5:]] == sorted(t for t, _ in ids[5:])
    assert [i for _, i in ids] == list(range(len(ids)))
    again = K.load_tokenizer(tmp_path / "tok")
    assert again("the walks")["input_ids"] == tok("the walks")["input_ids"]
    assert again.mask_token_id == 4 and again.tokenize("walking") == tok.tokenize("walking")


def test_the_shipped_vocabulary_is_used_when_it_matches_and_training_says_it_is_not_deterministic(tmp_path):
    lines = [f"the {w}s of {v} were {w}ing the {v}" for w in ("walk", "talk", "jump", "read", "cook")
             for v in ("city", "river", "garden", "station")] * 5
    ship = tmp_path / "ship"
    tok, src = K.tokenizer_for(lines, 120, tmp_path / "trained", root=ship)  # nothing shipped: trained now
    assert not src["shipped"] and "not deterministic" in src["note"] and src["corpus_sha256"] == K.corpus_sha(lines)
    shipped = K.ship_tokenizer("x", lines, 120, None, "python experiments/checkpoints.py --retrain-tokenizer", ship)
    vocab = (ship / "x" / "vocab.txt").read_text(encoding="utf-8").split("\n")[:-1]
    assert vocab[:5] == K.SPECIAL_TOKENS and len(vocab) == shipped["tokens"]
    assert K.vocab_sha(vocab) == shipped["vocab_sha256"] and shipped["corpus_sha256"] == K.corpus_sha(lines)
    # the shipped vocabulary gives the same files, byte for byte, every time
    _, one = K.tokenizer_for(lines, 120, tmp_path / "one", root=ship)
    tok, two = K.tokenizer_for(lines, 120, tmp_path / "two", root=ship)
    assert one["shipped"] and two["shipped"] and one["folder"] == str(ship / "x")
    assert sorted(tok.get_vocab(), key=tok.get_vocab().get) == vocab
    for f in ("tokenizer.json", "tokenizer_config.json"):
        assert (tmp_path / "one" / f).read_bytes() == (tmp_path / "two" / f).read_bytes()
    # another vocabulary size or another corpus is not the shipped one's
    assert K.shipped_vocab(lines, 121, ship) is None and K.shipped_vocab(lines[1:], 120, ship) is None
    assert K.shipped_digest(ship) != K.shipped_digest(tmp_path / "none")
    (ship / "x" / "vocab.txt").write_text("\n".join(vocab[:-1]) + "\n", encoding="utf-8")  # edited by hand
    with pytest.raises(SystemExit, match="not the vocabulary its source.json records"):
        K.shipped_vocab(lines, 120, ship)


@needs_shared
def test_the_shipped_tokenizers_are_those_of_the_full_and_tiny_corpus():
    for plan in (C.Plan(), C.tiny_plan()):
        lines, _ = K.build_corpus(plan.corpus_limit)
        found = K.shipped_vocab(lines, plan.vocab)
        assert found is not None, f"no shipped tokenizer for the {plan.name} plan: --retrain-tokenizer"
        vocab, src = found
        assert src["folder"] == f"experiments/data/ckpt_tokenizer/{plan.name}" and len(vocab) == src["tokens"]
        assert src["corpus_lines"] == len(lines) and src["vocab_size"] == plan.vocab
    git = shutil.which("git")
    if git and (K.ROOT / ".git").exists():  # shipped with the repository, not ignored by git
        for f in sorted(K.TOKENIZER_DIR.rglob("*.*")):
            assert subprocess.run([git, "check-ignore", "-q", str(f)], cwd=K.ROOT).returncode == 1, f


def test_spec_names_are_unique_in_the_full_plan():
    names = [C.spec_name(s) for s in C.B_SPECS]
    assert len(set(names)) == len(names) >= 12 and C.spec_name(C.A_SPEC) == "convbert-L2-H128-F512-gelu-lr1e-3-2000st"
    plan = C.Plan()
    assert len(plan.a_save) >= 12 and plan.a_save[0] == 0 and plan.a["steps"] == plan.a_save[-1]
    assert len(plan.seeds) >= 3 and plan.c_layers == (1, 2, 3, 4, 5, 6)


# ------------------------------------------------------------------------------------------------ data
@needs_shared
def test_qnli_split_is_seeded_and_disjoint_and_evaluation_text_stays_out():
    train, dev = K.task_data("qnli")
    assert (len(train), len(dev)) == (4000, 1463) and K.task_data("qnli") == (train, dev)
    assert not {(a, b) for a, b, _ in train} & {(a, b) for a, b, _ in dev}
    sst_train, sst_dev = K.task_data("sst2")
    assert len(sst_dev) == 872 and len(sst_train) == 67349
    with pytest.raises(SystemExit, match="unknown task"):
        K.task_data("nope")


def test_job_results_are_checked_before_reuse(tmp_path):
    work = Work(tmp_path, workers=0, echo=lambda s: None)
    job = Job(name="j", fn="json:loads", kwargs={"s": "{\"x\": 1}"}, out=tmp_path / "j.json")
    assert work.run([job], "t")["j"]["result"] == {"x": 1} and work.this_run["t"] == {"reused": 0, "ran": 1}
    work.run([job], "t")
    assert work.this_run["t"] == {"reused": 1, "ran": 1}
    job.out.write_text(job.out.read_text()[:-5])  # cut off
    assert stored(job) is None
    work.run([job], "t")
    assert work.this_run["t"] == {"reused": 1, "ran": 2} and stored(job) is not None
    other = Job(name="j", fn="json:loads", kwargs={"s": "{\"x\": 2}"}, out=tmp_path / "j.json")
    assert stored(other) is None  # another key


# ------------------------------------------------------------------------------------------------ the pipeline
@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("ck")
    plan = C.tiny_plan()
    lines = []
    work = Work(root / "work", workers=0, echo=lines.append)
    out = root / "report.md"
    doc = C.run(plan, work, out, "python experiments/checkpoints.py --tiny")
    return plan, root, out, doc, work, lines


@needs_shared
def test_tiny_run_writes_the_issue_json_layout_and_the_report(tiny):
    plan, root, out, doc, work, lines = tiny
    saved = json.loads(out.with_suffix(".json").read_text())
    assert isinstance(saved["unigram_entropy"], float) and set(saved["studies"]) == {"a", "b", "c"}
    for key, study in saved["studies"].items():
        tasks = ["sst2"] if key == "c" else ["sst2", "qnli"]
        assert len(study["candidates"]) == 2
        for c in study["candidates"]:
            assert {"name", "heldout_mlm_loss", "accuracy"} <= set(c)
            assert set(c["accuracy"]) == set(tasks)
            assert all({"mean", "std"} <= set(c["accuracy"][t]) and len(c["accuracy"][t]["seeds"]) == 2 for t in tasks)
            assert (c["heldout_mlm_loss"] is None) == (key == "c")
        for p in C.PROXIES:
            assert set(study["correlations"][p]) == set(tasks)
            assert all({"spearman", "interval"} <= set(study["correlations"][p][t]) for t in tasks)
        assert study["verdict"].startswith(f"Study ({key})")
    assert [c["name"] for c in saved["studies"]["a"]["candidates"]] == ["step-0", "step-4"]
    assert saved["studies"]["c"]["reference"] == "params" and saved["studies"]["b"]["reference"] == "mlm_loss"
    assert all(c["failed"].get("mlm_loss") for c in saved["studies"]["c"]["candidates"])  # no MLM head
    assert set(saved["stages"]) == {"data", "pretrain", "minilm (c)", "heldout", "rank", "finetune", "analysis"}
    text = out.read_text()
    from swaplm.report import read_provenance

    for head in ("## Verdict", "## Setup", "## Cost: measured time of each stage", "## Did the models learn?",
                 "## (a) checkpoints", "## (b) candidates", "## (c) real weights", "## Caveats"):
        assert head in text, head
    assert "`python experiments/checkpoints.py --tiny`" in text and read_provenance(text) is not None
    assert any("[finetune]" in x for x in lines)  # the progress display


@needs_shared
def test_tiny_run_keeps_evaluation_text_out_of_the_corpus(tiny):
    plan, root, out, doc, work, lines = tiny
    man = read_json(root / "work" / "data" / "manifest.json")
    assert set(man["parts"]) == set(K.CORPUS_PARTS) and man["unigram_entropy"] > 0
    assert man["heldout"]["blocks"] == plan.heldout_blocks
    tok = K.load_tokenizer(root / "work" / "data" / "tokenizer")
    assert tok.mask_token == "[MASK]" and len(tok) <= plan.vocab + 5
    # the shipped tiny-plan tokenizer, not one trained in the run (the trainer is not deterministic)
    assert man["tokenizer_source"]["shipped"] and man["tokenizer_source"]["folder"].endswith("/tiny")
    shipped = (K.TOKENIZER_DIR / "tiny" / "vocab.txt").read_text(encoding="utf-8").split("\n")[:-1]
    assert sorted(tok.get_vocab(), key=tok.get_vocab().get) == shipped


@needs_shared
def test_rerun_reuses_everything_and_redoes_what_is_corrupt(tiny):
    plan, root, out, doc, work, lines = tiny
    again = Work(root / "work", workers=0, echo=lambda s: None)
    C.run(plan, again, root / "again.md", "python experiments/checkpoints.py --tiny")
    assert all(v["ran"] == 0 for v in again.this_run.values()) and again.this_run["finetune"]["reused"] == 16
    first = json.loads(out.with_suffix(".json").read_text())["studies"]["b"]["candidates"]
    second = json.loads((root / "again.json").read_text())["studies"]["b"]["candidates"]
    assert [c["accuracy"] for c in first] == [c["accuracy"] for c in second]
    assert read_json(root / "work" / "stages.json")["finetune"]["invocations"] == 2

    # a cut-off fine-tuning result and a checkpoint whose weights changed are redone, nothing else
    ft = sorted((root / "work" / "finetune").rglob("sst2-*-s1.json"))[0]
    ft.write_text(ft.read_text()[:40])
    bert = next((root / "work" / "pretrain").glob("bert-*/final"))
    weights = bert / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-64])
    third = Work(root / "work", workers=0, echo=lambda s: None)
    C.run(plan, third, root / "third.md", "python experiments/checkpoints.py --tiny")
    assert third.this_run["pretrain"] == {"reused": 1, "ran": 1}
    assert third.this_run["finetune"]["ran"] >= 1 and read_json(ft)["key"]
    shutil.rmtree(root / "work" / "ft_tmp", ignore_errors=True)


@needs_shared
def test_a_changed_data_file_rebuilds_the_data_stage(tiny, tmp_path):
    plan, root, out, doc, work, lines = tiny
    shutil.copytree(root / "work" / "data", tmp_path / "data")
    said = []
    w = Work(tmp_path, workers=0, echo=said.append)
    first = C.stage_data(plan, w)
    assert any("reused" in x for x in said)
    (tmp_path / "data" / "heldout.txt").write_text("cut")
    said.clear()
    again = C.stage_data(plan, w)
    assert not any("reused" in x for x in said) and again["manifest"]["heldout"] == first["manifest"]["heldout"]
    assert again["manifest"]["files"] == first["manifest"]["files"] and again["id"] == first["id"]  # bit for bit
    assert (tmp_path / "data" / "heldout.txt").read_text() != "cut"
