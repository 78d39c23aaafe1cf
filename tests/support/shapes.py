"""Tasks of the six pipeline shapes that tests/unit/test_pipeline_shapes.py plans from the CLI.

They only declare connections: pre-flight never runs them. Dimensions follow the
repository's universe: ``raw`` is per exposure and detector, and an exposure implies
its visit (a dimension change); warps join visits to patches through the spatial
overlaps; a visit implies its band.
"""

from __future__ import annotations

from provenance_graph.pipeline import Input, Output, PipelineTask, PrerequisiteInput

ED = ("instrument", "exposure", "detector")
VD = ("instrument", "visit", "detector")
DET = ("instrument", "detector")
WARP = ("instrument", "visit", "skymap", "tract", "patch")
COADD = ("skymap", "tract", "patch", "band")
PER_BAND = ("instrument", "band")


# --- a diamond: split fans out to left and right, which join again -----------------------------
class Split(PipelineTask):
    """The top of the diamond: a raw becomes a postISR image."""

    dimensions = ED
    connections = {  # noqa: RUF012
        "raw": Input("raw", ED, "Image"),
        "out": Output("postISR", ED, "Image"),
    }


class Left(PipelineTask):
    """One side of the diamond."""

    dimensions = ED
    connections = {  # noqa: RUF012
        "image": Input("postISR", ED, "Image"),
        "out": Output("background", ED, "Image"),
    }


class Right(PipelineTask):
    """The other side of the diamond."""

    dimensions = ED
    connections = {  # noqa: RUF012
        "image": Input("postISR", ED, "Image"),
        "out": Output("sources", ED, "Catalog"),
    }


class Join(PipelineTask):
    """The bottom of the diamond: reads both sides."""

    dimensions = ED
    connections = {  # noqa: RUF012
        "background": Input("background", ED, "Image"),
        "sources": Input("sources", ED, "Catalog"),
        "out": Output("measured", ED, "Catalog"),
    }


# --- many-to-many, with a dimension change and spatial overlaps ---------------------------------
class Calibrate(PipelineTask):
    """Per visit and detector, from the raw of the visit's exposure (exposure implies visit)."""

    dimensions = VD
    connections = {  # noqa: RUF012
        "raw": Input("raw", ED, "Image"),
        "out": Output("calexp", VD, "Image"),
    }


class MakeWarp(PipelineTask):
    """Per visit and patch: every calexp of the visit whose detector overlaps the patch."""

    dimensions = WARP
    connections = {  # noqa: RUF012
        "calexps": Input("calexp", VD, "Image", multiple=True),
        "out": Output("warp", WARP, "Image"),
    }


class Assemble(PipelineTask):
    """Per patch and band: the warps of every visit of the band."""

    dimensions = COADD
    connections = {  # noqa: RUF012
        "warps": Input("warp", WARP, "Image", multiple=True),
        "out": Output("coadd", COADD, "Image"),
    }


class Forced(PipelineTask):
    """Per visit and detector: its calexp and the coadds of the patches it overlaps."""

    dimensions = VD
    connections = {  # noqa: RUF012
        "calexp": Input("calexp", VD, "Image"),
        "coadds": Input("coadd", COADD, "Image", multiple=True),
        "out": Output("forcedSources", VD, "Catalog"),
    }


# --- per band ----------------------------------------------------------------------------------
class BandSummary(PipelineTask):
    """One quantum per band: every calexp of the band's visits (visit implies band)."""

    dimensions = PER_BAND
    connections = {  # noqa: RUF012
        "calexps": Input("calexp", VD, "Image", multiple=True),
        "out": Output("bandSummary", PER_BAND, "StructuredData"),
    }


# --- an optional input -------------------------------------------------------------------------
class FlatIfAny(PipelineTask):
    """Reads a raw, and the flat of its detector if there is one (``minimum=0``)."""

    dimensions = ED
    connections = {  # noqa: RUF012
        "raw": Input("raw", ED, "Image"),
        "flat": Input("flat", DET, "Image", multiple=True, minimum=0),
        "out": Output("flattened", ED, "Image"),
    }


# --- a prerequisite-only task ------------------------------------------------------------------
class DarkStats(PipelineTask):
    """Its only input is a prerequisite: one quantum per detector that has a dark."""

    dimensions = DET
    connections = {  # noqa: RUF012
        "dark": PrerequisiteInput("dark", DET, "Image"),
        "out": Output("darkStats", DET, "StructuredData"),
    }


# --- a task with no dimensions -----------------------------------------------------------------
class Census(PipelineTask):
    """One quantum for the whole plan: every calexp."""

    dimensions = ()
    connections = {  # noqa: RUF012
        "calexps": Input("calexp", VD, "Image", multiple=True),
        "out": Output("census", (), "StructuredData"),
    }
