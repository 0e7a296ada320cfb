"""The real trainer backend: data preparation, Llama proxies, the training loop, SFT and export.

Needs the ``trainer`` extra (``transformers``, ``tokenizers``).
"""
