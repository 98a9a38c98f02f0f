"""Runs ``inprod ...`` in-process for tests: ``ok`` asserts the exit code, ``fails`` asserts a
clean error (status 1, one "error:" line naming what to fix, no traceback)."""

from __future__ import annotations

from typer.testing import CliRunner

from inprod.store import reset_default_store


class CLI:
    """``CLI("labels")`` runs ``inprod labels ARGS``; ``CLI()`` runs ``inprod ARGS``."""

    def __init__(self, *prefix: str) -> None:
        self.runner = CliRunner()
        self.prefix = [str(p) for p in prefix]

    def __call__(self, *args: object, input: str | None = None):  # -> click.testing.Result
        from inprod.cli import app

        reset_default_store()
        argv = [*self.prefix, *map(str, args)]
        return self.runner.invoke(app, argv, input=input, prog_name="inprod")

    def ok(self, *args: object, input: str | None = None, code: int = 0):
        result = self(*args, input=input)
        assert result.exit_code == code, (
            f"inprod {' '.join([*self.prefix, *map(str, args)])} exited {result.exit_code}\n"
            f"stdout: {result.stdout}\nstderr: {result.stderr}\n{result.exception!r}"
        )
        return result

    def fails(self, *args: object, match: str, input: str | None = None):
        result = self(*args, input=input)
        assert result.exit_code == 1, (
            f"expected a clean failure, got {result.exit_code}\n{result.stdout}\n{result.stderr}"
            f"\n{result.exception!r}"
        )
        assert result.stderr.startswith("error: "), result.stderr
        assert match.lower() in result.stderr.lower(), result.stderr
        assert "Traceback" not in result.stderr + result.stdout
        return result
