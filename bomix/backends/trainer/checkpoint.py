"""The one module that knows the trainer's checkpoint layout, and loads it without running code.

Layout: ``<checkpoint_dir>/<run_id>/`` holds

- ``ckpt.pt``: tensors only (``{"model": state_dict, "optim": state_dict}``), read with
  ``torch.load(weights_only=True)``, so a crafted pickle cannot execute anything;
- ``state.json``: every non-tensor fact (step, curve, domain counts, weight log, controller config
  and state, scale, seconds), plain JSON;
- ``step-<b>/`` (a run on a mixture schedule): the same two files at each phase boundary ``b``, where a
  branch of the run starts (:func:`boundary`).

A run directory is derived only from a validated run id and always resolved inside the checkpoint
folder (no absolute paths, no ``..``, no symlink escape). Both files are written to temporary names
and renamed, ``state.json`` last: a checkpoint without ``state.json`` is incomplete.
"""

from __future__ import annotations

import json
import os
import pickle
import re
from pathlib import Path
from typing import Any

from bomix.errors import BomixError

CKPT_FILE = "ckpt.pt"
STATE_FILE = "state.json"
FORMAT = 2  # 1 = everything pickled in ckpt.pt (bomix before the controller seam)

_RUN_ID = re.compile(r"[A-Za-z0-9_.-]{1,200}")


class CheckpointError(BomixError):
    """A checkpoint is missing, malformed or unsafe to load."""


def check_run_id(run_id: Any, what: str = "run id") -> str:
    """``run_id`` if it is a plain name (letters, digits, ``_ . -``; no ``..``), else a one-line error.

    Campaign run ids (``bomix.runs.validate_run_id``: ``r`` + digits, checked on every stored spec)
    are plain names; this looser rule also admits the ids a user's own code gives ``backend.run``.
    """
    if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id) or ".." in run_id:
        raise CheckpointError(f"{what} {run_id!r} is not a plain name (letters, digits, '_', '.', '-', "
                              "no '..'): refusing to use it as a checkpoint path")
    return run_id


def run_dir(root: str | Path, run_id: str, what: str = "run id") -> Path:
    """``root/<run_id>`` for a validated ``run_id``, checked to resolve inside ``root``."""
    check_run_id(run_id, what)
    base = Path(root).expanduser().resolve()
    path = (base / run_id).resolve()
    if path.parent != base:
        raise CheckpointError(f"{what} {run_id!r} resolves outside the checkpoint folder {base}: refusing it")
    return path


def boundary(path: Path, step: int) -> Path:
    """The folder of run folder ``path``'s checkpoint at phase boundary ``step`` (``<run_id>/step-<step>``),
    checked to resolve inside it (a planted symbolic link is refused)."""
    if isinstance(step, bool) or not isinstance(step, int) or step <= 0:
        raise CheckpointError(f"boundary step {step!r} is not an integer > 0")
    base = Path(path).resolve()
    out = (base / f"step-{step}").resolve()
    if out.parent != base:
        raise CheckpointError(f"boundary checkpoint step-{step} of {base} resolves outside it: refusing it")
    return out


def exists(path: Path) -> bool:
    """Whether ``path`` holds a complete checkpoint (either format)."""
    return (path / CKPT_FILE).is_file()


def save(path: Path, tensors: dict, state: dict) -> None:
    """Write ``tensors`` (nested dicts of tensors and plain numbers) and JSON ``state`` atomically."""
    import torch

    path.mkdir(parents=True, exist_ok=True)
    body = json.dumps({"format": FORMAT, **state}, sort_keys=True)
    tmp_ckpt, tmp_state = path / (CKPT_FILE + ".tmp"), path / (STATE_FILE + ".tmp")
    for tmp in (tmp_ckpt, tmp_state):  # a leftover (or planted symbolic link) is removed, never written through
        tmp.unlink(missing_ok=True)
    torch.save(tensors, tmp_ckpt)
    tmp_state.write_text(body, encoding="utf-8")
    (path / STATE_FILE).unlink(missing_ok=True)  # never a new ckpt.pt beside an old state.json
    os.replace(tmp_ckpt, path / CKPT_FILE)
    os.replace(tmp_state, path / STATE_FILE)


def load_state(path: Path) -> dict:
    """The JSON facts of a checkpoint (a format-1 checkpoint: its non-tensor entries)."""
    if not exists(path):
        raise CheckpointError(f"no checkpoint at {path}")
    sf = path / STATE_FILE
    if sf.is_file():
        try:
            state = json.loads(sf.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CheckpointError(f"checkpoint state {sf} is not valid JSON ({exc}): delete the run folder") from None
        if not isinstance(state, dict) or not isinstance(state.get("step"), int):
            raise CheckpointError(f"checkpoint state {sf} lacks an integer 'step': delete the run folder")
        if int(state.get("format", 0)) > FORMAT:
            raise CheckpointError(f"checkpoint {path} was written by a newer bomix (format {state['format']})")
        return state
    legacy = _load_tensors(path / CKPT_FILE, "cpu")
    if not isinstance(legacy, dict) or "step" not in legacy:
        raise CheckpointError(f"checkpoint {path / CKPT_FILE} has no state.json and no step: delete the run folder")
    return {k: v for k, v in legacy.items() if k not in ("model", "optim")} | {"format": 1, "step": int(legacy["step"])}


def load_tensors(path: Path, device: str = "cpu") -> dict:
    """``{"model": ..., "optim": ...}`` of a checkpoint, loaded with ``weights_only=True``."""
    if not exists(path):
        raise CheckpointError(f"no checkpoint at {path}")
    out = _load_tensors(path / CKPT_FILE, device)
    if not isinstance(out, dict) or "model" not in out:
        raise CheckpointError(f"checkpoint {path / CKPT_FILE} holds no model weights: delete the run folder")
    return out


def _load_tensors(file: Path, device: str) -> Any:
    import torch

    try:
        return torch.load(file, map_location=device, weights_only=True)
    except pickle.UnpicklingError as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if "Unsupported" in ln or "WeightsUnpickler" in ln]
        first = (lines[0] if lines else type(exc).__name__)[:160]
        raise CheckpointError(f"checkpoint {file} holds more than tensors and was not loaded ({first}); "
                              "only weights_only checkpoints are read") from None
    except (RuntimeError, EOFError, OSError) as exc:
        raise CheckpointError(f"checkpoint {file} is unreadable ({type(exc).__name__}): delete the run folder") from None
