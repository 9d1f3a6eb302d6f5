"""Public home of the Model's validators; see :mod:`hexkernel.core.model.validators`."""

from hexkernel.core.model.validators import *  # noqa: F403 - this module is the public alias
