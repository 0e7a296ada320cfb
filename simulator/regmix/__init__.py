"""The RegMix logged runs (sail-sg/regmix, MIT: see NOTICE.md), shipped as package data of bomix."""
