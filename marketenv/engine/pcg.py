"""NumPy's PCG64 stepped from compiled code, draw for draw the numbers NumPy would give.

A compiled loop over many markets draws each tick's agent uniforms and acting order
straight from the agents' own ``numpy.random.Generator`` objects instead of from blocks
drawn ahead in Python. The generators stay the one source of randomness: the kernels
advance their state in place, so NumPy continues each stream exactly where the kernel
stopped (and the other way round).

What is reproduced (NumPy's ``pcg64.h`` and ``distributions.c``):

* the PCG64 (XSL-RR 128/64) step and output; ``next_double`` is the top 53 bits over
  ``2**53`` (``Generator.random``);
* ``next_uint32`` with the generator's buffered upper half (``has_uint32``);
* ``random_interval`` (masked rejection), so ``Generator.permutation(n)`` is
  :func:`permutation_into`.

A generator is addressed by its ``bit_generator.ctypes.state`` pointer (an int), which
stays valid while the generator lives. :func:`direct_addresses` checks, once per process,
that these kernels reproduce NumPy bit for bit on this NumPy; where they do not (another
bit generator, a changed state layout) it returns ``None`` and callers keep drawing
blocks with NumPy itself.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numba as nb
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

_MULT_HI = 2549297995355413924
_MULT_LO = 4865540595714422341
_DOUBLE = 1.0 / 9007199254740992.0


@intrinsic
def _step(typingctx, addr):  # noqa: ANN001, ANN202
    """Advance the PCG64 state at ``addr`` (a ``pcg64_state *``) once; its 64-bit output."""
    sig = types.uint64(types.int64)

    def codegen(context, builder, signature, args):  # noqa: ANN001, ANN202
        i64, i128 = ir.IntType(64), ir.IntType(128)
        outer = builder.inttoptr(args[0], i64.as_pointer().as_pointer())
        rng = builder.bitcast(builder.load(outer), i128.as_pointer())  # {state, inc}, two uint128
        state = builder.load(rng, align=8)  # NumPy's object may hold it 8-byte aligned only
        inc = builder.load(builder.gep(rng, [ir.Constant(ir.IntType(32), 1)]), align=8)
        mult = ir.Constant(i128, (_MULT_HI << 64) | _MULT_LO)
        state = builder.add(builder.mul(state, mult), inc)
        builder.store(state, rng, align=8)
        hi = builder.trunc(builder.lshr(state, ir.Constant(i128, 64)), i64)
        lo = builder.trunc(state, i64)
        rot = builder.trunc(builder.lshr(state, ir.Constant(i128, 122)), i64)
        x = builder.xor(hi, lo)
        left = builder.and_(builder.sub(ir.Constant(i64, 64), rot), ir.Constant(i64, 63))
        return builder.or_(builder.lshr(x, rot), builder.shl(x, left))  # rotate right by rot

    return sig, codegen


@intrinsic
def _half(typingctx, addr, value):  # noqa: ANN001, ANN202
    """Read (``value < 0``) or write the ``(has_uint32, uinteger)`` pair after the state pointer.

    Reading returns ``has_uint32 << 32 | uinteger``; writing stores ``value`` the same way.
    """
    sig = types.int64(types.int64, types.int64)

    def codegen(context, builder, signature, args):  # noqa: ANN001, ANN202
        i32, i64 = ir.IntType(32), ir.IntType(64)
        base = builder.inttoptr(builder.add(args[0], ir.Constant(i64, 8)), i32.as_pointer())
        has_p = base
        val_p = builder.gep(base, [ir.Constant(i32, 1)])
        out = builder.alloca(i64)
        with builder.if_else(builder.icmp_signed("<", args[1], ir.Constant(i64, 0))) as (read, write):
            with read:
                has = builder.zext(builder.load(has_p), i64)
                val = builder.zext(builder.load(val_p), i64)
                builder.store(builder.or_(builder.shl(has, ir.Constant(i64, 32)), val), out)
            with write:
                builder.store(builder.trunc(builder.lshr(args[1], ir.Constant(i64, 32)), i32), has_p)
                builder.store(builder.trunc(args[1], i32), val_p)
                builder.store(args[1], out)
        return builder.load(out)

    return sig, codegen


@nb.njit(cache=True, inline="always", _nrt=False)
def next_double(addr: int) -> float:
    """``Generator.random()`` of the generator at ``addr``."""
    return np.float64(_step(addr) >> np.uint64(11)) * _DOUBLE


@nb.njit(cache=True, inline="always", _nrt=False)
def next_uint32(addr: int) -> int:
    """NumPy's ``next_uint32``: the buffered upper half of the last output, else a new output."""
    h = _half(addr, -1)
    if h >> 32:
        _half(addr, h & 0xFFFFFFFF)  # has_uint32 = 0; NumPy leaves the value
        return h & 0xFFFFFFFF
    x = _step(addr)
    _half(addr, np.int64(1 << 32) | np.int64(x >> np.uint64(32)))
    return np.int64(x & np.uint64(0xFFFFFFFF))


