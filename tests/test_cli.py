"""The CLI: one JSON object with --json, and one-line errors with a non-zero exit for bad input."""
import json

import pytest
import torch
from transformers import BertConfig, BertModel



from conftest import run_cli as run  # noqa: E402  (the CLI through its entry point)


def tiny_dir(tmp_path, act="gelu", nan=False):
    torch.manual_seed(0)
    model = BertModel(BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=48,
                                 hidden_act=act))
    if nan:
        with torch.no_grad():
            model.encoder.layer[0].intermediate.dense.weight[0, 0] = float("nan")
    model.save_pretrained(tmp_path / "m")
    return str(tmp_path / "m")


def test_score_json_builtin(capsys, monkeypatch):
    code, out, _ = run(["score", "builtin:bert-tiny", "--init", "random", "--data", "builtin:wikitext2",
                        "--batch-size", "8", "--max-length", "32", "--json", "--device", "cpu"], capsys, monkeypatch)
    assert code == 0
    rec = json.loads(out)
    assert rec["samples"] == 8 and rec["neurons"] > 0 and 0 < rec["score"] <= rec["neurons"]
    assert rec["model"] == "builtin:bert-tiny" and rec["batch_size"] == 8 and rec["max_length"] == 32
    assert rec["device"] == "cpu" and "torch" in rec["versions"]


def test_score_random_init_follows_the_seed_not_the_global_rng(capsys, monkeypatch):
    argv = ["score", "builtin:bert-tiny", "--init", "random", "--data", "builtin:wikitext2",
            "--batch-size", "16", "--max-length", "32", "--json", "--device", "cpu"]
    scores = []
    for global_seed, seed in [(1, "0"), (2, "0"), (1, "1")]:
        torch.manual_seed(global_seed)  # whatever state the caller's RNG is in
        code, out, _ = run([*argv, "--seed", seed], capsys, monkeypatch)
        assert code == 0
        scores.append(json.loads(out)["score"])
    assert scores[0] == scores[1]  # same --seed: same random weights, same score
    assert scores[2] != scores[0]  # another --seed: other weights (N = 16 is far from saturation here)


def test_score_table_output(capsys, monkeypatch, tmp_path):
    code, out, _ = run(["score", tiny_dir(tmp_path), "--data", "builtin:sst2", "--batch-size", "4",
                        "--max-length", "16"], capsys, monkeypatch)
    assert code == 0 and "SWAP score" in out and "saturation" in out


@pytest.mark.parametrize("case", ["unknown_model", "offline_hub", "missing_file", "empty_file", "one_sample",
                                  "no_activation", "nan", "batch0", "unknown_proxy"])
