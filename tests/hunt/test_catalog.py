"""The bundled query catalogue: headers users read, and how a QUERY argument is understood."""

from __future__ import annotations

import hashlib
import re
from importlib.resources import files
from pathlib import Path

import pytest

from edgewatch.events import lookup
from edgewatch.hunt import catalog
from edgewatch.hunt.catalog import CatalogError, UnknownQueryError

QUERIES_DIR = files("edgewatch") / "hunt" / "queries"
BUNDLED_FILES = sorted(entry.name for entry in QUERIES_DIR.iterdir() if entry.name.endswith(".kql"))

#: The seed queries users already run in Sentinel, byte for byte (SHA-256 of the files
#: the project was given). They ship unchanged apart from the header in front.
SEED_DIGESTS = {
    "dns_responses": "7a4b940b318590728a23abca6609eec11fbca3e546af23968b26bd0c758a24e9",
    "public_outbound_tcp": "07e99b961ac99fe800fd3678015acb2849c3fc734ba3774c95bba95e25c9334c",
    "seccomp_syscalls": "2025de0b2225d3ac06f0515a0d705daef573af3fee94ef9117aec7eee0927708",
    "tls_sni": "c1da323b9d6f602d74bd46402d4877c5df3b8090b01894aaec061f4b15ec9af8",
}
SEED_DIR = Path("/work/shared/reference/seed-queries")

MITRE_LINE = (
    "// mitre: T1071.004 (Application Layer Protocol: DNS), T1105 (Ingress Tool Transfer)\n"
)
GOOD_HEADER = f"""\
// name: sample_query
// title: A sample
// finds: Something worth finding,
//   over two lines.
{MITRE_LINE}// gadgets: trace_dns, tcp

ContainerLogV2 | take 1
"""


# -- every bundled file -------------------------------------------------------------------


@pytest.mark.parametrize("filename", BUNDLED_FILES)
def test_header_format(filename: str) -> None:
    """The header is the fixed block of ``// key: value`` lines tools and people rely on."""
    text = (QUERIES_DIR / filename).read_text(encoding="utf-8")
    lines = text.splitlines()
    header = lines[: next(i for i, line in enumerate(lines) if not line.startswith("//"))]
    keys = [m.group(1) for line in header if (m := re.match(r"// (\w+): \S", line))]
    assert keys == ["name", "title", "finds", "mitre", "gadgets"], filename
    assert all(re.match(r"// (\w+: |  \S)", line) for line in header), filename
    assert not lines[len(header)].strip(), "a blank line separates the header from the query"
    assert lines[0] == f"// name: {filename.removesuffix('.kql')}"

    query = catalog.parse_query(text, QUERIES_DIR / filename)
    assert query.name == filename.removesuffix(".kql")
    assert 10 <= len(query.title) <= 80 and not query.title.endswith(".")
    assert query.finds.endswith(".") and len(query.finds) >= 60
    assert query.gadgets and all(lookup(g) is not None for g in query.gadgets)
    assert all(re.fullmatch(r"T\d{4}(\.\d{3})?", t.id) and t.name for t in query.mitre)


@pytest.mark.parametrize("filename", BUNDLED_FILES)
def test_declared_gadgets_are_the_ones_read(filename: str) -> None:
    """``gadgets`` tells a user which IG gadgets to deploy before the query can find anything."""
    query = catalog.parse_query((QUERIES_DIR / filename).read_text(), QUERIES_DIR / filename)
    read = set(re.findall(r'"(ig-[a-z]+)"', query.body))
    assert read == set(query.container_names)
    assert "ContainerLogV2" in query.body
    assert not re.search(r"\bContainerLog\b", query.body)  # v1 retires in 2026


def test_catalogue_has_seeds_and_new_hunts() -> None:
    names = catalog.names()
    assert names == sorted(names) == [f.removesuffix(".kql") for f in BUNDLED_FILES]
    assert set(SEED_DIGESTS) <= set(names)
    assert len(set(names) - set(SEED_DIGESTS)) >= 8
    for query in catalog.bundled():
        assert query.text == query.path.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(SEED_DIGESTS))
def test_seed_queries_ship_verbatim(name: str) -> None:
    body = catalog.get(name).body
    assert hashlib.sha256(body.encode()).hexdigest() == SEED_DIGESTS[name]
    original = SEED_DIR / f"{name}.kql"
    if original.exists():
        assert body == original.read_text(encoding="utf-8")


# -- header parsing -----------------------------------------------------------------------


def test_parse_query_reads_every_key() -> None:
    query = catalog.parse_query(GOOD_HEADER, Path("x/sample_query.kql"))
    assert query.title == "A sample"
    assert query.finds == "Something worth finding, over two lines."
    assert [str(t) for t in query.mitre] == [
        "T1071.004 (Application Layer Protocol: DNS)",
        "T1105 (Ingress Tool Transfer)",
    ]
    assert query.gadgets == ("trace_dns", "trace_tcp")
    assert query.container_names == ("ig-dns", "ig-tcp")
    assert query.body == "ContainerLogV2 | take 1\n"


