"""SFT mode: pretrain a tiny model with our trainer, save it, fine-tune it on per-domain chat data."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bomix.backends.trainer.backend import TrainerBackend
from bomix.backends.trainer.sft import SFTBackend, read_examples, render
from bomix.errors import BomixError
from bomix.runs import RunSpec

from .conftest import TINY_LADDER


@pytest.fixture(scope="module")
def pretrained(tiny_data, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pre")
    b = TrainerBackend(str(tiny_data), ladder=TINY_LADDER, min_steps=10, max_steps=20, eval_every=10,
                       batch_size=4, context=32, eval_sequences=4, device="cpu", checkpoint_dir=str(tmp / "ck"))
    res = b.run(RunSpec(b.space.center(), "s", 20, seed=0, run_id="pre"))
    assert res.ok
    return b.save_pretrained("pre", tmp / "hf")


@pytest.fixture(scope="module")
def sft_data(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sft")
    rng = np.random.default_rng(0)
    words = "cat dog sat mat ran tree".split()
    with open(tmp / "echo.jsonl", "w") as f:
        for _ in range(30):
            w = " ".join(rng.choice(words, 4))
            f.write(json.dumps({"prompt": f"repeat: {w}", "response": w}) + "\n")
    with open(tmp / "count.jsonl", "w") as f:
        for i in range(30):
            msgs = [{"role": "user", "content": f"count to {i % 5 + 1}"},
                    {"role": "assistant", "content": " ".join(str(j) for j in range(1, i % 5 + 2))}]
            f.write(json.dumps({"messages": msgs}) + "\n")
    return {"echo": str(tmp / "echo.jsonl"), "count": str(tmp / "count.jsonl")}


def test_render_masks_the_prompt(pretrained, sft_data):
    sft = SFTBackend({"s": str(pretrained)}, sft_data, min_steps=5, max_steps=20, device="cpu")
    msgs = read_examples(sft_data["echo"])[0]
    ids, labels = render(sft.tokenizer, msgs, 256)
    n_prompt = sum(1 for t in labels if t == -100)
    assert 0 < n_prompt < len(ids) == len(labels)
    answer = sft.tokenizer.decode(ids[n_prompt:])
    assert msgs[-1]["content"] in answer and "repeat" not in answer
    sft.close()


def test_sft_run_from_saved_checkpoint(pretrained, sft_data, tmp_path):
    sft = SFTBackend({"s": str(pretrained)}, sft_data, min_steps=5, max_steps=30, batch_size=4, eval_every=10,
                     lr=3e-3, device="cpu", checkpoint_dir=str(tmp_path / "ck"))
    assert sft.space.domains == ("echo", "count") and sft.params["s"] > 0
    r1 = sft.run(RunSpec(sft.space.mixture([0.5, 0.5]), "s", 20, seed=0, run_id="a"))
    assert r1.ok and list(r1.curve.steps) == [10, 20]
    for d in ("echo", "count"):
        assert r1.curve.metrics[f"loss:{d}"][-1] < r1.curve.metrics[f"loss:{d}"][0] + 0.5
    only_count = sft.run(RunSpec(sft.space.mixture([0.0, 1.0]), "s", 20, seed=0, run_id="b"))
    # fine-tuning only on `count` helps `count` more than the balanced mixture does
    assert only_count.curve.final()["loss:count"] < r1.curve.final()["loss:count"]
    cont = sft.run(RunSpec(sft.space.mixture([0.5, 0.5]), "s", 30, seed=0, run_id="c", resume_from="a",
                           resume_step=20))
    assert cont.ok and list(cont.curve.steps) == [10, 20, 30]
    assert cont.cost == pytest.approx(sft.cost_model("s", 30, 20))
    assert cont.info["examples"] == 10 * 4


def test_sft_bad_data(pretrained, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"messages": [{"role": "assistant", "content": "x"}, {"role": "user", "content": "y"}]}))
    with pytest.raises(BomixError, match="assistant"):
        SFTBackend({"s": str(pretrained)}, {"a": str(bad), "b": str(bad)})
    with pytest.raises(BomixError, match="not found"):
        SFTBackend({"s": str(pretrained)}, {"a": str(tmp_path / "none.jsonl"), "b": str(bad)})
