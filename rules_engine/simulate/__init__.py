"""Simulate: a program replayed over a purchase history, its cost, analytics and the diff of two versions."""
