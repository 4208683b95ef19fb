"""Tests of the platform behind the simulator: its engine seam."""
