"""Manifests: Ollama's WriteManifest bytes, raw bytes kept on read, shape checks."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ocitypes import mediatypes
from ocitypes.digest import Digest
from ocitypes.errors import ManifestInvalid, OCIError
from ocitypes.manifest import MAX_MANIFEST_BYTES, Descriptor, Index, Manifest, parse_any

CONFIG_HEX = "99759ad5b91e723db0393d698ffbb448b1b7df5ff6377a108c49254583b1bc8c"
MODEL_HEX = "89a2116c3a82d6a97f59f748d86ed4417214353fd178ee54df418fde32495fad"
TEMPLATE_HEX = "b507b9c2f6ca642bffcd06665ea7c91f235fd32daeefdf875a0f938db05fb315"

GOLDEN = (
    '{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",'
    '"config":{"mediaType":"application/vnd.docker.container.image.v1+json",'
    f'"digest":"sha256:{CONFIG_HEX}","size":147}},'
    '"layers":[{"mediaType":"application/vnd.ollama.image.model",'
    f'"digest":"sha256:{MODEL_HEX}","size":68}}]}}\n'
).encode()


def _golden() -> Manifest:
    return Manifest(
        config=Descriptor(mediatypes.CONFIG, Digest(CONFIG_HEX), 147),
        layers=(Descriptor(mediatypes.MODEL, Digest(MODEL_HEX), 68),),
    )


def test_encode_golden() -> None:
    manifest = _golden()
    assert manifest.encode() == GOLDEN
    assert manifest.bytes() == GOLDEN
    assert manifest.raw is None
    assert manifest.digest == Digest.of(GOLDEN)


def test_from_and_name_come_last_and_only_when_set() -> None:
    manifest = Manifest(
        config=Descriptor(mediatypes.CONFIG, Digest(CONFIG_HEX), 147),
        layers=(
            Descriptor(mediatypes.MODEL, Digest(MODEL_HEX), 68, from_="test.gguf"),
            Descriptor(mediatypes.TEMPLATE, Digest(TEMPLATE_HEX), 13, from_="", name=""),
            Descriptor("application/vnd.ollama.image.tensor", Digest(MODEL_HEX), 9, "x<y", "t/w"),
        ),
    )
    layers = manifest.encode().decode().split('"layers":')[1]
    assert layers == (
        '[{"mediaType":"application/vnd.ollama.image.model",'
        f'"digest":"sha256:{MODEL_HEX}","size":68,"from":"test.gguf"}},'
        '{"mediaType":"application/vnd.ollama.image.template",'
        f'"digest":"sha256:{TEMPLATE_HEX}","size":13}},'
        '{"mediaType":"application/vnd.ollama.image.tensor",'
        f'"digest":"sha256:{MODEL_HEX}","size":9,"from":"x\\u003cy","name":"t/w"}}]}}\n'
    )


def test_parse_golden() -> None:
    manifest = Manifest.parse(GOLDEN)
    assert manifest == _golden()
    assert manifest.raw == GOLDEN
    assert manifest.digest == _golden().digest


def test_parse_keeps_foreign_bytes() -> None:
    document = json.loads(GOLDEN)
    document["layers"][0]["annotations"] = {"org.opencontainers.image.title": "model.gguf"}
    document["annotations"] = {"created": "2026-01-01"}
    raw = json.dumps(document, indent=3, sort_keys=True).encode()
    manifest = Manifest.parse(raw)
    assert manifest.annotations == (("created", "2026-01-01"),)
    assert manifest.layers[0].annotations == (("org.opencontainers.image.title", "model.gguf"),)
    golden = _golden()
    assert manifest.config == golden.config
    assert [replace(layer, annotations=()) for layer in manifest.layers] == list(golden.layers)
    assert manifest.raw == raw
    assert manifest.bytes() == raw
    assert manifest.digest == Digest.of(raw) != Digest.of(GOLDEN)


def test_parse_oci_manifest_without_media_type() -> None:
    raw = json.dumps(
        {
            "schemaVersion": 2,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": f"sha256:{CONFIG_HEX}",
                "size": 2,
            },
            "layers": [],
        }
    ).encode()
    manifest = Manifest.parse(raw)
    assert manifest.media_type == ""
    assert manifest.layers == ()


def test_null_layers_read_as_empty() -> None:
    raw = GOLDEN.replace(GOLDEN[GOLDEN.index(b'"layers":') : -2], b'"layers":null')
    assert Manifest.parse(raw).layers == ()


def test_empty_from_reads_as_none() -> None:
    raw = GOLDEN.replace(b'"size":68}', b'"size":68,"from":"","name":null}')
    assert Manifest.parse(raw).layers[0] == Descriptor(mediatypes.MODEL, Digest(MODEL_HEX), 68)


def test_sizes_and_digests() -> None:
    manifest = Manifest(
        config=Descriptor(mediatypes.CONFIG, Digest(CONFIG_HEX), 147),
        layers=[  # type: ignore[arg-type]
            Descriptor(mediatypes.MODEL, Digest(MODEL_HEX), 68),
            Descriptor(mediatypes.LICENSE, Digest(TEMPLATE_HEX), 10),
            Descriptor(mediatypes.LICENSE, Digest(MODEL_HEX), 20),
        ],
    )
    assert isinstance(manifest.layers, tuple)
    assert manifest.total_size == 147 + 68 + 10 + 20
    assert [layer.size for layer in manifest.layers_of(mediatypes.LICENSE)] == [10, 20]
    assert manifest.layers_of(mediatypes.SYSTEM) == ()
    assert manifest.digests() == {Digest(CONFIG_HEX), Digest(MODEL_HEX), Digest(TEMPLATE_HEX)}


def _with(path: str, value: object) -> bytes:
    document = json.loads(GOLDEN)
    *parents, key = path.split(".")
    target = document
    for parent in parents:
        target = target[int(parent)] if parent.isdigit() else target[parent]
    if value is _DELETE:
        del target[key]
    else:
        target[key] = value
    return json.dumps(document).encode()


_DELETE = object()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not valid JSON"),
        (b"{", "not valid JSON"),
        (b"\xff", "not valid JSON"),
        (GOLDEN + b"{}", "not valid JSON"),
        (b"[]", "manifest is not a JSON object"),
        (_with("schemaVersion", _DELETE), "schemaVersion is missing or not an integer"),
        (_with("schemaVersion", "2"), "schemaVersion is missing or not an integer"),
        (_with("schemaVersion", 1), "unsupported schemaVersion 1"),
        (_with("schemaVersion", True), "unsupported schemaVersion True"),
        (_with("mediaType", 5), "mediaType is not a string"),
        (_with("config", _DELETE), "config is not a JSON object"),
        (_with("config.size", -1), "config.size must be a non-negative integer"),
        (_with("config.size", 1.5), "config.size is missing or not an integer"),
        (_with("config.size", False), "config.size must be a non-negative integer"),
        (_with("config.mediaType", None), "config.mediaType is missing or not a string"),
        (_with("layers", {}), "layers is not a JSON array"),
        (_with("layers", [1]), r"layers\[0\] is not a JSON object"),
        (_with("layers.0.digest", _DELETE), r"layers\[0\].digest is missing"),
        (_with("layers.0.from", 3), r"layers\[0\].from is not a string"),
        (_with("layers.0.name", []), r"layers\[0\].name is not a string"),
        (GOLDEN.replace(b'"size":68', b'"size":NaN'), "not valid JSON"),
    ],
)
def test_parse_errors(data: bytes, message: str) -> None:
    with pytest.raises(OCIError, match=message):
        Manifest.parse(data)


@pytest.mark.parametrize(
    "digest",
    [
        "sha256:abc",
        f"sha256-{MODEL_HEX}",
        f"sha256:{MODEL_HEX.upper()}",
        f"sha512:{MODEL_HEX}{MODEL_HEX}",
        f" sha256:{MODEL_HEX}",
    ],
)
def test_parse_rejects_non_canonical_digests(digest: str) -> None:
    with pytest.raises(ManifestInvalid, match=r"layers\[0\]\.digest: invalid digest"):
        Manifest.parse(_with("layers.0.digest", digest))


_digests = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64).map(Digest)
_optional = st.none() | st.text(min_size=1, max_size=10)
_descriptors = st.builds(
    Descriptor,
    media_type=st.sampled_from(
        [mediatypes.MODEL, mediatypes.TEMPLATE, mediatypes.PARAMS, "a<b&c", ""]
    ),
    digest=_digests,
    size=st.integers(min_value=0, max_value=2**63 - 1),
    from_=_optional,
    name=_optional,
)


@given(
    st.builds(
        Manifest,
        config=_descriptors,
        layers=st.lists(_descriptors, max_size=5).map(tuple),
        media_type=st.sampled_from([mediatypes.MANIFEST, "", "application/x-ü"]),
    )
)
def test_parse_encode_round_trip(manifest: Manifest) -> None:
    data = manifest.encode()
    parsed = Manifest.parse(data)
    assert parsed == manifest
    assert parsed.raw == data
    assert parsed.digest == manifest.digest == Digest.of(data)
    assert parsed.total_size == manifest.total_size


OCI_MANIFEST = json.dumps({
    "schemaVersion": 2,
    "mediaType": mediatypes.OCI_MANIFEST,
    "artifactType": "application/vnd.example.model",
    "config": {"mediaType": mediatypes.OCI_EMPTY, "digest": f"sha256:{CONFIG_HEX}", "size": 2},
    "layers": [{
        "mediaType": "application/octet-stream", "digest": f"sha256:{MODEL_HEX}", "size": 68,
        "annotations": {"org.opencontainers.image.title": "model.gguf"},
    }],
    "subject": {"mediaType": mediatypes.OCI_MANIFEST, "digest": f"sha256:{MODEL_HEX}", "size": 9},
    "annotations": {"b": "2", "a": "1"},
}, indent=2).encode()


def test_oci_manifest_fields_are_read_and_bytes_kept() -> None:
    manifest = Manifest.parse(OCI_MANIFEST)
    assert manifest.media_type == mediatypes.OCI_MANIFEST
    assert manifest.artifact_type == "application/vnd.example.model"
    assert manifest.layers[0].annotations == (("org.opencontainers.image.title", "model.gguf"),)
    assert manifest.subject is not None and manifest.subject.size == 9
    assert manifest.annotations == (("b", "2"), ("a", "1"))
    assert manifest.bytes() == OCI_MANIFEST
    assert manifest.digest == Digest.of(OCI_MANIFEST)
    assert Manifest.parse(manifest.encode()) == manifest


INDEX = json.dumps({
    "schemaVersion": 2,
    "mediaType": mediatypes.OCI_INDEX,
    "manifests": [{
        "mediaType": mediatypes.OCI_MANIFEST, "digest": f"sha256:{MODEL_HEX}", "size": 300,
        "annotations": {"org.opencontainers.image.ref.name": "latest"},
    }],
}).encode()


def test_index_round_trip_and_parse_any_tells_kinds_apart() -> None:
    index = parse_any(INDEX)
    assert isinstance(index, Index)
    assert index.manifests[0].annotations == (("org.opencontainers.image.ref.name", "latest"),)
    assert index.bytes() == INDEX
    assert Index.parse(index.encode()) == index
    assert isinstance(parse_any(GOLDEN), Manifest)
    with pytest.raises(ManifestInvalid, match="index of manifests"):
        Manifest.parse(INDEX)


def test_parse_any_refuses_manifests_over_the_limit() -> None:
    oversized = GOLDEN[:-2] + b" " * MAX_MANIFEST_BYTES + b"}\n"
    with pytest.raises(ManifestInvalid, match="over the"):
        parse_any(oversized)


@pytest.mark.parametrize(
    "data, message",
    [
        (json.dumps({"schemaVersion": 2, "manifests": {}}).encode(), "manifests is missing"),
        (json.dumps({"schemaVersion": 2, "manifests": [{"size": 1}]}).encode(),
         r"manifests\[0\]\.mediaType"),
        (_with("annotations", {"a": 1}), "annotations is not an object of strings"),
    ],
)
def test_index_and_annotation_errors(data: bytes, message: str) -> None:
    with pytest.raises(ManifestInvalid, match=message):
        parse_any(data)
