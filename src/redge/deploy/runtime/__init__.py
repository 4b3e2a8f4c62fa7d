"""The redge C runtime: C99 sources (include/, src/, board/, fw/, plugin/) plus their Python drivers.

`build` compiles the host shared library (portable kernels), the firmware of a target with a QEMU machine (the
kernel set, compiler flags, limits and memory map of its YAML: redge/deploy/targets) and the TCG plugin;
`host` calls the shared library through ctypes; `qemu` runs firmware on the emulated cores and reads the
plugin's per-function instruction and weight-traffic counts.
"""
