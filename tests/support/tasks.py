"""Tiny tasks for pipeline-definition tests: they only declare connections."""

from __future__ import annotations

from provenance_graph.model import Quantum
from provenance_graph.pipeline import (
    Input,
    Output,
    PipelineTask,
    PrerequisiteInput,
    QuantaContext,
    QuantumIO,
    TaskConfig,
)

VD = ("instrument", "visit", "detector")


class ScaleConfig(TaskConfig):
    """A config with one float field."""

    factor: float = 1.0
    """How much to scale by."""


class AtoB(PipelineTask):
    """Reads a, writes b."""

    dimensions = VD
    ConfigClass = ScaleConfig
    connections = {"a": Input("a", VD, "Image"), "b": Output("b", VD, "Image")}  # noqa: RUF012


class BtoA(PipelineTask):
    """Reads b, writes a: with AtoB, a cycle."""

    dimensions = VD
    connections = {"b": Input("b", VD, "Image"), "a": Output("a", VD, "Image")}  # noqa: RUF012


class AtoBAgain(PipelineTask):
    """Also writes b."""

    dimensions = VD
    connections = {"a": Input("a", VD, "Image"), "b": Output("b", VD, "Image")}  # noqa: RUF012


class NeedsBAsPrerequisite(PipelineTask):
    """Declares b, which AtoB produces, as a prerequisite."""

    dimensions = VD
    connections = {  # noqa: RUF012
        "b": PrerequisiteInput("b", VD, "Image"),
        "c": Output("c", VD, "Image"),
    }


class WideOutput(PipelineTask):
    """Writes an output with a dimension its quanta lack."""

    dimensions = ("instrument", "visit")
    connections = {  # noqa: RUF012
        "a": Input("a", VD, "Image", multiple=True),
        "d": Output("d", VD, "Image"),
    }


class UnknownDimension(PipelineTask):
    """Uses a dimension the universe does not know."""

    dimensions = ("instrument", "vist")
    connections = {"a": Input("a", VD, "Image"), "e": Output("e", ("instrument",), "Image")}  # noqa: RUF012


class BWithOtherDimensions(PipelineTask):
    """Reads b with other dimensions than AtoB writes it."""

    dimensions = ("instrument", "visit")
    connections = {  # noqa: RUF012
        "b": Input("b", ("instrument", "visit"), "Image"),
        "f": Output("f", ("instrument", "visit"), "Image"),
    }


class NotATask:
    """Not a PipelineTask."""


class WritesThenFails(PipelineTask):
    """Writes its output b, then raises: a failed attempt that left a file behind."""

    dimensions = VD
    connections = {"a": Input("a", VD, "StructuredData"), "b": Output("b", VD, "StructuredData")}  # noqa: RUF012

    def run_quantum(self, io: QuantumIO) -> None:
        """Copy a to b, then fail."""
        io.put("b", io.get("a"))
        raise RuntimeError("failed after writing b")


class CopiesAtoB(WritesThenFails):
    """Copies a to b, and succeeds."""

    def run_quantum(self, io: QuantumIO) -> None:
        """Copy a to b."""
        io.put("b", io.get("a"))


ED = ("instrument", "exposure", "detector")
DET = ("instrument", "detector")


class BiasStats(PipelineTask):
    """Reads only a prerequisite: one quantum per detector that has a bias."""

    dimensions = DET
    connections = {  # noqa: RUF012
        "bias": PrerequisiteInput("bias", DET, "Image"),
        "stats": Output("biasStats", DET, "StructuredData"),
    }


class OptionalBias(PipelineTask):
    """Reads a raw, and the bias if there is one (``minimum=0``)."""

    dimensions = ED
    connections = {  # noqa: RUF012
        "raw": Input("raw", ED, "Image"),
        "bias": Input("bias", DET, "Image", multiple=True, minimum=0),
        "out": Output("optionalOut", ED, "Image"),
    }


class RescuesDropped(PipelineTask):
    """Needs a bias, but its own ``define_quanta`` plans the dropped data IDs from the raw alone."""

    dimensions = ED
    connections = {  # noqa: RUF012
        "raw": Input("raw", ED, "Image"),
        "bias": PrerequisiteInput("bias", DET, "Image"),
        "out": Output("rescuedOut", ED, "Image"),
    }

    def define_quanta(self, context: QuantaContext) -> list[Quantum]:
        """The default quanta, plus one per raw the default dropped."""
        quanta = context.group()
        planned = {q.data_id for q in quanta}
        for raw in context.available("raw"):
            if raw.data_id not in planned:
                quanta.append(context.make_quantum(raw.data_id.to_dict(), {"raw": [raw]}))
        return quanta
