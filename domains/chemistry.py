"""The chemistry suite: sources and tasks."""

from __future__ import annotations

from domainemb.types import Source, TaskSpec

SOURCES: list[Source] = []
TASKS: list[TaskSpec] = []
