"""Helpers every layer uses: errors, atomic writes, JSON io, torchrun ranks, progress."""
