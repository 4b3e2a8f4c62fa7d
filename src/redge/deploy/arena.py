"""Activation-arena planning as TFLite Micro does it: tensor liveness over an op list, then greedy offsets.

`OpGraph` records ops in execution order with the tensors each reads and writes; a tensor lives from the op that
writes it to the last op that reads it (graph inputs from op 0, graph outputs to the end). Ops between
`loop_start` and the end form a loop body that runs many times (one token tile): a tensor produced before the loop
and read inside it stays live until the loop ends. `plan_arena` then assigns offsets like TFLM's
`GreedyMemoryPlanner`: largest tensor first, each at the lowest offset that overlaps no already-placed tensor whose
lifetime intersects its own. The arena size is the highest end offset.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Buffer:
    """One intermediate tensor: its size and the first and last op (inclusive) during which it must exist."""

    name: str
    size: int
    first: int
    last: int


@dataclass
class OpGraph:
    """Ops in execution order; build with `tensor` (declare), `op` (record reads/writes), then `buffers()`."""

    sizes: dict[str, int] = field(default_factory=dict)
    ops: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = field(default_factory=list)
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    loop_start: int | None = None

    def tensor(self, name: str, size: int) -> str:
        """Declare a tensor of `size` bytes; returns its name for use in `op`."""
        self.sizes[name] = size
        return name

    def op(self, name: str, reads: tuple[str, ...], writes: tuple[str, ...]) -> None:
        """Append an op that reads and writes the named tensors (an in-place op reads and writes the same name)."""
        for t in reads + writes:
            if t not in self.sizes:
                raise KeyError(f"op {name}: undeclared tensor {t!r}")
        self.ops.append((name, reads, writes))

    def begin_loop(self) -> None:
        """Mark that the following ops are a loop body (see the module docstring)."""
        self.loop_start = len(self.ops)

    def buffers(self) -> list[Buffer]:
        """Lifetimes of every declared tensor (unused tensors are dropped)."""
        end = len(self.ops) - 1
        first: dict[str, int] = {t: 0 for t in self.inputs}
        last: dict[str, int] = {t: end for t in self.outputs}
        for i, (_, reads, writes) in enumerate(self.ops):
            for t in writes:
                first.setdefault(t, i)
            for t in reads + writes:
                last[t] = max(last.get(t, i), i)
                first.setdefault(t, i)
        if self.loop_start is not None:
            for t in first:
                if first[t] < self.loop_start <= last[t]:
                    last[t] = end
        return [Buffer(t, self.sizes[t], first[t], last[t]) for t in self.sizes if t in first]


@dataclass(frozen=True)
class ArenaPlan:
    """Offsets of every buffer and the resulting arena size."""

    size: int
    offsets: dict[str, int]
    buffers: tuple[Buffer, ...]

    @property
    def peak_live(self) -> int:
        """Lower bound on any plan: the largest total size of buffers alive at the same op."""
        ops = {b.first for b in self.buffers} | {b.last for b in self.buffers}
        return max((sum(b.size for b in self.buffers if b.first <= t <= b.last) for t in ops), default=0)

    def to_dict(self) -> dict:
        """JSON form: size, lower bound, and each buffer's bytes, offset and lifetime."""
        return {"bytes": self.size, "peak_live_bytes": self.peak_live,
                "buffers": [{"name": b.name, "bytes": b.size, "offset": self.offsets[b.name], "ops": [b.first, b.last]}
                            for b in self.buffers]}


def _align(n: int, alignment: int) -> int:
    return -(n // -alignment) * alignment


def plan_arena(buffers: list[Buffer], alignment: int = 16) -> ArenaPlan:
    """Greedy-by-size offset assignment (TFLM GreedyMemoryPlanner) with each offset aligned to `alignment`."""
    order = sorted(buffers, key=lambda b: (-b.size, b.first, b.name))
    placed: list[tuple[int, Buffer]] = []
    offsets: dict[str, int] = {}
    for buf in order:
        clashes = sorted(((off, other) for off, other in placed if other.first <= buf.last and buf.first <= other.last),
                         key=lambda pair: pair[0])
        candidate = 0
        for off, other in clashes:
            if candidate + buf.size <= off:
                break
            candidate = max(candidate, _align(off + other.size, alignment))
        offsets[buf.name] = candidate
        placed.append((candidate, buf))
    size = max((offsets[b.name] + b.size for b in buffers), default=0)
    return ArenaPlan(size=size, offsets=offsets, buffers=tuple(buffers))
