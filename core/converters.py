"""Public home of the Model's converters; see :mod:`hexkernel.core.model.converters`."""

from hexkernel.core.model.converters import *  # noqa: F403 - this module is the public alias
