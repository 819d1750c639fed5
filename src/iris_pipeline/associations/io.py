"""Reading and writing association files (JWST-style JSON).

An association groups the exposures a pipeline processes together::

    {
      "asn_type": "image2",
      "asn_rule": "iris_image2",
      "asn_id": "a0001",
      "program": "2026A-001",
      "target": "NGC1068",
      "products": [
        {"name": "iris_img1_obs001_exp001",
         "members": [
           {"expname": "iris_img1_obs001_exp001_rate.fits", "exptype": "science"},
           {"expname": "iris_img1_obs001_sky001_rate.fits", "exptype": "background"}
         ]}
      ]
    }

Member paths are relative to the association file's folder unless absolute. Member
``exptype`` is one of `MEMBER_TYPES`. A product name names files in the output folder, so it is a
plain file-name stem (`PRODUCT_NAME_PATTERN`: no folder, no ``..``, no glob characters). A member
listed twice in one product is kept once, with a WARNING. Associations written by JWST's
``asn_from_list`` (``asn_type`` ``"None"``, ``asn_rule`` ``DMS_Level3_Base``, extra keys such as
``asn_pool`` and ``exposerr``) are read as they are. The rules that build associations from a set
of files are in ``docs/associations.md``.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..exceptions import InputFileError
from ..lib.atomic import atomic_path

__all__ = [
    "MEMBER_TYPES",
    "SKY_MEMBER_TYPES",
    "Association",
    "check_product_name",
    "AssociationMember",
    "AssociationProduct",
    "ScienceExposure",
    "is_association",
    "read_association",
    "science_exposures",
    "stage3_members",
    "write_association",
]

log = logging.getLogger(__name__)

# A product name is the stem of every file of the product: letters, digits and ``._+-``, starting
# with a letter or digit (no folder separators, no ``..`` escape, nothing a glob would expand).
PRODUCT_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,199}")

MEMBER_TYPES = ("science", "background", "sky", "dark", "flat", "arc", "scan", "standard")
SKY_MEMBER_TYPES = ("background", "sky")


@dataclass(frozen=True)
class AssociationMember:
    """One exposure of a product: its path and its role (`MEMBER_TYPES`)."""

    path: Path
    exptype: str = "science"


@dataclass
class AssociationProduct:
    """One output product and the members it is made from."""

    name: str
    members: list[AssociationMember] = field(default_factory=list)

    def members_of(self, *exptypes: str) -> list[Path]:
        """Paths of the members whose role is one of `exptypes`."""
        return [member.path for member in self.members if member.exptype in exptypes]


@dataclass
class Association:
    """A parsed association file."""

    asn_type: str
    products: list[AssociationProduct]
    asn_id: str = ""
    asn_rule: str = ""
    program: str = ""
    target: str = ""
    path: Path | None = None

    @classmethod
    def from_files(cls, asn_type: str, name: str, science: Iterable, **roles: Iterable) -> Association:
        """An association of one product from science files and optional other roles."""
        members = [AssociationMember(Path(p), "science") for p in science]
        for role, paths in roles.items():
            members += [AssociationMember(Path(p), role) for p in paths]
        return cls(asn_type=asn_type, products=[AssociationProduct(name, members)])

    def to_dict(self, relative_to: Path | None = None) -> dict:
        """JSON-ready dict; member paths relative to `relative_to` where they lie below it."""

        def member_name(path: Path) -> str:
            if relative_to is not None:
                try:
                    return str(Path(path).resolve().relative_to(Path(relative_to).resolve()))
                except ValueError:
                    return str(Path(path).resolve())
            return str(path)

        return {
            "asn_type": self.asn_type,
            "asn_rule": self.asn_rule,
            "asn_id": self.asn_id,
            "program": self.program,
            "target": self.target,
            "products": [
                {
                    "name": product.name,
                    "members": [{"expname": member_name(m.path), "exptype": m.exptype} for m in product.members],
                }
                for product in self.products
            ],
        }


def check_product_name(name: str, source=None) -> str:
    """`name` if it is a safe product name (`PRODUCT_NAME_PATTERN`), else a one-line `InputFileError`."""
    if not isinstance(name, str) or not PRODUCT_NAME_PATTERN.fullmatch(name) or ".." in name:
        raise InputFileError(
            source or "<association>",
            f"product name {name!r} is not a plain file name (letters, digits and ._+- only; "
            "products are written in the output folder)",
        )
    return name


def is_association(path) -> bool:
    """Whether `path` names an association file (by its ``.json`` extension)."""
    return Path(path).suffix.lower() == ".json"


def read_association(path) -> Association:
    """Read an association file; member paths come back absolute.

    Raises
    ------
    InputFileError
        If the file is missing, not JSON, lacks ``products``/``members``/``expname``, names an
        unknown member type, or names a member file that does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "association file not found")
    try:
        content = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputFileError(path, f"not a readable JSON association ({exc.__class__.__name__})") from None
    if not isinstance(content, dict) or not isinstance(content.get("products"), list) or not content["products"]:
        raise InputFileError(path, "association has no 'products' list")
    products = []
    for index, product in enumerate(content["products"]):
        members_in = product.get("members") if isinstance(product, dict) else None
        if not isinstance(members_in, list) or not members_in:
            raise InputFileError(path, f"product {index} has no 'members' list")
        name = check_product_name(str(product.get("name") or path.stem.removesuffix("_asn")), path)
        members = []
        for member in members_in:
            if not isinstance(member, dict) or not isinstance(member.get("expname"), str) or not member["expname"]:
                raise InputFileError(path, f"product {index}: a member has no 'expname'")
            exptype = str(member.get("exptype", "science")).lower()
            if exptype not in MEMBER_TYPES:
                raise InputFileError(path, f"member {member['expname']}: unknown exptype {exptype!r}")
            try:
                member_path = Path(member["expname"])
                if not member_path.is_absolute():
                    member_path = path.parent / member_path
                found = member_path.is_file()
            except (OSError, ValueError):
                found = False
            if not found:
                raise InputFileError(path, f"member file not found: {member['expname']}")
            entry = AssociationMember(member_path.resolve(), exptype)
            if entry in members:
                log.warning("%s: product %s lists %s twice; it is used once", path, name, member["expname"])
                continue
            members.append(entry)
        products.append(AssociationProduct(name, members))
    asn_type = content.get("asn_type")
    return Association(
        asn_type="" if asn_type is None or str(asn_type).strip() in ("", "None", "none") else str(asn_type).strip(),
        products=products,
        asn_id=str(content.get("asn_id", "")),
        asn_rule=str(content.get("asn_rule", "")),
        program=str(content.get("program", "")),
        target=str(content.get("target", "")),
        path=path.resolve(),
    )


