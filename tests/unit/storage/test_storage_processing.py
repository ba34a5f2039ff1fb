"""Avatar and config processing on their own: what a user sees for good and hostile files."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from storage_service.processing import UploadRejected, parse_config, process_avatar
from tests.fixtures import storage as corpus

LIMIT = 25_000_000


def avatar(data: bytes, name: str = "a.png", ctype: str = "image/png", **kw: object):
    return process_avatar(data, name, ctype, max_pixels=LIMIT, **kw)  # type: ignore[arg-type]


def rejected(fn, *args, **kwargs) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(UploadRejected) as info:
        fn(*args, **kwargs)
    assert info.value.code == "validation"
    return info.value.message


def test_png_becomes_four_square_webp_variants() -> None:
    result = avatar(corpus.png(300, 200))
    assert (result.width, result.height, result.mime) == (300, 200, "image/png")
    assert sorted(result.variants, key=int) == ["128", "256", "512", "1024"]
    for name, (blob, side) in result.variants.items():
        img = Image.open(io.BytesIO(blob))
        assert img.format == "WEBP"
        assert img.size == (int(name), int(name)) == (side, side)


def test_transparency_is_kept() -> None:
    result = avatar(corpus.png(200, 200, (0, 0, 0, 0), mode="RGBA"))
    img = Image.open(io.BytesIO(result.variants["128"][0]))
    assert img.mode == "RGBA"
    assert img.getpixel((64, 64))[3] == 0


def test_exif_gps_is_stripped_and_orientation_applied() -> None:
    data = corpus.jpeg_with_gps_and_rotation(400, 200)
    assert b"SpyCam" in data
    result = avatar(data, "me.jpg", "image/jpeg")
    for blob, _ in result.variants.values():
        assert b"SpyCam" not in blob
        assert b"Exif" not in blob
        assert b"EXIF" not in blob
        img = Image.open(io.BytesIO(blob))
        assert not img.getexif()
        assert "exif" not in img.info
        assert "icc_profile" not in img.info
    # Orientation 6: the red left half ends up on top once rotated for display; the
    # center crop of the (now 200x400) picture straddles red (top) and blue (bottom).
    img = Image.open(io.BytesIO(result.variants["256"][0])).convert("RGB")
    top, bottom = img.getpixel((128, 10)), img.getpixel((128, 245))
    assert (top[0] > 200, top[2] < 60) == (True, True), top
    assert (bottom[2] > 200, bottom[0] < 60) == (True, True), bottom


def test_animated_gif_uses_the_first_frame() -> None:
    result = avatar(corpus.animated_gif(), "a.gif", "image/gif")
    assert result.animated is True
    img = Image.open(io.BytesIO(result.variants["128"][0])).convert("RGB")
    assert not getattr(img, "is_animated", False)
    r, g, b = img.getpixel((64, 64))
    assert r > 200
    assert g < 50
    assert b < 50


def test_webp_upload_is_accepted() -> None:
    assert avatar(corpus.webp(), "x.webp", "image/webp").mime == "image/webp"


@pytest.mark.parametrize(
    ("data", "name", "ctype", "expect"),
    [
        (corpus.pixel_flood_png(), "flood.png", "image/png", "decompression bomb"),
        (corpus.zip_bomb(), "bomb.png", "image/png", "ZIP archive"),
        (corpus.truncated_jpeg(), "cut.jpg", "image/jpeg", "damaged or truncated"),
        (corpus.polyglot_gif_html(), "poly.gif", "image/gif", "GIF"),
        (corpus.svg(), "logo.svg", "image/svg+xml", "SVG"),
        (corpus.png(), "real.png", "image/jpeg", "sent as 'image/jpeg'"),
        (corpus.png(), "real.jpg", "image/png", "name ends with '.jpg'"),
        (corpus.png(10, 10), "tiny.png", "image/png", "at least 32 px"),
    ],
    ids=[
        "pixel-flood",
        "zip-bomb",
        "truncated-jpeg",
        "polyglot",
        "svg",
        "lying-type",
        "wrong-ext",
        "tiny",
    ],
)
def test_hostile_images_are_refused_with_a_clear_message(
    data: bytes, name: str, ctype: str, expect: str
) -> None:
    assert expect in rejected(avatar, data, name, ctype)


def test_pixel_limit_between_one_and_two_times_is_an_error_too() -> None:
    # Pillow only raises above twice MAX_IMAGE_PIXELS; 1.5x must be refused as well.
    data = corpus.png(1500, 1000)
    assert "decompression bomb" in rejected(
        process_avatar, data, "a.png", "image/png", max_pixels=1_000_000
    )


def test_json_and_yaml_configs_parse_to_the_same_document() -> None:
    doc = {"prefix": "!", "commands": [{"name": "ping", "reply": "pong"}]}
    as_json = parse_config(
        b'{"prefix": "!", "commands": [{"name": "ping", "reply": "pong"}]}',
        "bot.json",
        "application/json",
    )
    as_yaml = parse_config(
        b"prefix: '!'\ncommands:\n  - name: ping\n    reply: pong\n", "bot.yml", ""
    )
    assert as_json.document == as_yaml.document == doc
    assert (as_json.format, as_yaml.format) == ("json", "yaml")


@pytest.mark.parametrize(
    ("data", "name", "expect"),
    [
        (corpus.YAML_PYTHON_OBJECT, "evil.yaml", "YAML tags that build objects"),
        (corpus.YAML_BILLION_LAUGHS, "laughs.yaml", "aliases"),
        (corpus.deep_json(), "deep.json", "nested deeper"),
        (corpus.deep_json(40), "deep40.json", "nested deeper than 32"),
        (corpus.deep_yaml(), "deep.yaml", "nested deeper than 32"),
        (b"[1, 2, 3]", "list.json", "one object"),
        (b'{"a": 1', "broken.json", "not valid JSON: line 1"),
        (b"a: [1, 2\n", "broken.yaml", "not valid YAML"),
        (b"\xff\xfe{}", "utf16.json", "UTF-8"),
        (b"{}", "bot.toml", ".json, .yaml or .yml"),
        (b"a: 1\n---\nb: 2\n", "multi.yaml", "not valid YAML"),
    ],
    ids=[
        "python-object",
        "billion-laughs",
        "deep-json",
        "deep-json-40",
        "deep-yaml",
        "not-object",
        "broken-json",
        "broken-yaml",
        "not-utf8",
        "wrong-ext",
        "multi-doc",
    ],
)
def test_hostile_configs_are_refused(data: bytes, name: str, expect: str) -> None:
    assert expect in rejected(parse_config, data, name, "")


def test_config_with_a_lying_content_type_is_refused() -> None:
    assert "expected application/json" in rejected(parse_config, b"{}", "a.json", "image/png")


def test_yaml_dates_become_strings() -> None:
    parsed = parse_config(b"when: 2024-05-01\n", "a.yaml", "application/yaml")
    assert parsed.document == {"when": "2024-05-01"}


def test_lossless_images_have_a_tighter_pixel_limit_than_jpeg() -> None:
    big = corpus.png(2000, 1500)
    assert "decompression bomb" in rejected(
        process_avatar,
        big,
        "a.png",
        "image/png",
        max_pixels=50_000_000,
        max_lossless_pixels=2_000_000,
    )
    photo = Image.new("RGB", (2000, 1500), (9, 9, 9))
    out = io.BytesIO()
    photo.save(out, format="JPEG")
    result = process_avatar(
        out.getvalue(), "a.jpg", "image/jpeg", max_pixels=50_000_000, max_lossless_pixels=2_000_000
    )
    assert (result.width, result.height) == (2000, 1500)


# Issue 23 item 6: values that parse but cannot travel on (Python's 4,300-digit limit on
# printing integers, 64-bit columns, JSON without NaN, PostgreSQL text without NUL) were
# 500s. Each is refused with its place in the document (and its line, for YAML).
UNFIT = [
    (
        "yaml",
        b"commands:\n  - cooldown_user_s: " + b"1" * 5000 + b"\n",
        "commands.0.cooldown_user_s (line 2, column 22)",
        "64 bits",
    ),
    ("yaml", b"a: 0x" + b"f" * 5000 + b"\n", "a (line 1, column 4)", "64 bits"),
    ("yaml", b"a: " + b":".join([b"59"] * 20000) + b"\n", "a (line 1, column 4)", "64 bits"),
    ("yaml", b"a: 9223372036854775808\n", "at a ", "64 bits"),
    (
        "yaml",
        b"? 0x" + b"f" * 5000 + b"\n: 1\n",
        "(top) (line 1, column 3)",
        "key that is too large",
    ),
    ("yaml", b"a:\n  - 2024-02-30\n", "a.0 (line 2, column 5)", "day is out of range"),
    ("yaml", b"a: 0000-01-01\n", "a (line 1, column 4)", "year 0 is out of range"),
    ("yaml", b"a: 1" + b"0" * 400 + b".5\n", "at a ", "not a finite number"),
    ("yaml", b"a: [1, .nan]\n", "a.1", "not a finite number"),
    ("yaml", b'a: "\\ud800"\n', "at a ", "lone surrogate"),
    ("yaml", b'a: "x\\0y"\n', "at a ", "NUL"),
    ("yaml", b'"k\\0": 1\n', "(top)", "key that contains a NUL"),
    ("yaml", b"? [a, b]\n: c\n", "line 1, column 3", "unhashable key"),
    ("json", b'{"a": [1, 18446744073709551615]}', "a.1", "64 bits"),
    ("json", b'{"a": {"b": "\\u0000"}}', "a.b", "NUL"),
    ("json", b'{"a": 1e999}', "line 1, column 7", "infinity"),
]


@pytest.mark.parametrize(("fmt", "data", "where", "what"), UNFIT)
def test_values_that_cannot_travel_on_are_refused_with_their_place(
    fmt: str, data: bytes, where: str, what: str
) -> None:
    message = rejected(parse_config, data, f"bot.{fmt}", "")
    assert where in message, message
    assert what in message, message


def test_refusals_carry_the_field_location_and_64_bit_values_pass() -> None:
    with pytest.raises(UploadRejected) as info:
        parse_config(b"a:\n  b: " + b"9" * 5000 + b"\n", "bot.yaml", "")
    assert info.value.problems == [
        (["a", "b"], "is too large: integers must fit in 64 bits (signed)")
    ]
    parsed = parse_config(
        b"a: 9223372036854775807\nb: -9223372036854775808\nc: 0x7fff_ffff_ffff_ffff\nd: 1.5e+300\n",
        "bot.yaml",
        "",
    )
    assert parsed.document == {"a": 2**63 - 1, "b": -(2**63), "c": 2**63 - 1, "d": 1.5e300}
