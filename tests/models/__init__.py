"""Tests of one model's own pieces (MemoryGAN's memory, MIC-GANs' CRP), beside tests/test_models.py
which holds what the harness promises of every model."""
