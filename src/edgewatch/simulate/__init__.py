"""Realistic Inspektor Gadget output for a small edge cluster, with attack scenarios.

Used for demos, tests and benchmarks: ``generate`` streams normalized events,
``write`` renders them in any shape IG output reaches edgewatch in.

>>> import io
>>> from edgewatch import simulate
>>> buf = io.BytesIO()
>>> simulate.write(simulate.generate(100, seed=7, scenarios=["c2-ip"]), buf, "cri")
100
"""

from edgewatch.events import DEFAULT_GADGETS
from edgewatch.simulate.engine import (
    ALL_GADGETS,
    DEFAULT_START_NS,
    SimulationError,
    generate,
    generate_labeled,
    resolve_gadgets,
    resolve_scenarios,
)
from edgewatch.simulate.fastjson import Renderer
from edgewatch.simulate.output import DEFAULT_MAX_LINE, FORMATS, write
from edgewatch.simulate.scenarios import SCENARIOS

__all__ = [
    "ALL_GADGETS",
    "DEFAULT_GADGETS",
    "DEFAULT_MAX_LINE",
    "DEFAULT_START_NS",
    "FORMATS",
    "SCENARIOS",
    "Renderer",
    "SimulationError",
    "generate",
    "generate_labeled",
    "resolve_gadgets",
    "resolve_scenarios",
    "write",
]
