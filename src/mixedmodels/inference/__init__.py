"""Inference: likelihood-ratio tests, profiles, confidence intervals, bootstrap, df."""
