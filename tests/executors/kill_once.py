"""A synthetic backend that SIGKILLs the process running it once (for the executors' fault tests).

Remote workers (Ray, submitit) cannot import test modules: tests pickle this module by value
(``cloudpickle.register_pickle_by_value(kill_once)``).
"""

from __future__ import annotations

from bomix.backends.synthetic import SyntheticBackend


class KillOnce(SyntheticBackend):
    """SIGKILLs its own worker the first time it runs ``die`` (marker file in ``folder``)."""

    def __init__(self, folder, die, **kw):
        super().__init__(**kw)
        self.folder, self.die = folder, die

    def run(self, spec):
        import os
        import signal
        from pathlib import Path

        marker = Path(self.folder, f"{spec.run_id}.died")
        if spec.run_id == self.die and not marker.exists():
            marker.write_text("x")
            os.kill(os.getpid(), signal.SIGKILL)
        return super().run(spec)
