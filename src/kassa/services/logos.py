"""The organization's logo, uploaded as an image and kept in the file store.

The image is checked by decoding it (Pillow), not by trusting its name or Content-Type:
PNG, JPEG, GIF or WebP, at most 512 KB and 4000 x 4000 pixels. SVG is not accepted for
upload: an SVG is a program-like document (scripts, external references) that would be
served back from Kassa's own pages.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from kassa.adapters.files import FileStore
from kassa.core.errors import InvalidRequest, NotFound, PayloadTooLarge
from kassa.services.organizations import get_organization
from kassa.store import models as m
from kassa.store.uow import UnitOfWork

MAX_BYTES = 512 * 1024
MAX_PIXELS = 4000
FORMATS = {"PNG": ("image/png", "png"), "JPEG": ("image/jpeg", "jpg"),
           "GIF": ("image/gif", "gif"), "WEBP": ("image/webp", "webp")}
CONTENT_TYPES = {content_type: extension for content_type, extension in FORMATS.values()}


@dataclass(frozen=True)
class Logo:
    content_type: str
    content: bytes


def check(data: bytes) -> tuple[str, str]:
    """(content type, file extension) of a logo image; InvalidRequest saying what is wrong."""
    if len(data) > MAX_BYTES:
        raise PayloadTooLarge(f"The logo is larger than {MAX_BYTES // 1024} KB.", param="logo")
    if not data:
        raise InvalidRequest("Send the logo image as the request body.", param="logo")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                found, size = image.format, image.size
                image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError,
            Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise InvalidRequest("The logo is not an image Kassa can read: send a PNG, JPEG, GIF "
                             "or WebP file.", param="logo", code="logo_invalid") from None
    if found not in FORMATS:
        raise InvalidRequest(f"A {found} logo is not accepted: send a PNG, JPEG, GIF or WebP "
                             "file.", param="logo", code="logo_invalid")
    if max(size) > MAX_PIXELS:
        raise InvalidRequest(f"The logo is {size[0]} x {size[1]} pixels; at most "
                             f"{MAX_PIXELS} x {MAX_PIXELS} is accepted.", param="logo",
                             code="logo_invalid")
    return FORMATS[found]


def upload(uow: UnitOfWork, files: FileStore, org_id: str, data: bytes) -> m.Organization:
    """Check and store the logo, and make it the one documents and e-mails show."""
    _, extension = check(data)
    org = get_organization(uow.session, org_id, lock=True)
    path = f"logos/{org.id}/{hashlib.sha256(data).hexdigest()[:32]}.{extension}"
    files.write(path, data)  # content-addressed: a rollback leaves only an unused file
    org.logo_path = path
    uow.commit()
    return org


def remove(uow: UnitOfWork, org_id: str) -> m.Organization:
    org = get_organization(uow.session, org_id, lock=True)
    org.logo_path = None
    uow.commit()
    return org


def read(files: FileStore, org: m.Organization) -> Logo | None:
    """The uploaded logo, or None when there is none (or its file went missing)."""
    if not org.logo_path:
        return None
    extension = org.logo_path.rpartition(".")[2]
    content_type = next(t for t, e in CONTENT_TYPES.items() if e == extension)
    try:
        return Logo(content_type, files.read(org.logo_path))
    except FileNotFoundError:
        return None


def get(uow: UnitOfWork, files: FileStore, org_id: str) -> Logo:
    logo = read(files, get_organization(uow.session, org_id))
    if logo is None:
        raise NotFound("The organization has no uploaded logo.", param="logo")
    return logo
