"""The binding's public names in one module, as 0.1 had them (`from libast.api import Config`
keeps working). Each lives in the module of its handle: config, data, network, run, matching
(all over libast._raw); _common holds errors and argument conversion, _progress the progress
reports."""

from ._common import ASTError, UnknownSettingError, abi_version, status_name, version
from ._progress import Progress
from .config import Bounds, Config
from .data import Dataset
from .matching import MatchingResult, matching_minibatches, matching_step
from .network import Network, Tensor
from .run import Distilled, Run

__all__ = ["ASTError", "UnknownSettingError", "Config", "Dataset", "Network", "Tensor", "Bounds", "Progress", "Run",
           "Distilled", "MatchingResult", "matching_step", "matching_minibatches",
           "version", "abi_version", "status_name"]
