"""Objectives: MaxEnt-GRPO target weights and loss, KL / entropy coefficient controllers, temperature schedule."""

from rlvr.objectives.controllers import EntropyController, KLController
from rlvr.objectives.maxent import maxent_loss, maxent_weights, sequence_logps, weight_entropy
from rlvr.objectives.temperature import TemperatureSchedule

__all__ = [
    "EntropyController",
    "KLController",
    "TemperatureSchedule",
    "maxent_loss",
    "maxent_weights",
    "sequence_logps",
    "weight_entropy",
]
