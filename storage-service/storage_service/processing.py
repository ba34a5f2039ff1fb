"""CPU work on uploaded bytes: pure functions, run in a worker pool (never on the event loop).

Avatars: the type is decided by magic bytes against an allow-list (PNG, JPEG, WebP, GIF)
and must agree with the declared Content-Type and the file extension; Pillow decodes with
only that one decoder, under a pixel limit (a decompression bomb is refused, not decoded);
EXIF orientation is applied, every piece of metadata is dropped (the pixels are copied into
a fresh image), the image is center-cropped to a square and encoded as WebP at 128, 256,
512 and 1024 px. Animated GIF/WebP/APNG: the first frame is used (reported as `animated`).

Config files: JSON (orjson) or YAML (a SafeLoader that also refuses aliases and limits
depth and size while it composes), then a walk that bounds depth and node count and keeps
only JSON types. Every value must survive the trip on: integers fit in 64 bits (Python
refuses to print an integer of more than 4,300 digits, other services and PostgreSQL take
64 bits), numbers are finite, text is valid Unicode without NUL, dates exist. A value that
does not is refused with its place in the document (and its line, for YAML).
"""

from __future__ import annotations

import datetime as dt
import io
import math
import warnings
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import orjson
import yaml
from PIL import Image, ImageFile, ImageOps

from proto.storage import AVATAR_SIZES

# A decoded size above Image.MAX_IMAGE_PIXELS is an error, not a warning (Pillow itself
# only raises above twice the limit). We also compare against our own limit explicitly.
warnings.simplefilter("error", Image.DecompressionBombWarning)
ImageFile.LOAD_TRUNCATED_IMAGES = False


class UploadRejected(Exception):
    """Bad input, with an error code (`validation`, `too_large`, `invalid`) and a message
    that is safe to show. Picklable, so it crosses a process pool."""

    def __init__(
        self,
        code: str,
        message: str,
        field: str = "file",
        problems: list[tuple[list[str | int], str]] | None = None,
    ) -> None:
        super().__init__(code, message, field, problems)
        self.code = code
        self.message = message
        self.field = field
        # Field-level problems (location inside the document, message), e.g. schema errors.
        self.problems = problems or []

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class ImageType:
    key: str
    mime: str
    extensions: frozenset[str]
    pil_format: str
    aliases: frozenset[str] = frozenset()


IMAGE_TYPES: dict[str, ImageType] = {
    t.key: t
    for t in (
        ImageType("png", "image/png", frozenset({".png"}), "PNG", frozenset({"image/x-png"})),
        ImageType(
            "jpeg",
            "image/jpeg",
            frozenset({".jpg", ".jpeg", ".jfif"}),
            "JPEG",
            frozenset({"image/jpg", "image/pjpeg"}),
        ),
        ImageType("gif", "image/gif", frozenset({".gif"}), "GIF"),
        ImageType("webp", "image/webp", frozenset({".webp"}), "WEBP"),
    )
}
ALLOWED_IMAGES = "PNG, JPEG, WebP or GIF"
_UNSPECIFIED_TYPES = {"", "application/octet-stream", "binary/octet-stream"}


