"""Commands taking a database id: a number too large for the database's integer is a usage error
(exit code 2), never a traceback (SQLite raised OverflowError from `notify remove`, `pursuit decide`...)."""
import pytest
from click.testing import CliRunner

from gateway.cli import main
from tests.helpers import make_staff

BIG = str(10 ** 30)


@pytest.mark.parametrize("args", [
    ("notify", "remove", BIG), ("notify", "test", BIG),
    ("pursuit", "decide", BIG, "write_off", "--as", "+254722500077", "--note", "gone"),
    ("commissions", "approve", BIG, "--as", "+254722500077"),
    ("commissions", "return", BIG, "--as", "+254722500077", "--note", "redo"),
])
def test_an_id_too_large_for_the_database_is_exit_code_2(settings, session, factory, args):
    make_staff(session, factory, "manager", "Manager One", "+254722500077")
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 2, result.output
    assert "is not in the range 1<=x<=2147483647" in result.output
