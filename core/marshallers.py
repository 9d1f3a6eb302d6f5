"""Public home of the Model's marshallers; see :mod:`hexkernel.core.model.marshallers`."""

from hexkernel.core.model.marshallers import *  # noqa: F403 - this module is the public alias
