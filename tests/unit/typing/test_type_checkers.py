"""Type checkers understand Model classes: the generated __init__ is checked under mypy --strict."""

import textwrap
from pathlib import Path

import pytest
from mypy import api

GOOD = """
    import datetime as dt

    from hexkernel.core import Embedded, Field, Model
    from hexkernel.core import validators as v
    from hexkernel.core.generators import CurrentUser, Timestamp


    class Address(Embedded):
        city: str


    class Task(Model, prefix="tsk"):
        title: str = Field(validators=[v.NotEmpty()])
        priority: int = Field(default=3)
        tags: list[str] = Field(factory=list)
        owner: str | None = Field(factory=CurrentUser())
        changed: dt.datetime = Field(factory=Timestamp(on="update"))
        home: Address | None = None


    task: Task = Task(title="x", priority=2, home=Address(city="Springfield"))
    title: str = task.title
    again: Task = Task.from_json(task.to_json())
    document: dict[str, object] = task.to_document()
"""

BAD = """
    from hexkernel.core import Field, Model


    class Task(Model):
        title: str
        priority: int = Field(default=3)


    Task(titel="x")
    Task(title=3)
"""


def _mypy(tmp_path: Path, source: str) -> tuple[str, int]:
    module = tmp_path / "usercode.py"
    module.write_text(textwrap.dedent(source))
    out, err, status = api.run(
        ["--strict", "--no-incremental", "--cache-dir", str(tmp_path / ".mypy"), str(module)]
    )
    return out + err, status


@pytest.mark.slow
def test_correct_model_code_passes_mypy_strict(tmp_path):
    output, status = _mypy(tmp_path, GOOD)
    assert status == 0, output


@pytest.mark.slow
def test_wrong_constructor_calls_are_type_errors(tmp_path):
    output, status = _mypy(tmp_path, BAD)
    assert status == 1
    assert 'Unexpected keyword argument "titel"' in output
    assert 'Argument "title" to "Task" has incompatible type "int"' in output
