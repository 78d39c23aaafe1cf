"""Synthetic execution plans shaped like a data-release (DRP) pipeline.

The demo, the tests and the benchmarks use `drp_plan` to get plans of any size
with the shape described in FIELD.md:

1. per (visit, detector): isr (raw + bias -> postISRCCD), characterizeImage
   (-> icExp, icSrc), calibrate (-> calexp, src), transformSourceTable (-> sourceTable);
2. per visit: consolidateSourceTable (-> sourceTable_visit) and
   consolidateVisitSummary (-> visitSummary), many-to-one over detectors;
3. per (tract, patch, visit): makeWarp from the calexps overlapping the patch;
4. per (tract, patch, band): assembleCoadd (many warps -> deepCoadd), detection;
5. per (tract, patch): mergeDetections over bands;
6. per tract: consolidateObjectTable over patches;
7. per (visit, detector): forcedPhotCcd from the calexp and the tract's objectTable.

Sky geometry is deliberately simple and deterministic: visit ``v`` points at tract
``v % tracts`` and detector ``d`` of it overlaps patch ``d % patches`` and, for odd
``d``, also patch ``(d + 1) % patches``. Bands cycle over visits.
"""

from __future__ import annotations

from collections import defaultdict

from provenance_graph.model import DataId, DatasetRef, DatasetType, Plan, PlanGraph, Quantum

__all__ = ["DRP_DATASET_TYPES", "DRP_TASKS", "drp_plan", "drp_quantum_count"]

DataIdDict = dict[str, int | str]

_T = DatasetType
_VD = ("instrument", "visit", "detector")
_EXPOSURE = ("instrument", "exposure", "detector")
#: The dataset types, identical to those of the demo pipeline (``provenance_graph/demo``), so
#: synthetic and demo plans can share one database.
DRP_DATASET_TYPES: dict[str, DatasetType] = {
    t.name: t
    for t in [
        _T(name="raw", dimensions=_EXPOSURE, storage_class="Image"),
        _T(name="bias", dimensions=("instrument", "detector"), storage_class="Image"),
        _T(name="postISRCCD", dimensions=_EXPOSURE, storage_class="Image"),
        _T(name="icExp", dimensions=_VD, storage_class="Image"),
        _T(name="icSrc", dimensions=_VD, storage_class="Catalog"),
        _T(name="calexp", dimensions=_VD, storage_class="Image"),
        _T(name="src", dimensions=_VD, storage_class="Catalog"),
        _T(name="sourceTable", dimensions=_VD, storage_class="Catalog"),
        _T(name="sourceTable_visit", dimensions=("instrument", "visit"), storage_class="Catalog"),
        _T(name="visitSummary", dimensions=("instrument", "visit"), storage_class="StructuredData"),
        _T(
            name="warp", dimensions=("skymap", "tract", "patch", "instrument", "visit"), storage_class="Image"
        ),
        _T(name="deepCoadd", dimensions=("skymap", "tract", "patch", "band"), storage_class="Image"),
        _T(name="deepCoadd_det", dimensions=("skymap", "tract", "patch", "band"), storage_class="Catalog"),
        _T(name="deepCoadd_mergeDet", dimensions=("skymap", "tract", "patch"), storage_class="Catalog"),
        _T(name="objectTable_tract", dimensions=("skymap", "tract"), storage_class="Catalog"),
        _T(name="forced_src", dimensions=(*_VD, "skymap", "tract"), storage_class="Catalog"),
    ]
}

#: Task labels in pipeline order.
DRP_TASKS = (
    "isr",
    "characterizeImage",
    "calibrate",
    "transformSourceTable",
    "consolidateSourceTable",
    "consolidateVisitSummary",
    "makeWarp",
    "assembleCoadd",
    "detection",
    "mergeDetections",
    "consolidateObjectTable",
    "forcedPhotCcd",
)


def _patches_of(detector: int, patches: int) -> list[int]:
    first = detector % patches
    if detector % 2 and patches > 1:
        return sorted({first, (detector + 1) % patches})
    return [first]


def drp_quantum_count(
    visits: int, detectors: int, *, tracts: int = 1, patches: int = 9, bands: int = 3
) -> int:
    """The number of quanta `drp_plan` makes for these sizes, computed without building it."""
    per_detector = 5 * visits * detectors
    per_visit = 2 * visits
    warps: set[tuple[int, int, int]] = set()
    coadds: set[tuple[int, int, int]] = set()
    for v in range(visits):
        tract, band = v % tracts, v % bands
        for d in range(detectors):
            for p in _patches_of(d, patches):
                warps.add((tract, p, v))
                coadds.add((tract, p, band))
    merged = {(t, p) for t, p, _ in coadds}
    used_tracts = {t for t, _ in merged}
    return per_detector + per_visit + len(warps) + 2 * len(coadds) + len(merged) + len(used_tracts)


