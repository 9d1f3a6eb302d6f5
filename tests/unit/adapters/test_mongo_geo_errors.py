"""A geometry MongoDB's 2dsphere index refuses is the client's error, not the server's."""

import pytest
from pymongo.errors import WriteError

from hexkernel.adapters.mongo.errors import translated
from hexkernel.core import ValidationError


def test_cannot_extract_geo_keys_becomes_a_validation_error():
    refusal = WriteError("Can't extract geo keys: Loop is not valid", code=16755)
    with pytest.raises(ValidationError) as caught, translated("Place"):
        raise refusal
    assert caught.value.errors[0].code == "invalid_geometry"
    assert caught.value.__cause__ is refusal