@dataclass
class ScienceExposure:
    """One science exposure for a stage-2 pipeline, with its sky exposures and its product name."""

    science: object
    skies: list = field(default_factory=list)
    product_name: str | None = None


def science_exposures(step_input) -> list[ScienceExposure]:
    """The science exposures of a stage-2 input: a file, a model, an association file, or a list.

    An association product contributes each of its ``science`` members with the product's
    ``background``/``sky`` members; the product's name names the output when it has exactly one
    science member.

    Raises
    ------
    InputFileError
        If an association is unreadable or a product has no science member.
    """
    if isinstance(step_input, list | tuple):
        return [exposure for item in step_input for exposure in science_exposures(item)]
    if isinstance(step_input, str | Path) and is_association(step_input):
        exposures = []
        for product in read_association(step_input).products:
            science = product.members_of("science")
            if not science:
                raise InputFileError(step_input, f"product {product.name} has no science member")
            skies = [str(path) for path in product.members_of(*SKY_MEMBER_TYPES)]
            name = product.name if len(science) == 1 else None
            exposures += [ScienceExposure(str(path), skies, name) for path in science]
        return exposures
    return [ScienceExposure(str(step_input) if isinstance(step_input, Path) else step_input)]


def stage3_members(step_input) -> tuple[list, str | None]:
    """The members of a stage-3 input and the product they make.

    An association file gives the ``science`` members (paths) of its first product and that
    product's name; a file, a model or a list of them is returned as a list, with no name.

    Raises
    ------
    InputFileError
        If the association has no product, or its product no science member.
    """
    if isinstance(step_input, str | os.PathLike) and is_association(step_input):
        association = read_association(step_input)
        if not association.products:
            raise InputFileError(step_input, "association has no products")
        product = association.products[0]
        members = product.members_of("science")
        if not members:
            raise InputFileError(step_input, f"product {product.name!r} has no science members")
        return list(members), product.name
    if isinstance(step_input, list | tuple):
        return list(step_input), None
    return [step_input], None


def write_association(association: Association, path) -> Path:
    """Write `association` as JSON atomically; member paths are stored relative to its folder."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(association.to_dict(relative_to=path.parent), indent=2) + "\n")
    return path
