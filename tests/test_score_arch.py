"""`swaplm score SPACE:ARCH`: one architecture of a search space, scored from its string with the space's protocol;
bad arch strings, spaces and tasks are one-line errors with exit code 1."""
import json
import math

import pytest

from swaplm.score import arch_target
from swaplm.spaces import get_space

NB201 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
NB201_DISCONNECTED = "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|"  # node 3 reads only none edges
NB101 = "0110.0001.0001.0000|input,conv3x3-bn-relu,maxpool3x3,output"
NB101_EMPTY = "0100.0000.0001.0000|input,conv3x3-bn-relu,conv3x3-bn-relu,output"  # 0->1, 2->3: no path
CELL = ("[('sep_conv_3x3', 0), ('skip_connect', 1), ('max_pool_3x3', 0), ('sep_conv_5x5', 2), ('dil_conv_3x3', 1), "
        "('avg_pool_3x3', 3), ('sep_conv_3x3', 4), ('none', 0)]")
DARTS = f"Genotype(normal={CELL}, normal_concat=[2, 3, 4, 5], reduce={CELL}, reduce_concat=[2, 3, 4, 5])"
FLEXIBERT = "h256/SA-WMA-h4-ff1024x3/LT-DCT-h2-ff512x3/SA-SDP-h4-ff512x3/SA-SDP-h4-ff1024x1"


from conftest import run_cli as run  # noqa: E402  (the CLI through its entry point)


def flat(text):
    """Table text without whitespace and box-drawing characters (the table wraps long cells over lines)."""
    return "".join(ch for ch in text if not ch.isspace() and not 0x2500 <= ord(ch) <= 0x257F)


def score_json(target, capsys, monkeypatch, *extra):
    code, out, err = run(["score", target, "--device", "cpu", "--json", *extra], capsys, monkeypatch)
    assert code == 0, err
    return json.loads(out)


@pytest.mark.parametrize("space, arch, extra", [
    ("nb201", NB201, ["-n", "8"]),
    ("nb101", NB101, ["-n", "8", "--build", "reduced"]),
    ("darts", DARTS, ["-n", "8"]),
    ("flexibert", FLEXIBERT, ["-n", "8", "--max-length", "32"]),
])
def test_one_arch_per_space_scores_finite_with_its_protocol(space, arch, extra, capsys, monkeypatch):
    rec = score_json(f"{space}:{arch}", capsys, monkeypatch, *extra)
    proto = get_space(space).protocol
    assert math.isfinite(rec["score"]) and rec["score"] >= 1 and rec["samples"] == 8
    assert rec["space"] == space and rec["arch"] == arch and rec["model"] == f"{space}:{arch}"
    assert rec["task"] == get_space(space).tasks[0] and rec["inputs"] and rec["substitute"] is None
    used = rec["protocol"]
    assert used["n"] == 8 and used["repeats"] == proto.repeats == rec["repeats"]
    assert (used["init"], used["mode"], used["padding"]) == (proto.init, proto.mode, proto.padding)
    assert (used["regularise"] is None) == (proto.regularise is None)


def test_same_seed_same_score_and_overrides_replace_the_protocol(capsys, monkeypatch):
    args = ("-n", "8", "--seed", "3")
    first, again = (score_json(f"nb201:{NB201}", capsys, monkeypatch, *args) for _ in range(2))
    assert first["score"] == again["score"] and first["batch_sha256"] == again["batch_sha256"]
    other = score_json(f"nb201:{NB201}", capsys, monkeypatch, *args, "--repeats", "2", "--init", "gaussian",
                       "--mode", "eval", "--reg-mu", "1", "--reg-sigma", "1", "--reg-unit", "M",
                       "--proxies", "swap_reg")
    assert other["protocol"]["repeats"] == 2 and other["protocol"]["init"] == "gaussian"
    assert other["protocol"]["mode"] == "eval" and other["protocol"]["regularise"]["mu"] == 1
    assert math.isfinite(other["proxies"]["swap_reg"])


def test_task_picks_the_build_and_names_the_imagenet16_substitute(capsys, monkeypatch):
    c100 = score_json(f"nb201:{NB201}", capsys, monkeypatch, "-n", "8", "--task", "cifar100")
    assert c100["task"] == "cifar100" and c100["space_options"]["dataset"] == "cifar100"
    assert "CIFAR-100" in c100["inputs"] and c100["substitute"] is None
    rec = score_json(f"nb201:{NB201}", capsys, monkeypatch, "-n", "8", "--task", "imagenet16-120")
    assert rec["task"] == "imagenet16_120" and rec["space_options"]["dataset"] == "imagenet16_120"
    assert rec["substitute"] == "cifar100-16x16" and "cifar100-16x16" in rec["inputs"]
    assert math.isfinite(rec["score"])
    code, out, _ = run(["score", f"nb201:{NB201}", "-n", "8", "--task", "imagenet16_120", "--device", "cpu"],
                       capsys, monkeypatch)
    assert code == 0 and "substitutecifar100-16x16" in flat(out) and "imagenet16_120" in out


