import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
# The project's shared files sit beside the checkout (../shared); a clone elsewhere (CI in a temporary
# folder) finds them through LOGICRL_SHARED_DIR or the workplace's fixed location.
SHARED_CANDIDATES = [Path(p) for p in (os.environ.get("LOGICRL_SHARED_DIR"),) if p] + [
    REPO.parent / "shared", Path("/work/shared")]


@pytest.fixture(scope="session")
def shared_math_dir() -> Path:
    for root in SHARED_CANDIDATES:
        d = root / "data" / "math"
        if d.is_dir():
            return d
    pytest.skip("shared math data not found in " + ", ".join(str(p) for p in SHARED_CANDIDATES))
