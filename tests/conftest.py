import os
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(scope="session")
def packaged_classifier():
    from texplain.classifier import FrozenClassifier

    return FrozenClassifier.from_spec("packaged:efficientnet_lite0")


@pytest.fixture(scope="session")
def packaged_lm():
    from texplain.decoders import load_decoder

    return load_decoder("prefix", "packaged:smollm2-135m")