def sniff_image(data: bytes) -> ImageType | None:
    """The image type by its magic bytes, or None when it is not one we accept."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return IMAGE_TYPES["png"]
    if data.startswith(b"\xff\xd8\xff"):
        return IMAGE_TYPES["jpeg"]
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return IMAGE_TYPES["gif"]
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return IMAGE_TYPES["webp"]
    return None


def describe(data: bytes) -> str:
    """A short guess of what a refused file is, for the error message."""
    head = data[:512].lstrip().lower()
    if data.startswith(b"PK\x03\x04"):
        return "a ZIP archive"
    if data.startswith(b"\x1f\x8b"):
        return "a gzip archive"
    if head.startswith(b"<?xml") or b"<svg" in head:
        return "SVG/XML"
    if head.startswith((b"<!doctype html", b"<html")):
        return "HTML"
    if data.startswith(b"%PDF"):
        return "a PDF document"
    if data[4:12] in (b"ftypavif", b"ftypheic", b"ftypmif1"):
        return "an AVIF/HEIC image"
    if data.startswith((b"BM", b"II*\x00", b"MM\x00*")):
        return "a BMP/TIFF image"
    return "an unknown type"


def normalise_mime(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


@dataclass
class ProcessedAvatar:
    mime: str  # detected type of the upload
    width: int
    height: int
    animated: bool
    # variant name ("128".."1024") -> (WebP bytes, side)
    variants: dict[str, tuple[bytes, int]] = field(default_factory=dict)


def check_image_type(data: bytes, filename: str, content_type: str) -> ImageType:
    kind = sniff_image(data)
    if kind is None:
        raise UploadRejected(
            "validation", f"avatars must be {ALLOWED_IMAGES} images; this file is {describe(data)}"
        )
    ext = PurePosixPath(filename).suffix.lower()
    if ext not in kind.extensions:
        raise UploadRejected(
            "validation",
            f"the file content is {kind.key.upper()} but its name ends with "
            f"{ext or 'no extension'!r}; expected {', '.join(sorted(kind.extensions))}",
        )
    declared = normalise_mime(content_type)
    if (
        declared not in _UNSPECIFIED_TYPES
        and declared != kind.mime
        and declared not in kind.aliases
    ):
        raise UploadRejected(
            "validation",
            f"the file content is {kind.mime} but it was sent as {declared!r}",
        )
    return kind


def process_avatar(
    data: bytes,
    filename: str,
    content_type: str,
    *,
    max_pixels: int,
    max_lossless_pixels: int | None = None,
    min_side: int = 32,
    quality: int = 85,
    method: int = 2,
    sizes: tuple[int, ...] = AVATAR_SIZES,
) -> ProcessedAvatar:
    kind = check_image_type(data, filename, content_type)
    if kind.key != "jpeg" and max_lossless_pixels is not None:
        # JPEGs are decoded at 1/2..1/8 scale (draft) when large, so a big photo costs
        # little memory; PNG/GIF/WebP are decoded whole, so their limit is tighter.
        max_pixels = min(max_pixels, max_lossless_pixels)
    # Pillow's own guard (checked in open); ours below covers the range it only warns about.
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        img = Image.open(io.BytesIO(data), formats=[kind.pil_format])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _bomb(max_pixels) from None
    except Exception:
        raise UploadRejected(
            "validation", f"the {kind.key.upper()} image could not be decoded"
        ) from None
    with img:
        width, height = img.size
        if width * height > max_pixels:
            raise _bomb(max_pixels)
        if min(width, height) < min_side:
            raise UploadRejected(
                "validation",
                f"the image is {width}x{height}; avatars need at least {min_side} px a side",
            )
        try:
            animated = bool(getattr(img, "is_animated", False))
            if animated:
                img.seek(0)
            if kind.key == "jpeg":
                # Let libjpeg scale down while decoding (1/2, 1/4, 1/8) when the picture is
                # much larger than what we keep; the short side stays >= the largest size.
                short = min(width, height)
                target = max(sizes)
                if short > target:
                    img.draft(
                        "RGB",
                        (math.ceil(width * target / short), math.ceil(height * target / short)),
                    )
            img.load()
            frame = ImageOps.exif_transpose(img)
            has_alpha = frame.mode in ("RGBA", "LA", "PA") or (
                frame.mode == "P" and "transparency" in frame.info
            )
            mode = "RGBA" if has_alpha else "RGB"
            frame = frame.convert(mode)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise _bomb(max_pixels) from None
        except UploadRejected:
            raise
        except Exception:
            raise UploadRejected(
                "validation", f"the {kind.key.upper()} image is damaged or truncated"
            ) from None
    # Only the pixels go on: info (EXIF, XMP, ICC profile, comments, text chunks) is
    # dropped here, and the WebP encoder below is told to write none of it either.
    clean = frame
    clean.info = {}
    w, h = clean.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    square = clean.crop((left, top, left + side, top + side))
    result = ProcessedAvatar(mime=kind.mime, width=width, height=height, animated=animated)
    source = square
    for size in sorted(sizes, reverse=True):
        # Largest first, each from the previous one: far cheaper than from the source.
        resized = (
            source.resize((size, size), Image.Resampling.LANCZOS)
            if source.size != (size, size)
            else source
        )
        out = io.BytesIO()
        resized.save(
            out, format="WEBP", quality=quality, method=method, exif=b"", icc_profile=None, xmp=b""
        )
        result.variants[str(size)] = (out.getvalue(), size)
        source = resized
    return result


def _bomb(max_pixels: int) -> UploadRejected:
    return UploadRejected(
        "validation",
        f"the image is too large when decoded (more than {max_pixels:,} pixels); "
        "it may be a decompression bomb",
    )


# --------------------------------------------------------------------------- config files

JSON_TYPES = {"application/json", "text/json"}
YAML_TYPES = {"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"}
_TEXT_UNSPECIFIED = _UNSPECIFIED_TYPES | {"text/plain"}


@dataclass
class ParsedConfig:
    format: str  # "json" | "yaml"
    mime: str
    document: dict[str, Any]


def config_format(filename: str, content_type: str) -> tuple[str, str]:
    ext = PurePosixPath(filename).suffix.lower()
    if ext == ".json":
        fmt, mime, accepted = "json", "application/json", JSON_TYPES
    elif ext in (".yaml", ".yml"):
        fmt, mime, accepted = "yaml", "application/yaml", YAML_TYPES
    else:
        raise UploadRejected(
            "validation",
            f"config files must be .json, .yaml or .yml (got {ext or 'no extension'!r})",
        )
    declared = normalise_mime(content_type)
    if declared not in _TEXT_UNSPECIFIED and declared not in accepted:
        raise UploadRejected(
            "validation", f"a {ext} file was sent as {declared!r}; expected {mime}"
        )
    return fmt, mime


INT_MIN, INT_MAX = -(2**63), 2**63 - 1
# The longest spelling of a 64-bit integer in YAML 1.1 ("-0b" and 64 binary digits) once
# underscores are removed: anything longer is refused before it is converted (a long
# sexagesimal "1:2:3:..." costs quadratic time, a decimal over 4,300 digits raises).
_MAX_INT_CHARS = 67
_TOO_BIG = "is too large: integers must fit in 64 bits (signed)"


@dataclass(frozen=True, eq=False)
class _BadScalar:
    """A YAML scalar that cannot become a JSON value; reported with its place in the
    document by `_json_clean` (hashable by identity, so it can stand as a mapping key)."""

    line: int
    column: int
    problem: str

    def where(self) -> str:
        return f"line {self.line}, column {self.column}"


class _Limits:
    def __init__(self, max_depth: int, max_nodes: int) -> None:
        self.max_depth = max_depth
        self.max_nodes = max_nodes


class _BoundedSafeLoader(yaml.SafeLoader):
    """SafeLoader (no tags that build objects) that also refuses aliases (no billion
    laughs) and stops composing beyond a depth and a node count."""

    limits = _Limits(32, 50_000)

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise UploadRejected(
                "validation", "YAML aliases (*name) are not allowed in config files"
            )
        self._depth += 1
        self._nodes += 1
        if self._depth > self.limits.max_depth:
            raise UploadRejected(
                "validation",
                f"the config file is nested deeper than {self.limits.max_depth} levels",
            )
        if self._nodes > self.limits.max_nodes:
            raise UploadRejected(
                "validation", f"the config file has more than {self.limits.max_nodes} values"
            )
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        # A scalar the resolver typed but Python cannot build (2024-02-30, year 0, ...).
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as exc:
            return _bad(node, f"is not a valid value ({exc})")


def _bad(node: yaml.Node, problem: str) -> _BadScalar:
    mark = node.start_mark
    return _BadScalar(mark.line + 1, mark.column + 1, problem)


def _construct_int(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    text = str(node.value).replace("_", "")
    if len(text) > _MAX_INT_CHARS:
        return _bad(node, _TOO_BIG)
    if not isinstance(node, yaml.ScalarNode):
        # `!!int` on a short list or mapping: PyYAML's own refusal for a non-scalar.
        kind = "sequence" if isinstance(node, yaml.SequenceNode) else "mapping"
        raise yaml.constructor.ConstructorError(
            None, None, f"expected a scalar node, but found {kind}", node.start_mark
        )
    return loader.construct_yaml_int(node)


_BoundedSafeLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)


def _yaml_loader(max_depth: int, max_nodes: int) -> type[_BoundedSafeLoader]:
    return type("_Loader", (_BoundedSafeLoader,), {"limits": _Limits(max_depth, max_nodes)})


def parse_config(
    data: bytes,
    filename: str,
    content_type: str,
    *,
    max_depth: int = 32,
    max_nodes: int = 50_000,
) -> ParsedConfig:
    fmt, mime = config_format(filename, content_type)
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UploadRejected("validation", "config files must be UTF-8 text") from None
    if "\x00" in text:
        raise UploadRejected("validation", "config files must be text (found NUL bytes)")
    if fmt == "json":
        try:
            value: Any = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            if "recursion" in str(exc).lower() or "depth" in str(exc).lower():
                raise UploadRejected(
                    "validation", f"the config file is nested deeper than {max_depth} levels"
                ) from None
            raise UploadRejected(
                "validation", f"not valid JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}"
            ) from None
    else:
        loader = _yaml_loader(max_depth, max_nodes)
        try:
            value = yaml.load(text, Loader=loader)  # noqa: S506 - a SafeLoader subclass
        except UploadRejected:
            raise
        except yaml.constructor.ConstructorError as exc:
            tag = getattr(exc, "problem", "") or ""
            if "tag" not in tag:  # e.g. a list as a mapping key ("found unhashable key")
                mark = exc.problem_mark
                where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
                raise UploadRejected("validation", f"not valid YAML: {where}{tag}") from None
            raise UploadRejected(
                "validation",
                "YAML tags that build objects are not allowed in config files"
                + (f" ({tag.split('tag')[-1].strip()})" if "tag" in tag else ""),
            ) from None
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark
            where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
            raise UploadRejected("validation", f"not valid YAML: {where}{exc.problem}") from None
        except (yaml.YAMLError, RecursionError, ValueError):
            raise UploadRejected("validation", "not valid YAML") from None
    if not isinstance(value, dict):
        raise UploadRejected(
            "validation", "a config file must contain one object (a mapping) at the top"
        )
    document = _json_clean(value, max_depth=max_depth, max_nodes=max_nodes)
    assert isinstance(document, dict)
    return ParsedConfig(format=fmt, mime=mime, document=document)


def _place(path: tuple[str | int, ...]) -> str:
    return ".".join(str(p) for p in path) or "(top)"


def _refuse(path: tuple[str | int, ...], problem: str, line: str | None = None) -> UploadRejected:
    where = _place(path) + (f" ({line})" if line else "")
    return UploadRejected(
        "validation",
        f"the config file's value at {where} {problem}",
        problems=[(list(path), problem)],
    )


def _text_problem(v: str) -> str | None:
    if "\x00" in v:
        return "contains a NUL character"
    try:
        v.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode text (a lone surrogate)"
    return None


def _json_clean(root: Any, *, max_depth: int, max_nodes: int) -> Any:
    """Iteratively check depth and size and keep JSON types (dates become ISO strings)."""
    nodes = 0
    out_root = _empty_container(root)
    if out_root is None:
        return _clean_leaf(root, ())
    stack: list[tuple[Any, Any, int, tuple[str | int, ...]]] = [(root, out_root, 1, ())]
    while stack:
        src, dst, depth, path = stack.pop()
        if depth > max_depth:
            raise UploadRejected(
                "validation", f"the config file is nested deeper than {max_depth} levels"
            )
        items = src.items() if isinstance(src, dict) else enumerate(src)
        for key, child in items:
            nodes += 1
            if nodes > max_nodes:
                raise UploadRejected(
                    "validation", f"the config file has more than {max_nodes} values"
                )
            if isinstance(src, dict):
                key = _clean_key(key, path)
            sub = _empty_container(child)
            value = sub if sub is not None else _clean_leaf(child, (*path, key))
            if isinstance(dst, dict):
                dst[key] = value
            else:
                dst.append(value)
            if sub is not None:
                stack.append((child, sub, depth + 1, (*path, key)))
    return out_root


def _clean_leaf(v: Any, path: tuple[str | int, ...]) -> Any:
    """A scalar as JSON keeps it, or the refusal that names where it is."""
    if isinstance(v, _BadScalar):
        raise _refuse(path, v.problem, v.where())
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, int):
        if not INT_MIN <= v <= INT_MAX:
            raise _refuse(path, _TOO_BIG)
        return v
    if isinstance(v, float):
        if not math.isfinite(v):
            raise _refuse(path, "is not a finite number (too large, infinite or NaN)")
        return v
    if isinstance(v, str):
        problem = _text_problem(v)
        if problem:
            raise _refuse(path, problem)
        return v
    if isinstance(v, dt.date | dt.datetime):
        return v.isoformat()
    raise _refuse(path, f"is not a JSON value (found {type(v).__name__})")


def _clean_key(key: Any, path: tuple[str | int, ...]) -> str:
    """A mapping key as the JSON string it becomes (YAML allows numbers and booleans)."""
    if isinstance(key, _BadScalar):
        raise _refuse(path, "has a key that " + key.problem, key.where())
    if isinstance(key, bool):
        return str(key).lower()
    if isinstance(key, int | float) and not isinstance(key, bool):
        _clean_leaf(key, path)  # the same bounds as values (a key is printed)
        return str(key)
    if not isinstance(key, str):
        raise _refuse(path, "has a key that is not a string")
    problem = _text_problem(key)
    if problem:
        raise _refuse(path, "has a key that " + problem)
    return key


def _empty_container(v: Any) -> dict[str, Any] | list[Any] | None:
    """A new, empty container of v's kind, or None when v is a scalar."""
    if isinstance(v, dict):
        return {}
    if isinstance(v, list):
        return []
    return None


def validate_import(document: dict[str, Any]) -> dict[str, Any]:
    """Check a parsed config file against the bot import schema of command-service
    (`proto.commands.BotImport`); returns the document as validated (defaults filled in)."""
    from pydantic import ValidationError

    from proto import commands

    model = getattr(commands, "BotImport", None)
    if model is None:  # the schema has not landed yet: accept any object
        return document
    try:
        model.model_validate(document)
    except ValidationError as exc:
        problems: list[tuple[list[str | int], str]] = [
            ([p for p in err["loc"] if isinstance(p, str | int)], err["msg"])
            for err in exc.errors(include_url=False, include_input=False)[:50]
        ]
        first = problems[0] if problems else ([], "invalid")
        where = ".".join(str(p) for p in first[0]) or "(top)"
        raise UploadRejected(
            "validation",
            f"the config file does not match the bot import schema: {where}: {first[1]}"
            + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""),
            problems=problems,
        ) from None
    return document


def parse_and_validate_config(
    data: bytes, filename: str, content_type: str, *, max_depth: int, max_nodes: int
) -> ParsedConfig:
    parsed = parse_config(data, filename, content_type, max_depth=max_depth, max_nodes=max_nodes)
    validate_import(parsed.document)
    return parsed
