"""Prices (GPU-hours, hosted APIs) and the self-hosted vs API cost arithmetic."""