def test_mitre_none() -> None:
    text = GOOD_HEADER.replace(MITRE_LINE, "// mitre: none\n")
    assert catalog.parse_query(text, Path("sample_query.kql")).mitre == ()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("// title: A sample\n", ""), r"bad\.kql: header is missing 'title'"),
        ((f"{MITRE_LINE}// gadgets: trace_dns, tcp\n", ""), r"missing 'mitre', 'gadgets'"),
        (("// title:", "// tittle:"), r"unknown header key 'tittle' \(did you mean 'title'\?\)"),
        (("// title: A sample", "// title: A sample\n// title: again"), r"'title' given twice"),
        (("// title: A sample", "// title:"), r"'title' has no value"),
        (("T1105 (Ingress Tool Transfer)", "lateral movement"), r"mitre must be 'none'"),
        (("trace_dns, tcp", "trace_dns, trace_nothing"), r"unknown gadget 'trace_nothing'"),
        (("// name: sample_query", "// name: other_name"), r"does not match the file name"),
        (("// name: sample_query", "// name: Sample-Query"), r"lower_snake_case"),
        (("// finds: Something", "// finds Something"), r"bad\.kql:3: expected '// key: value'"),
    ],
)
def test_header_errors_name_the_file_and_the_problem(edit: tuple[str, str], message: str) -> None:
    text = GOOD_HEADER.replace(*edit)
    with pytest.raises(CatalogError, match=message):
        catalog.parse_query(text, Path("sample_query.kql"), "queries/bad.kql")


def test_a_file_without_header_is_refused() -> None:
    with pytest.raises(CatalogError, match=r"mine\.kql: no header"):
        catalog.parse_query("ContainerLogV2\n| take 1\n", Path("mine.kql"), "mine.kql")


def test_the_header_ends_at_the_first_non_comment_line() -> None:
    text = GOOD_HEADER.replace("\nContainerLogV2", "\n// a remark, not a header key\nT")
    assert catalog.parse_query(text, Path("sample_query.kql")).body.startswith("// a remark")


# -- resolve ------------------------------------------------------------------------------


def test_resolve_a_bundled_name() -> None:
    query = catalog.get("dns_tunneling")
    assert catalog.resolve("dns_tunneling") == query.text
    assert catalog.resolve(" DNS-Tunneling ") == query.text
    assert catalog.get("dns-tunneling") is query


def test_resolve_a_kql_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.kql"
    path.write_text("ContainerLogV2 | take 3\n")
    assert catalog.resolve(str(path)) == "ContainerLogV2 | take 3\n"
    with pytest.raises(UnknownQueryError, match="no such query file"):
        catalog.resolve(str(tmp_path / "missing.kql"))
    with pytest.raises(UnknownQueryError, match="the bundled query is just 'tls_sni'"):
        catalog.resolve("tls_sni.kql")


def test_a_kql_file_named_like_a_bundled_query_is_still_the_file(tmp_path: Path) -> None:
    path = tmp_path / "top_talkers.kql"
    path.write_text("ContainerLogV2 | count\n")
    assert catalog.resolve(str(path)) == "ContainerLogV2 | count\n"


@pytest.mark.parametrize(
    "kql",
    [
        'ContainerLogV2 | where ContainerName == "ig-tcp" | take 5',
        "ContainerLogV2",
        "print x = 1",
        'ContainerLogV2\n| where LogMessage.name endswith ".kql"',
    ],
)
def test_resolve_passes_kql_through(kql: str) -> None:
    assert catalog.resolve(kql) == kql


def test_a_mistyped_name_suggests_close_ones() -> None:
    with pytest.raises(UnknownQueryError, match=r"did you mean 'dns_tunneling'") as info:
        catalog.resolve("dns_tunelling")
    assert info.value.suggestions[0] == "dns_tunneling"
    with pytest.raises(UnknownQueryError, match="did you mean 'top_talkers'"):
        catalog.get("top-talker")


def test_an_unknown_snake_case_name_lists_the_catalogue() -> None:
    with pytest.raises(UnknownQueryError, match=r"bundled queries: .*top_talkers") as info:
        catalog.resolve("xyzzy_plugh")
    assert info.value.suggestions == ()
    assert info.value.name == "xyzzy_plugh"


def test_a_bare_table_name_is_kql_when_the_store_has_that_table() -> None:
    tables = {"ContainerLogV2", "tcp_events"}
    assert catalog.resolve("tcp_events", tables) == "tcp_events"
    assert catalog.resolve("ContainerLogV2", tables) == "ContainerLogV2"
    with pytest.raises(UnknownQueryError):
        catalog.resolve("Frobnicate", tables)
