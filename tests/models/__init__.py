"""Tests of TunedModel."""
