"""Sweeps: expand an experiment file's grid, run every point, store the results.

``grid`` (pure expansion of a sweep section), ``executors`` (where points run),
``store`` (atomic point files and Parquet results) and ``runner`` (the job).
"""
