"""Generators, critics and classifiers; importing this package registers every variant."""
from explorer.models import classifiers, dcgan, infogan, mlp, translation  # noqa: F401  (registration side effects)
from explorer.models.base import (CLASSIFIERS, CRITICS, GENERATORS, TRANSLATORS, GeneratorModel, ModelConfig,
                                  build_classifier, build_critic, build_generator, build_translator)
from explorer.models.conditioning import condition, one_hot
from explorer.models.encoder import Encoder

__all__ = ["CLASSIFIERS", "CRITICS", "Encoder", "GENERATORS", "GeneratorModel", "ModelConfig", "TRANSLATORS",
           "build_classifier", "build_critic", "build_generator", "build_translator", "condition", "one_hot"]
