"""The trainer as a host of online controllers (``RunSpec.controller``, see :mod:`bomix.online.base`).

:func:`build_online` turns a spec into an :class:`OnlineRun`: the controller (built only through
the allowlist :func:`bomix.online.build_controller`, weights projected onto the space at the run's
fidelity), its frozen reference model when the config names one (``reference.source == "model"``:
the checkpoint of a finished run of the campaign), and the sizes of the on-demand signals.
:func:`signal_costs` states those signals' extra FLOPs in training-step units, which is what the
controller's ``overhead()`` charges at dispatch.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bomix.backends.trainer import checkpoint as ckpt
from bomix.errors import BomixError


@dataclass
class OnlineRun:
    """A controller and what the trainer needs to feed it.

    Attributes:
        controller: a :class:`bomix.online.Controller`.
        config: the controller's config dict (saved in checkpoints; a continuation must match it).
        reference: frozen reference LM (eval mode, no grads) or None.
        val_batch_size: ``B_val``: validation windows in the gradient-dot validation batch.
        eval_batches: validation batches per domain for on-demand validation losses.
        requests: how many times each expensive signal was gathered (reported in ``info``).
    """

    controller: Any
    config: dict
    reference: Any | None = None
    val_batch_size: int = 16
    eval_batches: int = 1
    requests: dict[str, int] = field(default_factory=lambda: {"val": 0, "reference": 0, "grads": 0})


def config_json(controller) -> dict | None:
    """A spec's controller config as plain JSON values (what checkpoints store and compare)."""
    return None if controller is None else json.loads(json.dumps(controller.to_dict(), sort_keys=True))


def reference_run_id(config: Mapping | None) -> str | None:
    """The run id of a model reference in a controller config (None for none or a curve)."""
    ref = (config or {}).get("reference") or None
    if not ref or ref.get("source") != "model":
        return None
    run_id = ref.get("run_id")
    if not run_id:
        raise BomixError("the controller's model reference has no run_id: the trainer forwards a finished "
                         "run's checkpoint, so name that run (reference.run_id)")
    return ckpt.check_run_id(run_id, "reference run id")


def load_reference(backend, run_id: str, device: str):
    """The frozen model of the finished run ``run_id`` and its parameter count."""
    path = ckpt.run_dir(backend.checkpoint_dir, run_id, "reference run id")
    state = ckpt.load_state(path)
    shape = state.get("shape") or backend.ladder.get(state.get("scale", ""))
    if not isinstance(shape, Mapping):
        raise BomixError(f"reference checkpoint {path} does not say its model shape: re-run the reference run")
    from bomix.backends.trainer.model import build_model, count_params, resolve_ladder

    shape = resolve_ladder({"ref": shape})["ref"]
    model = build_model(shape, backend.data.vocab_size, backend.context, 0, eos_id=backend.data.eos_id,
                        pad_id=backend.data.pad_id)
    try:
        model.load_state_dict(ckpt.load_tensors(path, "cpu")["model"])
    except RuntimeError as exc:
        raise BomixError(f"reference run {run_id}'s weights do not fit its shape "
                         f"({str(exc).splitlines()[0][:120]})") from None
    model.to(device).eval().requires_grad_(False)
    return model, count_params(shape, backend.data.vocab_size)


def reference_params(backend, config: Mapping | None) -> int | None:
    """Parameter count of the config's model reference without loading it (None when there is none)."""
    run_id = reference_run_id(config)
    if run_id is None:
        return None
    from bomix.backends.trainer.model import count_params

    scale = (config.get("reference") or {}).get("scale")
    if scale in backend.ladder:
        return count_params(backend.ladder[scale], backend.data.vocab_size)
    path = ckpt.run_dir(backend.checkpoint_dir, run_id, "reference run id")
    if ckpt.exists(path):
        shape = ckpt.load_state(path).get("shape")
        if isinstance(shape, Mapping):
            return count_params(shape, backend.data.vocab_size)
    return None


def signal_costs(backend, spec):
    """:class:`bomix.online.SignalCosts` of ``spec`` on ``backend``, in units of one training step.

    - val: forward of ``eval_batches`` validation batches of every domain: ``val tokens / (3 B T)``;
    - reference: the reference model's forward on the batch: ``N_ref / (3 N)`` (``1/3`` if unknown);
    - grads: per-domain sub-batches cost what the batch costs; the validation batch adds
      ``B_val / B`` (forward and backward).
    """
    from bomix.online import SignalCosts

    n = backend.params[spec.scale]
    tokens_step = backend.batch_size * backend.context
    val_tokens = 0
    batcher = backend.batcher()
    for d in batcher.domains:
        for x, _ in batcher.val_batches(d)[: backend.signal_eval_batches]:
            val_tokens += int(x.numel())
    n_ref = reference_params(backend, config_json(spec.controller))
    return SignalCosts(val=val_tokens / (3.0 * tokens_step),
                       reference=(n_ref / (3.0 * n)) if n_ref else 1.0 / 3.0,
                       grads=backend.val_batch_size / backend.batch_size)


def build_online(backend, spec, device: str) -> OnlineRun | None:
    """The :class:`OnlineRun` of ``spec`` (None without a controller)."""
    if getattr(spec, "controller", None) is None:
        return None
    from bomix.online import build_controller

    space, fid = backend.space, spec.fidelity
    config = config_json(spec.controller)
    ctrl = build_controller(spec.controller, space.domains, spec.seed, initial=spec.mixture.weights,
                            steps=spec.steps, trace_every=backend.eval_every,
                            project=lambda w: space.project(w[None, :], fid)[0])
    ref = None
    run_id = reference_run_id(config)
    if run_id is not None:
        ref, _ = load_reference(backend, run_id, device)
    return OnlineRun(ctrl, config, ref, backend.val_batch_size, backend.signal_eval_batches)


def signal_flops(online: OnlineRun, costs, step_flops: float) -> float:
    """Extra FLOPs actually spent on the signals gathered (``costs`` per request x requests)."""
    r = online.requests
    return step_flops * (r["val"] * costs.val + r["reference"] * costs.reference + r["grads"] * costs.grads)