def test_bad_input_is_one_line_error(case, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    base = ["--batch-size", "4", "--max-length", "16"]
    one = tmp_path / "one.jsonl"
    one.write_text('{"text": "a single sentence"}\n')
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    argv = {
        "unknown_model": ["score", str(tmp_path / "no-such-model"), "--data", "builtin:sst2", *base],
        "offline_hub": ["score", "nonexistent-org/nonexistent-model", "--data", "builtin:sst2", *base],
        "missing_file": ["score", "builtin:bert-tiny", "--init", "random", "--data", str(tmp_path / "x.txt"), *base],
        "empty_file": ["score", "builtin:bert-tiny", "--init", "random", "--data", str(empty), *base],
        "one_sample": ["score", "builtin:bert-tiny", "--init", "random", "--data", str(one), *base],
        "no_activation": ["score", tiny_dir(tmp_path, act="linear"), "--data", "builtin:sst2", *base],
        "nan": ["score", tiny_dir(tmp_path, nan=True), "--data", "builtin:sst2", *base],
        "batch0": ["score", "builtin:bert-tiny", "--init", "random", "--batch-size", "0"],
        "unknown_proxy": ["score", "builtin:bert-tiny", "--init", "random", "--proxy", "nope", *base],
    }[case]
    code, out, err = run(argv, capsys, monkeypatch)
    assert code != 0
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    assert "Traceback" not in err + out


def test_proxies_json(capsys, monkeypatch):
    code, out, _ = run(["proxies", "--json"], capsys, monkeypatch)
    items = json.loads(out)
    assert code == 0 and {"swap", "swap_reg", "params"} <= {p["name"] for p in items}
    assert all(set(p) >= {"name", "higher_is_better", "needs_labels", "needs_gradients"} for p in items)


def test_help_lists_commands(capsys, monkeypatch):
    code, out, _ = run(["--help"], capsys, monkeypatch)
    assert code == 0 and "score" in out and "proxies" in out and "bench" in out


def test_bench_darts_json_and_report(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("SWAPLM_CACHE", str(tmp_path / "cache"))
    out_md = tmp_path / "r" / "darts.md"
    code, out, _ = run(["bench", "darts", "--limit", "6", "--repeats", "2", "--proxies", "swap,swap_reg,params",
                        "--reg-mu", "1.5", "--reg-sigma", "2", "--out", str(out_md), "--json"], capsys, monkeypatch)
    assert code == 0
    rec = json.loads(out)
    assert rec["space"] == "darts" and rec["n_archs"] == 6 and rec["computed"] == 6
    assert set(rec["correlations"]) >= {"swap", "swap_reg", "params"}
    c = rec["correlations"]["swap"]["cifar10"]
    assert {"spearman", "kendall", "pearson"} <= set(c) and -1 <= c["spearman"] <= 1
    assert rec["settings"]["repeats"] == 2 and rec["settings"]["n"] == 16
    text = out_md.read_text()
    assert "Spearman" in text and "swaplm bench darts --limit 6" in text
    assert (out_md.parent / "darts_swap.png").stat().st_size > 1000
    code, out, _ = run(["bench", "darts", "--limit", "6", "--repeats", "2", "--proxies", "swap,params", "--json"],
                       capsys, monkeypatch)
    again = json.loads(out)
    assert again["from_cache"] == 6 and again["correlations"]["swap"] == rec["correlations"]["swap"]


def test_bench_flexibert_tasks_and_build(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("SWAPLM_CACHE", str(tmp_path / "cache"))
    code, out, _ = run(["bench", "flexibert", "--build", "faithful", "--task", "glue,cola", "--limit", "4",
                        "--batch-size", "4", "--max-length", "16", "--proxies", "swap,params", "--json"],
                       capsys, monkeypatch)
    assert code == 0
    rec = json.loads(out)
    assert rec["settings"]["space_options"]["build_mode"] == "faithful" and rec["settings"]["tasks"] == ["glue", "cola"]
    assert set(rec["correlations"]["swap"]) == {"glue", "cola"}
    assert "num_layers" in rec["correlations"] and "sum_feed_forward" in rec["correlations"]
    code, _, err = run(["bench", "flexibert", "--task", "imagenet", "--limit", "2"], capsys, monkeypatch)
    assert code != 0 and "unknown task" in err and len(err.strip().splitlines()) == 1


def test_score_without_data_uses_the_shipped_text_sample(capsys, monkeypatch):
    """--data defaults to auto: a text model gets the shipped WikiText-2 blocks (offline), the same batch as
    --data builtin:wikitext2."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    argv = ["score", "builtin:bert-tiny", "--init", "random", "--batch-size", "8", "--max-length", "32", "--json",
            "--device", "cpu"]
    code, out, err = run(argv, capsys, monkeypatch)
    assert code == 0, err
    auto = json.loads(out)
    assert auto["data"] == "builtin:wikitext2" and auto["samples"] == 8
    code, out, _ = run([*argv, "--data", "builtin:wikitext2"], capsys, monkeypatch)
    assert code == 0 and json.loads(out)["scores"] == auto["scores"]


@pytest.mark.parametrize("image_size", [32, 64])
def test_score_without_data_gives_a_vision_model_cifar10(image_size, capsys, monkeypatch, tmp_path):
    """A vision model (pixel_values input) scored without --data gets the shipped CIFAR-10 images, resized to
    the model's image size."""
    from transformers import ViTConfig, ViTModel

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    torch.manual_seed(0)
    ViTModel(ViTConfig(image_size=image_size, patch_size=8, hidden_size=32, num_hidden_layers=1,
                       num_attention_heads=2, intermediate_size=48)).save_pretrained(tmp_path / "vit")
    code, out, err = run(["score", str(tmp_path / "vit"), "--batch-size", "8", "--json", "--device", "cpu"],
                         capsys, monkeypatch)
    assert code == 0, err
    rec = json.loads(out)
    assert rec["data"] == "builtin:cifar10" and rec["samples"] == 8 and 0 < rec["score"] <= rec["neurons"]
    code, out, _ = run(["score", str(tmp_path / "vit"), "--batch-size", "8", "--json", "--device", "cpu",
                        "--data", "builtin:cifar10"], capsys, monkeypatch)
    assert code == 0 and json.loads(out)["scores"] == rec["scores"]


@pytest.mark.parametrize("case", ["swap_reg_without_prior", "reg_mu_alone", "bad_reg_unit", "max_length_too_long"])
def test_score_prior_and_length_errors_are_one_line(case, capsys, monkeypatch):
    base = ["score", "builtin:bert-tiny", "--init", "random", "--batch-size", "4", "--max-length", "16"]
    argv = {
        "swap_reg_without_prior": [*base, "--proxy", "swap_reg"],
        "reg_mu_alone": [*base, "--proxy", "swap_reg", "--reg-mu", "2"],
        "bad_reg_unit": [*base, "--proxy", "swap_reg", "--reg-mu", "2", "--reg-sigma", "4", "--reg-unit", "G"],
        "max_length_too_long": ["score", "builtin:bert-tiny", "--init", "random", "--batch-size", "4",
                                "--max-length", "513"],
    }[case]
    code, out, err = run(argv, capsys, monkeypatch)
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert code == 1 and len(lines) == 1 and lines[0].startswith("error:"), err
    assert "Traceback" not in err + out
    assert {"swap_reg_without_prior": "size prior", "reg_mu_alone": "go together", "bad_reg_unit": "unit",
            "max_length_too_long": "512 positions"}[case] in lines[0]


def test_score_swap_reg_with_a_prior_is_the_prior_times_swap(capsys, monkeypatch):
    import math

    code, out, err = run(["score", "builtin:bert-tiny", "--init", "random", "--batch-size", "8", "--max-length", "32",
                          "--proxy", "swap_reg", "--reg-mu", "4", "--reg-sigma", "4", "--reg-unit", "M", "--json",
                          "--device", "cpu"], capsys, monkeypatch)
    assert code == 0, err
    rec = json.loads(out)
    factor = math.exp(-((rec["params"] / 1e6 - 4) ** 2) / 4)
    assert 0.01 < factor < 1 and rec["regularise"] == {"mu": 4.0, "sigma": 4.0, "unit": "M"}
    assert rec["proxies"]["swap_reg"] == pytest.approx(rec["raw_score"] * factor, rel=1e-12)


BENCH_BAD = {
    "darts_build": (["bench", "darts", "--build", "x"], "no builds"),
    "darts_max_length": (["bench", "darts", "--max-length", "64"], "text spaces"),
    "flexibert_build": (["bench", "flexibert", "--build", "nope"], "reference, faithful"),
    "flexibert_max_length_above_positions": (["bench", "flexibert", "--max-length", "1024"], "between 2 and 512"),
    "flexibert_max_length_1": (["bench", "flexibert", "--max-length", "1"], "between 2 and 512"),
    "init": (["bench", "darts", "--init", "pretrained"], "untrained architectures"),
    "repeats": (["bench", "darts", "--repeats", "0"], "repeats must be >= 1"),
    "limit": (["bench", "darts", "--limit", "0"], "limit must be >= 1"),
    "reg_unit": (["bench", "darts", "--reg-mu", "2", "--reg-sigma", "10", "--reg-unit", "G"], "unit"),
    "reg_alone": (["bench", "darts", "--reg-mu", "2"], "go together"),
}


@pytest.mark.parametrize("case", sorted(BENCH_BAD))
def test_bench_bad_option_is_one_line_before_any_model_is_built(case, capsys, monkeypatch, tmp_path):
    from swaplm.spaces.darts_cnn import DartsSpace
    from swaplm.spaces.flexibert import FlexiBertSpace

    def no_build(self, arch):
        raise AssertionError("a model was built before the options were checked")

    monkeypatch.setattr(DartsSpace, "build", no_build)
    monkeypatch.setattr(FlexiBertSpace, "build", no_build)
    monkeypatch.setenv("SWAPLM_CACHE", str(tmp_path / "cache"))
    argv, needle = BENCH_BAD[case]
    code, out, err = run(argv, capsys, monkeypatch)
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert code == 1 and len(lines) == 1 and lines[0].startswith("error:"), err
    assert needle in lines[0] and "Traceback" not in err + out


def test_bench_swap_reg_without_any_prior_is_one_line(capsys, monkeypatch, tmp_path):
    """A space whose protocol has no size prior: swap_reg is refused up front unless --reg-mu/--reg-sigma are
    given (never a column of zeros)."""
    import dataclasses

    from swaplm.spaces.darts_cnn import DartsSpace

    monkeypatch.setattr(DartsSpace, "protocol", dataclasses.replace(DartsSpace.protocol, regularise=None))
    monkeypatch.setenv("SWAPLM_CACHE", str(tmp_path / "cache"))
    code, _, err = run(["bench", "darts", "--limit", "2", "--proxies", "swap,swap_reg"], capsys, monkeypatch)
    assert code == 1 and err.startswith("error:") and "size prior" in err and len(err.strip().splitlines()) == 1
    code, out, err = run(["bench", "darts", "--limit", "3", "--repeats", "2", "--proxies", "swap,swap_reg,params",
                          "--reg-mu", "2", "--reg-sigma", "10", "--json"], capsys, monkeypatch)
    assert code == 0, err
    assert json.loads(out)["settings"]["regularise"]["mu"] == 2.0


# --- regressions of issue 20 ------------------------------------------------------------------------------
@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_search_on_cuda_without_a_gpu_is_one_line_naming_cuda(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("SWAPLM_CACHE", str(tmp_path / "cache"))
    code, out, err = run(["search", "darts", "--device", "cuda", "--budget", "2", "--out", str(tmp_path / "s")],
                         capsys, monkeypatch)
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert code == 1 and len(lines) == 1 and "CUDA" in lines[0] and "No such option" not in err, err
    assert not (tmp_path / "s").exists()


def test_bench_darts_takes_data_builtin_cifar10(capsys, monkeypatch, tmp_path):
    """--data builtin:cifar10 is the space's own batch (same images, same values), filed under its own data."""
    monkeypatch.setenv("SWAPLM_CACHE", str(tmp_path / "cache"))
    argv = ["bench", "darts", "--limit", "3", "--repeats", "1", "--proxies", "swap,params", "--json",
            "--export", str(tmp_path / "rows.jsonl")]
    code, out, err = run([*argv, "--data", "builtin:cifar10"], capsys, monkeypatch)
    assert code == 0, err
    rec = json.loads(out)
    assert rec["n_archs"] == 3 and rec["settings"]["data"] == "builtin:cifar10"
    given = [json.loads(line)["swap"] for line in (tmp_path / "rows.jsonl").read_text().splitlines()]
    code, out, err = run(argv, capsys, monkeypatch)
    assert code == 0, err
    own = [json.loads(line)["swap"] for line in (tmp_path / "rows.jsonl").read_text().splitlines()]
    assert given == own and all(v > 0 for v in own)


def test_bench_flexibert_takes_a_task_alias(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("SWAPLM_CACHE", str(tmp_path / "cache"))
    code, out, err = run(["bench", "flexibert", "--task", "sst2", "--limit", "3", "-n", "4", "--max-length", "16",
                          "--proxies", "swap,params", "--json"], capsys, monkeypatch)
    assert code == 0, err
    rec = json.loads(out)
    assert rec["settings"]["tasks"] == ["sst"] and set(rec["correlations"]["swap"]) == {"sst"}


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_bench_export_writes_one_row_per_architecture(suffix, capsys, monkeypatch, tmp_path):
    import csv

    monkeypatch.setenv("SWAPLM_CACHE", str(tmp_path / "cache"))
    path = tmp_path / f"rows{suffix}"
    argv = ["bench", "darts", "--ids", "0-9", "--repeats", "1", "--proxies", "swap,params", "--export", str(path)]
    code, _, err = run(argv, capsys, monkeypatch)
    assert code == 0, err
    text = path.read_text()
    rows = list(csv.DictReader(text.splitlines())) if suffix == ".csv" else [json.loads(x) for x in text.splitlines()]
    assert [int(r["id"]) for r in rows] == list(range(10))
    assert set(rows[0]) >= {"id", "key", "swap", "swap_seconds", "params", "params_seconds", "truth_cifar10"}
    assert all(float(r["swap"]) > 0 and float(r["truth_cifar10"]) > 0 for r in rows)
    first = text
    code, _, err = run([*argv, "--json"], capsys, monkeypatch)  # the second time every row comes from the store
    assert code == 0 and len(path.read_text().splitlines()) == len(first.splitlines())


def test_proxies_listing_is_readable_at_80_columns(capsys, monkeypatch):
    from rich.console import Console

    from swaplm import cli

    monkeypatch.setattr(cli, "console", Console(width=80, force_terminal=False))
    code, out, _ = run(["proxies"], capsys, monkeypatch)
    assert code == 0 and max(len(line) for line in out.splitlines()) <= 80
    assert "Number of distinct sample-wise activation patterns" in out  # a card reads as a sentence
