"""The domain model: data IDs, dataset types, datasets and quanta, as a user builds them."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provenance_graph.errors import InvalidDataIdError, InvalidNameError, ProvenanceGraphError
from provenance_graph.model import DataId, DatasetRef, DatasetType, Plan, Quantum, human_forms

CALEXP = DatasetType(name="calexp", dimensions=("visit", "instrument", "detector"), storage_class="ExposureF")
RAW = DatasetType(name="raw", dimensions=("instrument", "exposure", "detector"), storage_class="Exposure")


def test_data_id_is_canonical_whatever_the_order() -> None:
    a = DataId({"visit": 903334, "instrument": "HSC", "detector": 16})
    b = DataId.of(detector=16, instrument="HSC", visit=903334)
    assert a == b
    assert hash(a) == hash(b)
    assert a.key() == '{"detector":16,"instrument":"HSC","visit":903334}'
    assert DataId.from_key(a.key()) == a
    assert a["visit"] == 903334
    assert a.to_dict() == {"detector": 16, "instrument": "HSC", "visit": 903334}
    assert str(a) == "instrument=HSC visit=903334 detector=16"


@pytest.mark.parametrize(
    ("values", "human", "display"),
    [
        (
            {"instrument": "DemoCam", "visit": 2, "detector": 1},
            "instrument=DemoCam visit=2 detector=1",
            "visit=2 detector=1",
        ),
        (
            {"skymap": "demo", "tract": 0, "patch": 5, "instrument": "DemoCam", "visit": 2},
            "instrument=DemoCam skymap=demo tract=0 patch=5 visit=2",
            "tract=0 patch=5 visit=2",
        ),
        (
            {"skymap": "demo", "tract": 0, "patch": 5, "band": "g"},
            "skymap=demo tract=0 patch=5 band=g",
            "tract=0 patch=5 band=g",
        ),
        (
            {"instrument": "LSSTCam", "exposure": 10, "detector": 0},
            "instrument=LSSTCam exposure=10 detector=0",
            "exposure=10 detector=0",
        ),
        # Dimensions of other universes follow, by name; strings that would not read back are quoted.
        (
            {"instrument": "HSC", "physical_filter": "HSC-R", "day_obs": 20240301},
            "instrument=HSC day_obs=20240301 physical_filter=HSC-R",
            "day_obs=20240301 physical_filter=HSC-R",
        ),
        ({"instrument": "My Cam", "band": "2"}, 'instrument="My Cam" band="2"', 'band="2"'),
        ({"skymap": "demo"}, "skymap=demo", "skymap=demo"),  # never emptied
        ({}, "{}", "{}"),
    ],
)
def test_a_data_id_prints_in_one_human_form(values: dict[str, int | str], human: str, display: str) -> None:
    data_id = DataId(values)
    assert str(data_id) == human
    assert data_id.display() == display
    assert DataId.parse(human) == data_id


def test_a_listing_shows_instrument_and_skymap_only_where_they_vary() -> None:
    same = [DataId.of(instrument="DemoCam", visit=v, detector=1) for v in (1, 2)]
    assert human_forms(same) == (
        ["visit=1 detector=1", "visit=2 detector=1"],
        DataId.of(instrument="DemoCam"),
    )
    mixed = [*same, DataId.of(instrument="HSC", visit=3), DataId.of(skymap="demo", tract=0)]
    forms, context = human_forms(mixed)
    assert forms == [
        "instrument=DemoCam visit=1 detector=1",
        "instrument=DemoCam visit=2 detector=1",
        "instrument=HSC visit=3",
        "tract=0",
    ]
    assert context == DataId.of(skymap="demo")


@pytest.mark.parametrize(
    "text",
    [
        "visit=2 detector=1",
        "visit=2,detector=1",
        " visit=2, detector=1 ",
        "detector=1 visit=2",
        '{"visit": 2, "detector": 1}',
    ],
)
def test_a_data_id_is_typed_in_its_human_form_its_comma_form_or_json(text: str) -> None:
    assert DataId.parse(text) == DataId.of(visit=2, detector=1)


@pytest.mark.parametrize(
    ("text", "culprit"),
    [
        ("visit=2 detector", "'detector' is not dimension=value"),
        ("visit 2", "'visit' is not dimension=value"),
        ("visit=2 visit=3", "dimension 'visit' is given twice"),
        ("", "the data ID is empty"),
        ('{"visit": ', "is not JSON"),
        ("Visit=2", "invalid dimension name"),
        ("visit=" + "9" * 30, "does not fit in 64 bits"),
    ],
)
def test_a_badly_typed_data_id_is_refused_in_one_line_naming_the_culprit(text: str, culprit: str) -> None:
    with pytest.raises(ProvenanceGraphError) as info:  # InvalidDataIdError, or InvalidNameError
        DataId.parse(text)
    assert culprit in info.value.message
    assert "\n" not in info.value.message


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ({"visit": True}, "must be an int or a str"),
        ({"visit": 1.5}, "must be an int or a str"),
        ({"Visit": 1}, "invalid dimension name"),
        ({"id": 1}, "reserved"),
        ({"visit`) DETACH DELETE n //": 1}, "invalid dimension name"),
        ("visit=1", "must be a mapping"),
    ],
)
def test_bad_data_ids_are_rejected_with_our_error(value: object, fragment: str) -> None:
    with pytest.raises(ProvenanceGraphError, match=fragment):
        DataId(value)  # type: ignore[arg-type]


def test_data_id_values_are_kept_verbatim() -> None:
    tricky = "HSC' }) MATCH (n) DETACH DELETE n //`{}"
    data_id = DataId.of(instrument=tricky, visit=1)
    assert DataId.from_key(data_id.key())["instrument"] == tricky


def test_dataset_ref_must_be_fully_specified() -> None:
    with pytest.raises(InvalidDataIdError) as info:
        DatasetRef(dataset_type=CALEXP, data_id=DataId.of(instrument="HSC", visit=1, band="r"), run="out")
    message = str(info.value)
    assert "missing detector" in message
    assert "unexpected band" in message
    assert "'calexp' needs exactly: detector, instrument, visit" in message


def test_stable_ids_depend_on_run_type_and_data_id_only() -> None:
    data_id = {"instrument": "HSC", "visit": 1, "detector": 2}
    first = DatasetRef(dataset_type=CALEXP, data_id=data_id, run="run/a")
    again = DatasetRef(dataset_type=CALEXP, data_id=dict(reversed(list(data_id.items()))), run="run/a")
    other_run = DatasetRef(dataset_type=CALEXP, data_id=data_id, run="run/b")
    assert first.id == again.id
    assert first.id != other_run.id
    q1 = Quantum(task_label="calibrate", data_id=data_id, run="run/a", outputs=[first])
    q2 = Quantum(task_label="calibrate", data_id=data_id, run="run/a", outputs=[again])
    assert q1.id == q2.id
    assert q1 == q2


def test_quantum_inputs_are_order_independent() -> None:
    refs = [
        DatasetRef(dataset_type=RAW, data_id={"instrument": "HSC", "exposure": e, "detector": 1}, run="raw")
        for e in range(5)
    ]
    q1 = Quantum(
        task_label="isr",
        data_id={"instrument": "HSC", "visit": 1, "detector": 1},
        run="o",
        inputs=refs,
    )
    q2 = Quantum(
        task_label="isr",
        data_id={"instrument": "HSC", "visit": 1, "detector": 1},
        run="o",
        inputs=refs[::-1],
    )
    assert q1 == q2
    assert [r.id for r in q1.inputs] == sorted(r.id for r in refs)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"name": "calexp wcs", "dimensions": ["visit"]}, InvalidNameError),
        ({"name": "1calexp", "dimensions": ["visit"]}, InvalidNameError),
        ({"name": "calexp", "dimensions": ["visit", "visit"]}, InvalidDataIdError),
        ({"name": "calexp", "dimensions": ["run"]}, InvalidNameError),
    ],
)
def test_bad_dataset_types_are_rejected(kwargs: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        DatasetType(**kwargs)  # type: ignore[arg-type]


def test_models_are_frozen_and_forbid_extra_fields() -> None:
    with pytest.raises(Exception, match="frozen"):
        CALEXP.name = "other"  # type: ignore[misc]
    with pytest.raises(Exception, match="Extra inputs"):
        DatasetType(name="x", dimensions=["visit"], colour="red")  # type: ignore[call-arg]


def test_bad_task_label_and_run_are_named() -> None:
    with pytest.raises(InvalidNameError, match="invalid task label 'is r'"):
        Quantum(task_label="is r", data_id={"visit": 1}, run="out")
    with pytest.raises(InvalidNameError, match="invalid run name"):
        Plan(output_run="bad run")


def test_plan_times_are_utc() -> None:
    import datetime as dt

    naive = dt.datetime(2026, 1, 2, 3, 4, 5)
    assert Plan(output_run="o", created=naive).created.tzinfo == dt.UTC


@given(
    st.dictionaries(
        st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True),
        st.one_of(st.integers(-(2**63), 2**63 - 1), st.text()),
    )
)
def test_any_valid_data_id_round_trips_through_its_key(values: dict[str, int | str]) -> None:
    from provenance_graph.model import RESERVED_PROPERTIES

    values = {k: v for k, v in values.items() if k not in RESERVED_PROPERTIES}
    data_id = DataId(values)
    assert DataId.from_key(data_id.key()) == data_id
    if values:  # what is printed reads back as the same data ID
        assert DataId.parse(str(data_id)) == data_id
    assert data_id.to_dict() == values


@given(st.text(max_size=12), st.integers(-(2**40), 2**40))
def test_data_id_key_is_canonical_json_for_any_string(text: str, number: int) -> None:
    """The hand-built key (with its fast path for plain strings) is exactly json.dumps' text."""
    data_id = DataId({"instrument": text, "visit": number})
    want = json.dumps({"instrument": text, "visit": number}, separators=(",", ":"), ensure_ascii=False)
    assert data_id.key() == want
    assert DataId.from_key(data_id.key()) == data_id


