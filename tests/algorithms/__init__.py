"""Tests of the algorithm framework and models."""