def test_disconnected_nb201_arch_scores(capsys, monkeypatch):
    rec = score_json(f"nb201:{NB201_DISCONNECTED}", capsys, monkeypatch, "-n", "8")
    assert rec["connected"] is False and math.isfinite(rec["score"]) and rec["score"] >= 1
    code, out, _ = run(["score", f"nb201:{NB201_DISCONNECTED}", "-n", "8", "--device", "cpu"], capsys, monkeypatch)
    assert code == 0 and "noinput-to-outputpath" in flat(out) and NB201_DISCONNECTED in flat(out)


def test_table_shows_space_arch_task_protocol_and_inputs(capsys, monkeypatch):
    code, out, _ = run(["score", f"darts:{DARTS}", "-n", "8", "--repeats", "2", "--device", "cpu"],
                       capsys, monkeypatch)
    assert code == 0 and "darts" in out and "cifar10" in out and "CIFAR-10" in out
    assert "normal=[('sep_conv_3x3',0)" in flat(out)  # the genotype shown as given (no markup eaten)
    assert "N8,2repeats,initgaussian,modetrain,paddingmask,sizepriorμ2σ10(k)" in flat(out)


@pytest.mark.parametrize("argv, says", [
    (["score", "nb201:|conv_5x5~0|+|none~0|none~1|+|none~0|none~1|none~2|"], "unknown NB-201 op"),
    (["score", "nb201:|nor_conv_3x3~0|+|none~0|none~1|"], "malformed NB-201 arch string"),
    (["score", "nb201:|nor_conv_3x3~0|+|none~0|+|none~0|none~1|none~2|"], "malformed NB-201 arch string"),
    (["score", "darts:" + DARTS.replace("'dil_conv_3x3'", "'conv_7x7'")], "unknown operation 'conv_7x7'"),
    (["score", "darts:Genotype(normal=[('none', 0)])"], "bad genotype"),
    (["score", f"nb101:{NB101_EMPTY}", "--build", "reduced"], "prunes to nothing"),
    (["score", "flexibert:h256/SA-XYZ-h4-ff1024x3/SA-SDP-h4-ff512x3"], "invalid FlexiBERT key"),
    (["score", f"nb999:{NB201}"], "unknown search space 'nb999'"),
    (["score", f"nb201:{NB201}", "--task", "cifar1000"], "unknown task 'cifar1000' for nb201"),
    (["score", f"nb201:{NB201}", "--task", "cifar100", "--build", "cifar10"], "one network per task"),
    (["score", f"nb201:{NB201}", "--init", "pretrained"], "--init pretrained is for trained models"),
    (["score", f"nb101:{NB101}", "--build", "reduced", "--proxies", "swap_reg"], "needs a size prior"),
    (["score", "builtin:bert-tiny", "--task", "sst2"], "--task and --build are for SPACE:ARCH"),
])
def test_bad_input_is_one_line_exit_1(argv, says, capsys, monkeypatch):
    code, out, err = run([*argv, "-n", "8", "--device", "cpu"], capsys, monkeypatch)
    assert code == 1 and not out
    assert len(err.strip().splitlines()) == 1 and says in err, err


def test_arch_target_tells_spaces_from_models(tmp_path, monkeypatch):
    assert arch_target(f"nb201:{NB201}") == ("nb201", NB201)
    assert arch_target("nas-bench-201:x") == ("nas-bench-201", "x")
    assert arch_target(f"darts:{DARTS}") == ("darts", DARTS)
    for model in ("builtin:bert-tiny", "bert-base-uncased", "org/model", "./dir", str(tmp_path)):
        assert arch_target(model) is None
    (tmp_path / "nb201:dir").mkdir()  # an existing path with a ':' stays a path
    monkeypatch.chdir(tmp_path)
    assert arch_target("nb201:dir") is None


def test_task_picks_the_task_data_of_a_text_space(capsys, monkeypatch):
    rec = score_json(f"flexibert:{FLEXIBERT}", capsys, monkeypatch, "-n", "8", "--max-length", "32", "--task", "sst2")
    assert rec["task"] == "sst" and rec["data"] == "builtin:sst2" and "builtin:sst2" in rec["inputs"]
    assert rec["protocol"]["padding"] == "reference" and rec["protocol"]["regularise"]["unit"] == "M"
