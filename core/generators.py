"""Public home of the Model's generators; see :mod:`hexkernel.core.model.generators`."""

from hexkernel.core.model.generators import *  # noqa: F403 - this module is the public alias
