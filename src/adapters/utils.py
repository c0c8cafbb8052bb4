"""The reference's ``adapters.utils`` import path: file names of the on-disk format and config hashing.

Thin re-exports of the modules that use them (:mod:`adapters.io`, :mod:`adapters.configuration`); nothing is
defined here. Also the hub helpers (:mod:`adapters.io.hub`, :mod:`adapters.io.hub_index`, :mod:`adapters.io.download`).
"""

from __future__ import annotations

from .configuration import get_adapter_config_hash
from .io.download import ADAPTER_CACHE
from .io.embeddings import EMBEDDING_FILE, TOKENIZER_PATH
from .io.format import ADAPTER_CONFIG_NAME as CONFIG_NAME
from .io.format import ADAPTER_SAFE_WEIGHTS_NAME as SAFE_WEIGHTS_NAME
from .io.format import ADAPTER_WEIGHTS_NAME as WEIGHTS_NAME
from .io.format import HEAD_CONFIG_NAME, HEAD_WEIGHTS_NAME
from .io.format import HEAD_SAFE_WEIGHTS_NAME as SAFE_HEAD_WEIGHTS_NAME
from .io.fusion import FUSION_CONFIG_NAME as ADAPTERFUSION_CONFIG_NAME
from .io.fusion import FUSION_SAFE_WEIGHTS_NAME as SAFE_ADAPTERFUSION_WEIGHTS_NAME
from .io.fusion import FUSION_WEIGHTS_NAME as ADAPTERFUSION_WEIGHTS_NAME
from .io.hub import AdapterInfo, AdapterType, get_adapter_info, list_adapters
from .io.hub_index import find_in_index
from .io.setup import SETUP_CONFIG_NAME

__all__ = [
    "CONFIG_NAME",
    "WEIGHTS_NAME",
    "SAFE_WEIGHTS_NAME",
    "HEAD_CONFIG_NAME",
    "HEAD_WEIGHTS_NAME",
    "SAFE_HEAD_WEIGHTS_NAME",
    "ADAPTERFUSION_CONFIG_NAME",
    "ADAPTERFUSION_WEIGHTS_NAME",
    "SAFE_ADAPTERFUSION_WEIGHTS_NAME",
    "EMBEDDING_FILE",
    "TOKENIZER_PATH",
    "SETUP_CONFIG_NAME",
    "get_adapter_config_hash",
    "ADAPTER_CACHE",
    "AdapterInfo",
    "AdapterType",
    "get_adapter_info",
    "list_adapters",
    "find_in_index",
]
