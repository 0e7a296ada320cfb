"""Checkpoints run no code and stay inside their folder: the issue-15 attack replayed and refused."""

from __future__ import annotations

import builtins
import json
import os

import pytest
import torch

from bomix.backends.trainer import checkpoint as ckpt
from bomix.backends.trainer.backend import TrainerBackend
from bomix.errors import BomixError
from bomix.runs import RunSpec

from .conftest import TINY_LADDER


def make(tiny_data, tmp_path, **kw) -> TrainerBackend:
    opts = dict(ladder=TINY_LADDER, min_steps=10, max_steps=40, eval_every=10, batch_size=4, context=16,
                eval_sequences=4, warmup=5, lr=1e-2, device="cpu", checkpoint_dir=str(tmp_path / "ckpt"))
    opts.update(kw)
    return TrainerBackend(str(tiny_data), **opts)


class Payload:
    """Unpickling this writes ``marker``: what a crafted checkpoint does on a weights_only=False load."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (builtins.exec, (f"open({self.marker!r}, 'w').write('pwned')",))


def plant(folder, marker, with_state: bool) -> None:
    folder.mkdir(parents=True)
    torch.save({"model": {}, "optim": Payload(marker), "step": 10}, folder / ckpt.CKPT_FILE)
    if with_state:
        (folder / ckpt.STATE_FILE).write_text(json.dumps({"format": 2, "step": 10, "steps": [10], "metrics": {},
                                                          "counts": [1, 1, 1], "controller": None}))


def test_the_payload_is_live(tmp_path):
    """The crafted file really executes code when loaded unsafely (so the refusal below means something)."""
    marker = tmp_path / "live"
    plant(tmp_path / "evil", marker, with_state=False)
    torch.load(tmp_path / "evil" / ckpt.CKPT_FILE, weights_only=False)
    assert marker.read_text() == "pwned"


@pytest.mark.parametrize("with_state", [True, False])
def test_crafted_checkpoint_is_refused_and_nothing_runs(tiny_data, tmp_path, with_state):
    b = make(tiny_data, tmp_path)
    marker = tmp_path / "pwned"
    plant(tmp_path / "ckpt" / "evil", marker, with_state)
    res = b.run(RunSpec(b.space.center(), "s", 20, seed=0, run_id="next", resume_from="evil", resume_step=10))
    assert res.status == "failed" and "not loaded" in res.error and "\n" not in res.error
    assert "weights_only=False" not in res.error  # never advise the unsafe load
    with pytest.raises(ckpt.CheckpointError, match="not loaded"):
        b.save_pretrained("evil", tmp_path / "hf", scale="s")
    assert not marker.exists()


@pytest.mark.parametrize("bad", ["../../x", "/etc", "..", "a/../../b", "a/b", "x\ny", "x\n", "ok..no"])
def test_path_escapes_are_refused_with_one_line(tiny_data, tmp_path, bad):
    b = make(tiny_data, tmp_path)
    (tmp_path / "x").mkdir()
    with pytest.raises(BomixError) as err:
        b.run(RunSpec(b.space.center(), "s", 20, seed=0, run_id="r1", resume_from=bad, resume_step=10))
    assert "\n" not in str(err.value) and "plain name" in str(err.value)
    with pytest.raises(BomixError):
        b.run(RunSpec(b.space.center(), "s", 20, seed=0, run_id=bad))
    assert sorted(os.listdir(tmp_path / "x")) == []


def test_a_symlink_out_of_the_folder_is_refused(tmp_path):
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "ckpt" / "link").symlink_to(tmp_path / "outside")
    with pytest.raises(ckpt.CheckpointError, match="outside the checkpoint folder"):
        ckpt.run_dir(tmp_path / "ckpt", "link")
    assert ckpt.run_dir(tmp_path / "ckpt", "r00001.b-2_c") == (tmp_path / "ckpt" / "r00001.b-2_c").resolve()


def test_saved_checkpoints_load_weights_only_and_state_is_json(tiny_data, tmp_path):
    b = make(tiny_data, tmp_path)
    res = b.run(RunSpec(b.space.center(), "s", 10, seed=0, run_id="good"))
    assert res.ok
    folder = tmp_path / "ckpt" / "good"
    assert sorted(os.listdir(folder)) == [ckpt.CKPT_FILE, ckpt.STATE_FILE]  # no temporary files left
    tensors = torch.load(folder / ckpt.CKPT_FILE, weights_only=True)  # would raise on any non-tensor object
    assert set(tensors) == {"model", "optim"}
    state = json.loads((folder / ckpt.STATE_FILE).read_text())
    assert state["step"] == 10 and state["scale"] == "s" and state["controller"] is None
    assert b.save_pretrained("good", tmp_path / "hf").is_dir()  # scale read from the JSON state


def test_broken_state_file_fails_the_run_cleanly(tiny_data, tmp_path):
    b = make(tiny_data, tmp_path)
    assert b.run(RunSpec(b.space.center(), "s", 10, seed=0, run_id="a")).ok
    (tmp_path / "ckpt" / "a" / ckpt.STATE_FILE).write_text("{not json")
    res = b.run(RunSpec(b.space.center(), "s", 20, seed=0, run_id="b", resume_from="a", resume_step=10))
    assert res.status == "failed" and "not valid JSON" in res.error


def test_a_checkpoint_of_the_previous_format_still_continues(tiny_data, tmp_path):
    """Format 1 (everything in ckpt.pt, plain values only) loads with weights_only=True."""
    b = make(tiny_data, tmp_path)
    mix = b.space.center()
    assert b.run(RunSpec(mix, "s", 10, seed=0, run_id="old")).ok
    folder = tmp_path / "ckpt" / "old"
    state = json.loads((folder / ckpt.STATE_FILE).read_text())
    tensors = torch.load(folder / ckpt.CKPT_FILE, weights_only=True)
    legacy = {**tensors, "step": 10, "steps": state["steps"], "counts": state["counts"], "override": None,
              "metrics": {m: v for m, v in state["metrics"].items() if not m.startswith("train_loss:")},
              "weight_log": [tuple(x) for x in state["weight_log"]], "seconds": 1.0}
    (folder / ckpt.STATE_FILE).unlink()
    torch.save(legacy, folder / ckpt.CKPT_FILE)
    cont = b.run(RunSpec(mix, "s", 20, seed=0, run_id="new", resume_from="old", resume_step=10))
    full = b.run(RunSpec(mix, "s", 20, seed=0, run_id="full"))
    assert cont.ok, cont.error
    torch.testing.assert_close(torch.tensor(cont.curve.metrics["loss:code"]),
                               torch.tensor(full.curve.metrics["loss:code"]), rtol=0, atol=1e-4)
    assert torch.isnan(torch.tensor(cont.curve.metrics["train_loss:code"][0]))  # not recorded in format 1


def test_planted_temporaries_are_not_written_through(tmp_path):
    """A symbolic link at a checkpoint's temporary name is removed, never followed (its target is kept)."""
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    run = tmp_path / "ckpt" / "r00001"
    run.mkdir(parents=True)
    for name in (ckpt.CKPT_FILE, ckpt.STATE_FILE):
        (run / f"{name}.tmp").symlink_to(victim)
    ckpt.save(run, {"w": torch.zeros(2)}, {"step": 3})
    assert victim.read_text() == "keep me" and ckpt.load_state(run)["step"] == 3
