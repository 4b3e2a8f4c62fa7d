"""The redge C runtime: C99 sources (include/, src/, board/, fw/, plugin/) plus their Python drivers.

`build` compiles the host shared library, the Cortex-M firmware for the QEMU boards and the TCG plugin;
`host` calls the shared library through ctypes; `qemu` runs firmware on the emulated cores and reads the
plugin's per-function instruction and weight-traffic counts.
"""
