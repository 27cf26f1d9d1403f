"""Shared test set-up: hypothesis sizes from the environment, corpora, the doctest namespace.

BPE_EXAMPLES sets how many examples each hypothesis test draws (CI keeps it small; a deep local
run sets it to 100000)."""

import os

import pytest
from hypothesis import HealthCheck, settings

import bpe
from corpora import stdlib_files

settings.register_profile(
    "bpe",
    max_examples=int(os.environ.get("BPE_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("bpe")

@pytest.fixture(autouse=True)
def _doctest_bpe(doctest_namespace):
    doctest_namespace["bpe"] = bpe


@pytest.fixture(scope="session")
def small_tok(tmp_path_factory):
    """A 2,000-token vocabulary trained on part of the standard library."""
    files = stdlib_files()[::20]
    return bpe.train(files, 2000, progress=False)
