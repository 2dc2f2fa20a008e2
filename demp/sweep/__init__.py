"""Hyperparameter sweep service: search spaces, trial bookkeeping and Pareto analysis."""
