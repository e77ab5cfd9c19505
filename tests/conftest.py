import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
# The project's shared files (AIME/AMC data) sit beside the checkout (../shared, where CI has them too);
# a clone elsewhere names them with LOGICRL_SHARED_DIR.
SHARED_CANDIDATES = [Path(p) for p in (os.environ.get("LOGICRL_SHARED_DIR"),) if p] + [REPO.parent / "shared"]


@pytest.fixture(scope="session")
def shared_math_dir() -> Path:
    for root in SHARED_CANDIDATES:
        d = root / "data" / "math"
        if d.is_dir():
            return d
    message = "shared math data not found in " + ", ".join(str(p) for p in SHARED_CANDIDATES)
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message + " (set LOGICRL_SHARED_DIR)")  # CI has the data: a missing copy is an error
    pytest.skip(message + " (set LOGICRL_SHARED_DIR)")
