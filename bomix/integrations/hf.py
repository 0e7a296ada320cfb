"""``BomixMixtureCallback``: online data mixing inside ``transformers.Trainer``.

Give the Trainer a :class:`~bomix.integrations.MixedIterableDataset` as ``train_dataset`` and this callback.
The callback hooks the model's forward: on every training forward it takes the logits and labels, splits
the next-token losses by domain (the dataset remembers which domain each row came from, so the batch
needs no extra column) and, at ``on_step_end``, feeds the step's per-domain mean losses and token counts
to the controller, which updates the weights of the following draws. The weights appear in the
Trainer's logs as ``mix/<domain>`` (``state.log_history`` and the callbacks after this one).

Requirements: a causal LM (logits ``(B, T, V)``, labels shifted inside the model, as in Hugging Face),
``per_device_train_batch_size x gradient_accumulation_steps == dataset.per_step``, one process,
``dataloader_num_workers=0``.
"""

from __future__ import annotations

from bomix.errors import BomixError
from bomix.extras import require
from bomix.integrations.dataset import MixedIterableDataset
from bomix.integrations.loop import MixtureHook, mix_logs

TrainerCallback = require("transformers", "trainer", "bomix.integrations.hf").TrainerCallback


class BomixMixtureCallback(TrainerCallback):
    """Updates a :class:`MixedIterableDataset`'s controller from the Trainer's own training forwards.

    Args:
        dataset: the Trainer's ``train_dataset``.
        reference_model: a frozen model (DoReMi with ``reference.source = model``).
    """

    def __init__(self, dataset: MixedIterableDataset, reference_model=None):
        self.hook = MixtureHook(dataset, reference_model)
        self.dataset = dataset
        self._handle = None

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        per = args.per_device_train_batch_size * args.gradient_accumulation_steps
        if per != self.dataset.per_step:
            raise BomixError(f"the dataset draws {self.dataset.per_step} examples per step but the Trainer takes "
                             f"{per} (per_device_train_batch_size x gradient_accumulation_steps)")
        if args.world_size != 1 or args.dataloader_num_workers:
            raise BomixError("BomixMixtureCallback needs one process and dataloader_num_workers=0")
        if model is None:
            raise BomixError("the Trainer gave the callback no model")
        self._handle = self.hook.attach(model)  # splits every training forward's loss by domain

    def on_step_end(self, args, state, control, **kwargs):
        self.hook.flush()

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs is None:
            return
        mix = mix_logs(self.dataset)
        logs.update(mix)  # the callbacks after this one (printers, loggers) see the weights
        if state.log_history and state.log_history[-1].get("step") == state.global_step:
            state.log_history[-1].update(mix)

    def on_train_end(self, args, state, control, **kwargs):
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