def drp_plan(
    visits: int,
    detectors: int,
    *,
    tracts: int = 1,
    patches: int = 9,
    bands: int = 3,
    instrument: str = "DemoCam",
    skymap: str = "demoSkyMap",
    output_run: str = "demo/run1",
    raw_run: str = "DemoCam/raw/all",
    calib_run: str = "DemoCam/calib",
    plan_id: str | None = None,
    constraints: str = "",
) -> PlanGraph:
    """Build a DRP-shaped plan of ``visits`` x ``detectors`` exposures.

    Parameters
    ----------
    visits, detectors
        How many visits (one exposure each) and detectors per visit.
    tracts, patches, bands
        Sky map size and how many bands the visits cycle through.
    instrument, skymap, output_run, raw_run, calib_run
        Names used in data IDs and runs.
    plan_id, constraints
        Header fields of the plan.
    """
    types = DRP_DATASET_TYPES
    band_names = [("g", "r", "i", "z", "y", "u")[b % 6] + ("" if b < 6 else str(b)) for b in range(bands)]
    refs: dict[tuple[str, DataId], DatasetRef] = {}

    def ref(type_name: str, run: str, **values: int | str) -> DatasetRef:
        data_id = DataId(values)
        key = (type_name, data_id)
        found = refs.get(key)
        if found is None:
            found = DatasetRef(dataset_type=types[type_name], data_id=data_id, run=run)
            refs[key] = found
        return found

    out = output_run
    quanta: list[Quantum] = []

    def quantum(
        label: str,
        data_id: DataIdDict,
        inputs: list[DatasetRef],
        outputs: list[DatasetRef],
    ) -> None:
        quanta.append(Quantum(task_label=label, data_id=data_id, run=out, inputs=inputs, outputs=outputs))

    inst = instrument
    warp_inputs: dict[tuple[int, int, int], list[DatasetRef]] = defaultdict(list)
    for v in range(visits):
        tract = v % tracts
        visit_calexps = []
        visit_sources = []
        for d in range(detectors):
            vd: DataIdDict = {"instrument": inst, "visit": v, "detector": d}
            raw = ref("raw", raw_run, instrument=inst, exposure=v, detector=d)
            bias = ref("bias", calib_run, instrument=inst, detector=d)
            ed: DataIdDict = {"instrument": inst, "exposure": v, "detector": d}
            post = ref("postISRCCD", out, **ed)
            quantum("isr", ed, [raw, bias], [post])
            ic_exp, ic_src = ref("icExp", out, **vd), ref("icSrc", out, **vd)
            quantum("characterizeImage", vd, [post], [ic_exp, ic_src])
            calexp, src = ref("calexp", out, **vd), ref("src", out, **vd)
            quantum("calibrate", vd, [ic_exp, ic_src], [calexp, src])
            table = ref("sourceTable", out, **vd)
            quantum("transformSourceTable", vd, [src], [table])
            visit_calexps.append(calexp)
            visit_sources.append(table)
            for p in _patches_of(d, patches):
                warp_inputs[(tract, p, v)].append(calexp)
        vv: DataIdDict = {"instrument": inst, "visit": v}
        quantum("consolidateSourceTable", vv, visit_sources, [ref("sourceTable_visit", out, **vv)])
        quantum("consolidateVisitSummary", vv, visit_calexps, [ref("visitSummary", out, **vv)])

    coadd_inputs: dict[tuple[int, int, str], list[DatasetRef]] = defaultdict(list)
    for (tract, p, v), calexps in sorted(warp_inputs.items()):
        data_id: DataIdDict = {"skymap": skymap, "tract": tract, "patch": p, "instrument": inst, "visit": v}
        summary = ref("visitSummary", out, instrument=inst, visit=v)
        warp = ref("warp", out, **data_id)
        quantum("makeWarp", data_id, [*calexps, summary], [warp])
        coadd_inputs[(tract, p, band_names[v % bands])].append(warp)

    det_inputs: dict[tuple[int, int], list[DatasetRef]] = defaultdict(list)
    for (tract, p, band), warps in sorted(coadd_inputs.items()):
        data_id = {"skymap": skymap, "tract": tract, "patch": p, "band": band}
        coadd = ref("deepCoadd", out, **data_id)
        quantum("assembleCoadd", data_id, warps, [coadd])
        det = ref("deepCoadd_det", out, **data_id)
        quantum("detection", data_id, [coadd], [det])
        det_inputs[(tract, p)].append(det)

    object_inputs: dict[int, list[DatasetRef]] = defaultdict(list)
    for (tract, p), dets in sorted(det_inputs.items()):
        data_id = {"skymap": skymap, "tract": tract, "patch": p}
        merged = ref("deepCoadd_mergeDet", out, **data_id)
        quantum("mergeDetections", data_id, dets, [merged])
        object_inputs[tract].append(merged)

    object_tables: dict[int, DatasetRef] = {}
    for tract, merged_list in sorted(object_inputs.items()):
        data_id = {"skymap": skymap, "tract": tract}
        table = ref("objectTable_tract", out, **data_id)
        quantum("consolidateObjectTable", data_id, merged_list, [table])
        object_tables[tract] = table

    for v in range(visits):
        tract = v % tracts
        if tract not in object_tables:
            continue
        for d in range(detectors):
            vd = {"instrument": inst, "visit": v, "detector": d}
            calexp = ref("calexp", out, **vd)
            fd: DataIdDict = {**vd, "skymap": skymap, "tract": tract}
            quantum("forcedPhotCcd", fd, [calexp, object_tables[tract]], [ref("forced_src", out, **fd)])

    plan = Plan(
        id=plan_id or f"drp-{visits}x{detectors}",
        output_run=output_run,
        constraints=constraints,
        pipeline_digest="synthetic-drp-v2",
        metadata={
            "generator": "provenance_graph.synthetic.drp_plan",
            "visits": visits,
            "detectors": detectors,
        },
    )
    return PlanGraph(plan, quanta)
