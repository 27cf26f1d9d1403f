"""The examples in the docstrings run and give what they show (against the installed package)."""

import doctest

import pytest

import bpe
import bpe.cli
import bpe.core
import bpe.counts
import bpe.formats


@pytest.mark.parametrize("module", [bpe, bpe.core, bpe.counts, bpe.formats, bpe.cli], ids=lambda m: m.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, extraglobs={"bpe": bpe})
    assert result.failed == 0
    if module is not bpe.cli:
        assert result.attempted > 0
