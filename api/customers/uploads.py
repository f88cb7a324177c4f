"""Face photos from a multipart upload, parsed in memory only.

Litestar's own form parsing spools parts over 1 MiB to a temporary file; face
photos must never touch a disk, so the body is parsed here instead.
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from multipart import (  # type: ignore[import-untyped]
    MultipartSegment,
    ParserError,
    ParserLimitReached,
    PushMultipartParser,
    parse_options_header,
)

from facepay.customers.enrollment import MAX_IMAGES, MAX_PHOTO_BYTES
from facepay.errors import ValidationError

# Enough for MAX_IMAGES photos at the per-photo limit, plus the multipart framing.
MAX_UPLOAD_BYTES = 48 * 1024 * 1024


async def read_photos(request: Request[Any, Any, Any]) -> list[bytes]:
    """The file parts of a multipart/form-data body, each capped at the image size limit."""
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    if content_type != "multipart/form-data" or "boundary" not in params:
        raise ValidationError("send the photos as multipart/form-data")
    photos: list[bytearray] = []
    current: bytearray | None = None
    try:
        with PushMultipartParser(
            params["boundary"].encode(), max_segment_count=MAX_IMAGES + 4
        ) as parser:
            async for chunk in request.stream():
                for part in parser.parse(chunk):
                    if isinstance(part, MultipartSegment):
                        current = bytearray() if part.filename is not None else None
                        if current is not None:
                            photos.append(current)
                        if len(photos) > MAX_IMAGES:
                            raise ValidationError(f"send at most {MAX_IMAGES} images")
                    elif part and current is not None:
                        current.extend(part)
                        if len(current) > MAX_PHOTO_BYTES:
                            raise ValidationError(
                                f"a photo is over the {MAX_PHOTO_BYTES} byte limit"
                            )
            if not parser.closed:
                raise ValidationError("the multipart body ended early")
    except (ParserError, ParserLimitReached) as exc:
        raise ValidationError(f"the multipart body is malformed: {exc}") from exc
    return [bytes(p) for p in photos]
