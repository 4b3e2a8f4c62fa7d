"""TRM and HRM re-implemented for any device, with the official module names and a step-by-step carry API."""
from redge.models.config import ConfigError, ModelConfig
from redge.models.hrm import HRM
from redge.models.reasoner import Batch, Carry, RecursiveReasoner
from redge.models.trm import TRM


def build_model(config: ModelConfig) -> RecursiveReasoner:
    """Instantiate the architecture named by `config.arch`."""
    return {"trm": TRM, "hrm": HRM}[config.arch](config)


__all__ = ["Batch", "Carry", "ConfigError", "HRM", "ModelConfig", "RecursiveReasoner", "TRM", "build_model"]
