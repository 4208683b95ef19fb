"""Behaviour tests of the offline fine-tuning API simulator (`finetune_kit.testing`)."""
