"""Helpers shared by the testinfra verifiers of every molecule scenario."""
