import os

import oss2.utils
import pytest

from ossconnector.emulator.crc64 import Crc64, crc64, crc64_combine, crc64_zeros


def oss2_crc(data):
    c = oss2.utils.Crc64()
    c.update(data)
    return c.crc


@pytest.mark.parametrize("size", [0, 1, 7, 8, 1000, 65536 + 3])
def test_matches_oss2(size):
    data = os.urandom(size)
    assert crc64(data) == oss2_crc(data)


def test_incremental_and_combine():
    a, b = os.urandom(5000), os.urandom(3333)
    acc = Crc64().update(a).update(b)
    assert acc.value == crc64(a + b) == crc64(b, crc64(a))
    assert crc64_combine(crc64(a), crc64(b), len(b)) == crc64(a + b)
    assert crc64_combine(crc64(a), 0, 0) == crc64(a)


@pytest.mark.parametrize("n", [0, 1, 9, 4096, 100003])
def test_zeros(n):
    assert crc64_zeros(n) == crc64(b"\0" * n)


def test_zeros_huge_is_fast_and_consistent():
    n = 5 << 30
    # crc(zeros(2n)) == combine(crc(zeros(n)), crc(zeros(n)), n)
    assert crc64_zeros(2 * n) == crc64_combine(crc64_zeros(n), crc64_zeros(n), n)
