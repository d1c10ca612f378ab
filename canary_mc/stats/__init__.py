"""Estimators and confidence intervals: counts in, rates with intervals out."""
