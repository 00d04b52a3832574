"""The simulator's exception tree: every error it raises on purpose is a SimulatorError."""

from __future__ import annotations

from dataclasses import dataclass


class SimulatorError(Exception):
    """Base class of every error the simulator raises deliberately."""


@dataclass(frozen=True)
class ScenarioProblem:
    """One thing wrong with a scenario file, located as precisely as the source allows."""

    file: str
    line: int | None  # 1-based; None when the problem is not tied to a line
    field: str  # field path such as "camera_groups[2].count"; "" for file-level problems
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        if self.field:
            return f"{where}: {self.field}: {self.message}"
        return f"{where}: {self.message}"


class ScenarioError(SimulatorError):
    """A scenario file cannot be used. Carries every problem found, not just the first."""

    def __init__(self, problems: list[ScenarioProblem] | tuple[ScenarioProblem, ...]) -> None:
        if not problems:
            raise ValueError("ScenarioError needs at least one problem")
        self.problems: tuple[ScenarioProblem, ...] = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class CityStartError(SimulatorError):
    """The simulated city could not be brought up (port in use, bad address, ...)."""


class ControlError(SimulatorError):
    """A runtime control request (fault injection) could not be carried out."""
