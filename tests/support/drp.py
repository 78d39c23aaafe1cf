"""What the demo pipeline should plan over a demo repository, derived from the repository alone.

This deliberately shares no code with pre-flight: it reads the registry's
datasets, records and overlap rows and applies the DRP shape by hand.
"""

from __future__ import annotations

from collections.abc import Callable

from provenance_graph.repository import Repository

Keep = Callable[[int, int], bool]


def expected_counts(repo: Repository, keep: Keep = lambda _v, _d: True) -> dict[str, int]:
    """Quanta per task for the demo pipeline; ``keep(visit, detector)`` is the data query."""
    visit_of = {r["exposure"]: r["visit"] for r in repo.records("exposure")}
    band_of = {r["visit"]: r["band"] for r in repo.records("visit")}
    biases = {ref.data_id["detector"] for ref, _ in repo.datasets("bias")}
    raws = {
        (visit_of[int(ref.data_id["exposure"])], int(ref.data_id["detector"]))
        for ref, _ in repo.datasets("raw")
    }
    ccds = {(v, d) for v, d in raws if d in biases and keep(v, d)}
    overlaps = [
        (r["visit"], r["detector"], r["tract"], r["patch"]) for r in repo.join_rows("visit_detector_patch")
    ]
    warps = {(v, t, p) for v, d, t, p in overlaps if (v, d) in ccds}
    coadds = {(t, p, band_of[v]) for v, t, p in warps}
    patches = {(t, p) for t, p, _b in coadds}
    tracts = {t for t, _p in patches}
    forced = {(v, d, t) for v, d, t, _p in overlaps if (v, d) in ccds and t in tracts}
    per_ccd = len(ccds)
    visits = len({v for v, _d in ccds})
    return {
        "isr": per_ccd,
        "characterizeImage": per_ccd,
        "calibrate": per_ccd,
        "transformSourceTable": per_ccd,
        "consolidateSourceTable": visits,
        "consolidateVisitSummary": visits,
        "makeWarp": len(warps),
        "assembleCoadd": len(coadds),
        "detection": len(coadds),
        "mergeDetections": len(patches),
        "consolidateObjectTable": len(tracts),
        "forcedPhotCcd": len(forced),
    }
