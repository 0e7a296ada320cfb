"""The one online host loop (:func:`bomix.online.host.drive`) and the import direction around it."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from bomix.online import NOTHING, Signals, Wants
from bomix.online.host import Fixed, drive


class Recorder:
    """A controller that logs what the loop asks and tells it."""

    def __init__(self):
        self.calls = []

    def weights(self, step):
        self.calls.append(("weights", step))
        return [0.25, 0.75]

    def wants(self, step):
        self.calls.append(("wants", step))
        return Wants(val=step == 1)

    def loss_coefficients(self, step, counts):
        self.calls.append(("coef", step))
        return np.asarray(counts) / np.sum(counts)

    def observe(self, step, signals):
        self.calls.append(("observe", step, signals.val_losses is not None))


class Host:
    def __init__(self, stop_at=None):
        self.log, self.stop_at = [], stop_at

    def step(self, t, w, want, coefficients):
        assert isinstance(w, np.ndarray) and w.dtype == float
        c = coefficients(np.array([1.0, 3.0]))
        self.log.append(("step", t, c.tolist()))
        if t == self.stop_at:
            return None
        return Signals(step=t, train_losses=np.zeros(2), token_counts=np.ones(2),
                       val_losses=np.zeros(2) if want.val else None)

    def end_step(self, t, w):
        self.log.append(("end", t))
        return True


def test_drive_runs_each_step_in_protocol_order():
    ctrl, host = Recorder(), Host()
    assert drive(ctrl, host, 1, 3) == 3
    assert ctrl.calls == [("weights", 1), ("wants", 1), ("coef", 1), ("observe", 1, True),
                          ("weights", 2), ("wants", 2), ("coef", 2), ("observe", 2, False)]
    assert host.log == [("step", 1, [0.25, 0.75]), ("end", 1), ("step", 2, [0.25, 0.75]), ("end", 2)]


def test_a_host_stops_the_run_at_the_step_it_returns_none():
    ctrl, host = Recorder(), Host(stop_at=1)
    assert drive(ctrl, host, 0, 5) == 1
    assert ("observe", 1, True) not in ctrl.calls and host.log[-1] == ("step", 1, [0.25, 0.75])
    assert drive(Recorder(), Host(), 4, 4) == 4  # nothing left to run


def test_fixed_weights_ask_nothing_and_train_on_the_token_mean():
    f = Fixed(lambda t: np.array([0.5, 0.5]) if t < 10 else np.array([1.0, 0.0]))
    assert f.wants(3) is NOTHING and f.weights(12).tolist() == [1.0, 0.0]
    np.testing.assert_allclose(f.loss_coefficients(0, np.array([1.0, 3.0])), [0.25, 0.75])
    assert f.observe(0, None) is None


def test_the_spec_type_and_the_step_simulator_do_not_import_upwards():
    code = ("import sys, bomix.runs; assert not any(m.startswith('bomix.online') for m in sys.modules), sys.modules.keys(); "
            "import bomix.backends.synthetic_steps; assert 'bomix.backends.synthetic' not in sys.modules")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
