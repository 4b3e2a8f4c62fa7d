"""redge: recursive reasoners (TRM, HRM) from full precision to a microcontroller, measured honestly."""
__version__ = "0.1.0"
