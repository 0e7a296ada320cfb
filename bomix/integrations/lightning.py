"""``BomixLightningCallback``: online data mixing inside a ``lightning.Trainer`` loop.

Give the Trainer a ``DataLoader`` over a :class:`~bomix.integrations.MixedIterableDataset` (``num_workers=0``)
and this callback. As the Hugging Face callback (:mod:`bomix.integrations.hf`) does, it hooks a model's
forward (:meth:`~bomix.integrations.loop.MixtureHook.attach`): every training forward's next-token losses
are split by domain (the dataset remembers which domain each row came from, so the batch needs no extra
column) and, when an optimiser step ends (``trainer.global_step`` moved), the step's per-domain mean losses
and token counts go to the controller, which updates the weights of the following draws at its own interval
(``controller.every``). The weights are logged as ``mix/<domain>`` (``pl_module.log_dict``: the Trainer's
loggers and ``trainer.callback_metrics``).

Requirements: the hooked module (the LightningModule itself, or the submodule named by ``module=``, e.g. the
``self.model`` your ``training_step`` calls) takes ``input_ids`` (keyword, first positional argument, or a
batch mapping with ``input_ids`` and optional ``labels``) and returns causal-LM logits ``(B, T, V)`` (a tensor,
a mapping with ``logits`` or an object with ``.logits``; labels shifted inside, as in Hugging Face);
``batch_size x accumulate_grad_batches == dataset.per_step``; one process.
"""

from __future__ import annotations

from collections.abc import Mapping

from bomix.errors import BomixError
from bomix.extras import require
from bomix.integrations.dataset import MixedIterableDataset
from bomix.integrations.loop import MixtureHook, mix_logs

Callback = require("lightning.pytorch", "lightning", "bomix.integrations.lightning").Callback


class BomixLightningCallback(Callback):
    """Updates a :class:`MixedIterableDataset`'s controller from a LightningModule's training forwards.

    Args:
        dataset: the dataset the training ``DataLoader`` reads (unshuffled, ``num_workers=0``).
        reference_model: a frozen model (DoReMi with ``reference.source = model``); moved to the model's device.
        module: dotted name of the submodule whose forward computes the logits (``pl_module.get_submodule``);
            default the LightningModule itself (its ``training_step`` must then call ``self(...)``).
        log: log the weights as ``mix/<domain>`` after every step.
    """

    def __init__(self, dataset: MixedIterableDataset, reference_model=None, module: str | None = None,
                 log: bool = True):
        self.hook = MixtureHook(dataset, reference_model)
        self.dataset, self.module, self.log = dataset, module, bool(log)
        self._handle = None
        self._step = 0

    def _target(self, pl_module):
        if self.module is None:
            return pl_module
        try:
            return pl_module.get_submodule(self.module)
        except AttributeError:
            raise BomixError(f"the LightningModule has no submodule {self.module!r} (module= of "
                             f"BomixLightningCallback)") from None

    def on_train_start(self, trainer, pl_module):
        if trainer.world_size != 1:
            raise BomixError("BomixLightningCallback needs one process (the weights live in the main process)")
        loaders = trainer.train_dataloader
        loaders = loaders.values() if isinstance(loaders, Mapping) else \
            loaders if isinstance(loaders, (list, tuple)) else [loaders]
        if any(getattr(loader, "num_workers", 0) for loader in loaders):
            raise BomixError("BomixLightningCallback needs a DataLoader with num_workers=0")
        self._remove()
        self._handle = self.hook.attach(self._target(pl_module))
        self._step = trainer.global_step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_step == self._step:
            return  # accumulating gradients: the optimiser step is not over
        self._step = trainer.global_step
        rows, per = self.hook.rows, self.dataset.per_step
        if rows != per:
            where = "the LightningModule" if self.module is None else f"submodule {self.module!r}"
            if rows == 0:
                raise BomixError(f"BomixLightningCallback saw no training forward of {where} in this step: pass "
                                 f"module=<the submodule your training_step calls> (e.g. module='model')")
            raise BomixError(f"the dataset draws {per} examples per step but the step's forwards of {where} took "
                             f"{rows} rows (batch_size x accumulate_grad_batches)")
        self.hook.flush()
        if self.log:
            pl_module.log_dict(mix_logs(self.dataset), on_step=True, on_epoch=False, batch_size=per)

    def _remove(self):
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    def on_train_end(self, trainer, pl_module):
        self._remove()

    def on_exception(self, trainer, pl_module, exception):
        self._remove()
