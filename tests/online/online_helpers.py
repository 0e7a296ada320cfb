"""Drive a controller through the host protocol with hand-made signals (no backend)."""

import numpy as np

from bomix.online import Signals, build_controller


def drive(config, losses, steps, k=None, seed=0, initial=None, counts=None, trace_every=10, ctrl=None, start=0):
    """Run ``steps`` steps; ``losses(step, w) -> (K,)`` train losses of the batch. Returns (ctrl, pis)."""
    k = k or len(initial)
    initial = np.full(k, 1.0 / k) if initial is None else np.asarray(initial)
    if ctrl is None:
        ctrl = build_controller(config, [f"d{i}" for i in range(k)], seed, initial=initial, steps=steps,
                                trace_every=trace_every)
    pis = []
    for t in range(start, steps):
        w = ctrl.weights(t)
        n = np.round(w * 64) if counts is None else counts(t, w)
        loss = np.where(n > 0, losses(t, w), np.nan)
        pis.append(ctrl.w.copy())
        ctrl.observe(t, Signals(step=t, train_losses=loss, token_counts=n))
    return ctrl, np.array(pis)