def test_trusted_models_equal_validated_ones_and_copies_with_changes_stay_apart() -> None:
    """`trusted` constructors share one fields-set per class (pre-flight's memory); a copy with
    an update must still change only itself, and the fields-set must be what validation gives."""
    dtype = DatasetType(name="calexp", dimensions=("instrument", "visit", "detector"), storage_class="Image")
    pairs = (("detector", 1), ("instrument", "DemoCam"), ("visit", 7))
    data_id = DataId.trusted(pairs)
    assert data_id == DataId({"instrument": "DemoCam", "visit": 7, "detector": 1})
    ref = DatasetRef.trusted(dtype, data_id, "run/a")
    validated_ref = DatasetRef(dataset_type=dtype, data_id=data_id, run="run/a")
    assert ref == validated_ref and ref.id == validated_ref.id
    assert ref.model_fields_set == set(DatasetRef.model_fields)
    quantum = Quantum.trusted("calibrate", data_id, "run/a", [], [ref])
    other = Quantum.trusted("calibrate", DataId.trusted((("detector", 2),)), "run/a", [], [])
    assert quantum.model_fields_set == set(Quantum.model_fields) == other.model_fields_set

    changed = ref.model_copy(update={"run": "run/b"})
    assert changed.run == "run/b" and ref.run == "run/a"
    assert ref.model_fields_set == set(DatasetRef.model_fields)
    assert DatasetRef.trusted(dtype, data_id, "run/c").model_fields_set == set(DatasetRef.model_fields)
    assert json.loads(quantum.model_dump_json(exclude_unset=True))["task_label"] == "calibrate"
