"""The published XSD and an XML sample of each batch kind, made from the schema the validator uses."""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from inbox.schema import BatchKind, Column

XS = "http://www.w3.org/2001/XMLSchema"


def _simple_type(column: Column) -> str:
    if column.integer is not None:
        low, high = column.integer
        return (
            f'<xs:simpleType><xs:restriction base="xs:integer"><xs:minInclusive value="{low}"/>'
            f'<xs:maxInclusive value="{high}"/></xs:restriction></xs:simpleType>'
        )
    if column.pattern is not None:
        pattern = quoteattr(column.pattern.pattern)
        return (
            f'<xs:simpleType><xs:restriction base="xs:token"><xs:pattern value={pattern}/>'
            "</xs:restriction></xs:simpleType>"
        )
    return '<xs:simpleType><xs:restriction base="xs:token"><xs:minLength value="1"/></xs:restriction></xs:simpleType>'


def _element(column: Column, optional: bool) -> str:
    occurs = ' minOccurs="0"' if optional else ""
    doc = f"<xs:annotation><xs:documentation>{escape(column.zh)}: {escape(column.rule_en)}</xs:documentation>"
    return f'<xs:element name="{column.name}"{occurs}>{doc}</xs:annotation>{_simple_type(column)}</xs:element>'


def _record_content(kind: BatchKind) -> str:
    parts = []
    for column in kind.columns:
        if kind.ranges and column.name == "form_no":
            start, count = kind.column("start_form_no"), kind.column("count")
            parts.append(
                f"<xs:choice>{_element(column, False)}"
                f"<xs:sequence>{_element(start, False)}{_element(count, False)}</xs:sequence></xs:choice>"
            )
        elif kind.ranges and column.name in ("start_form_no", "count"):
            continue
        else:
            parts.append(_element(column, not column.required))
    return "".join(parts)


def xsd_text(kind: BatchKind) -> str:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<xs:schema xmlns:xs="{XS}" elementFormDefault="qualified">\n'
        f'  <xs:element name="{kind.name}">\n'
        f"    <xs:annotation><xs:documentation>{escape(kind.zh)} ({kind.name})</xs:documentation></xs:annotation>\n"
        "    <xs:complexType><xs:sequence>\n"
        f'      <xs:element name="{kind.item}" maxOccurs="unbounded"><xs:complexType><xs:sequence>'
        f"{_record_content(kind)}</xs:sequence></xs:complexType></xs:element>\n"
        "    </xs:sequence></xs:complexType>\n  </xs:element>\n</xs:schema>\n"
    )


def xml_sample(kind: BatchKind) -> str:
    """Two records: a single form and (for kinds that take them) a range."""

    def record(columns: list[Column]) -> str:
        cells = "".join(f"<{c.name}>{escape(c.example)}</{c.name}>" for c in columns)
        return f"  <{kind.item}>{cells}</{kind.item}>\n"

    plain = [c for c in kind.columns if c.name not in ("start_form_no", "count") and (c.required or c.example)]
    records = [record(plain)]
    if kind.ranges:
        ranged = [
            c
            for c in kind.columns
            if c.name != "form_no" and (c.required or c.example or c.name in ("start_form_no", "count"))
        ]
        records.append(record(ranged).replace("260000001", "260000101"))
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<{kind.name}>\n{"".join(records)}</{kind.name}>\n'
