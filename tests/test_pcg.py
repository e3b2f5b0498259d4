"""``marketenv.engine.pcg`` against NumPy itself: the same numbers, the same generator states."""

from __future__ import annotations

import numpy as np
import pytest

from marketenv.engine import pcg


def pair(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    return np.random.default_rng(seed), np.random.default_rng(seed)


@pytest.mark.parametrize("seed", [0, 1, 2**40 + 7])
def test_uniforms_and_permutations_are_numpys_and_streams_interleave(seed: int) -> None:
    mine, ref = pair(seed)
    rng = np.random.default_rng(seed + 1)
    for _ in range(60):  # the kernels and NumPy take turns on one generator
        n = int(rng.integers(1, 70))
        if rng.random() < 0.5:
            out = np.empty((n, 3))
            pcg.uniforms_into(np.full(n, pcg.address(mine)), out)
            np.testing.assert_array_equal(out, ref.random(3 * n).reshape(n, 3))
        else:
            out = np.empty(n, dtype=np.int64)
            pcg.permutation_into(pcg.address(mine), out)
            np.testing.assert_array_equal(out, ref.permutation(n))
        if rng.random() < 0.3:  # NumPy's own draws in between, on both
            k = int(rng.integers(1, 9))
            np.testing.assert_array_equal(mine.permutation(k), ref.permutation(k))
            assert mine.random() == ref.random()
    assert mine.bit_generator.state == ref.bit_generator.state


def test_each_agent_row_comes_from_its_own_generator() -> None:
    gens = [np.random.default_rng(s) for s in range(5)]
    refs = [np.random.default_rng(s) for s in range(5)]
    addrs = pcg.direct_addresses(gens)
    assert addrs is not None
    out = np.empty((5, 4))
    for _ in range(3):
        pcg.uniforms_into(addrs, out)
        for i, r in enumerate(refs):
            np.testing.assert_array_equal(out[i], r.random(4))


def test_other_bit_generators_are_not_stepped_directly() -> None:
    assert pcg.direct_addresses([np.random.Generator(np.random.MT19937(3))]) is None
    assert pcg.direct_addresses([np.random.Generator(np.random.PCG64DXSM(3))]) is None
    assert pcg.direct_addresses([np.random.default_rng(3)]) is not None
