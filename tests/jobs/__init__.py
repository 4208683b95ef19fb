"""Tests of FineTuneJob / AsyncFineTuneJob: flows, reliability and wire shapes on the simulator."""