@nb.njit(cache=True, inline="always", _nrt=False)
def random_interval(addr: int, top: int) -> int:
    """NumPy's ``random_interval``: uniform on ``0..top`` by masked rejection (``top < 2**32``)."""
    if top == 0:
        return 0
    mask = top
    mask |= mask >> 1
    mask |= mask >> 2
    mask |= mask >> 4
    mask |= mask >> 8
    mask |= mask >> 16
    v = next_uint32(addr) & mask
    while v > top:
        v = next_uint32(addr) & mask
    return v


@nb.njit(cache=True, _nrt=False)
def uniforms_into(addrs: np.ndarray, out: np.ndarray) -> None:
    """Row ``i`` of ``out (n, d)`` = ``Generator.random(d)`` of the generator at ``addrs[i]``."""
    for i in range(out.shape[0]):
        a = addrs[i]
        for k in range(out.shape[1]):
            out[i, k] = next_double(a)


@nb.njit(cache=True, _nrt=False)
def permutation_into(addr: int, out: np.ndarray) -> None:
    """``out (n,)`` = ``Generator.permutation(n)`` of the generator at ``addr``."""
    n = out.shape[0]
    for i in range(n):
        out[i] = i
    for i in range(n - 1, 0, -1):
        j = random_interval(addr, i)
        t = out[i]
        out[i] = out[j]
        out[j] = t


def address(rng: np.random.Generator) -> int:
    """The state pointer of ``rng`` for these kernels (valid while ``rng`` lives)."""
    return int(rng.bit_generator.ctypes.state.value)


@functools.cache
def _reproduces_numpy() -> bool:
    """Whether the kernels give NumPy's own numbers and states here (checked once per process)."""
    mine, ref = np.random.default_rng(20261202), np.random.default_rng(20261202)
    if type(mine.bit_generator) is not np.random.PCG64:
        return False
    mine.random(3)
    ref.random(3)
    u = np.empty((64, 5))
    uniforms_into(np.full(64, address(mine)), u)
    perms = np.empty((40, 37), dtype=np.int64)
    for row in perms:
        permutation_into(address(mine), row)
    same = np.array_equal(u, ref.random(320).reshape(64, 5))
    same &= all(np.array_equal(row, ref.permutation(37)) for row in perms)
    return bool(same and mine.bit_generator.state == ref.bit_generator.state)


def steppable(rngs: Sequence[np.random.Generator]) -> bool:
    """Whether the kernels can step ``rngs`` directly: every one is PCG64 and the kernels
    reproduce this NumPy's streams."""
    return all(type(r.bit_generator) is np.random.PCG64 for r in rngs) and _reproduces_numpy()


def direct_addresses(rngs: Sequence[np.random.Generator]) -> np.ndarray | None:
    """The state pointers of ``rngs`` as int64, or ``None`` if they cannot be stepped
    directly (see :func:`steppable`; then draw with NumPy)."""
    if not steppable(rngs):
        return None
    return np.array([address(r) for r in rngs], dtype=np.int64)
