"""Bad uploads are rejected with row-level errors, cost no quota and change nothing."""

from __future__ import annotations

import gzip

import pytest
from sqlalchemy import func, select

from geoarena import leaderboard as lb
from geoarena.evaluator import InputError
from geoarena.leaderboard.schema import AuditEntry, Blob, Job, Submission
from geoarena.leaderboard.settings import Settings

from .factories import HEADER, make_arena, synthetic


def _counts(db) -> tuple[int, int, int, int]:
    with db.session() as s:
        return tuple(
            s.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (Submission, Job, Blob, AuditEntry)
        )


def _first_image(truth: bytes) -> str:
    return truth.decode().splitlines()[1].split(",")[0]


def _reject(arena, data: bytes, **kwargs) -> InputError:
    before = _counts(arena.db)
    with pytest.raises(InputError) as info:
        lb.submit(
            arena.db,
            principal=arena.members["alpha"],
            slug=arena.slug,
            data=data,
            filename="preds.csv",
            **kwargs,
        )
    assert _counts(arena.db) == before, "a rejected upload must leave the database unchanged"
    quota = lb.get_quota(arena.db, principal=arena.members["alpha"], slug=arena.slug)
    assert quota.total_used == 0
    return info.value


@pytest.fixture
def arena(db):
    return make_arena(db)


def test_empty_file(arena) -> None:
    err = _reject(arena, b"")
    assert err.problems[0].reason == "file is empty"
    assert err.problems[0].file == "preds.csv"
    assert _reject(arena, b"  \n\n").problems[0].reason == "file is empty"


def test_binary_file(arena) -> None:
    err = _reject(arena, HEADER.encode() + b"\x00\x01\x02garbage\n")
    assert err.problems[0].line == 2
    assert "binary" in err.problems[0].reason


def test_wrong_encoding(arena) -> None:
    image = _first_image(arena.truth)
    data = (HEADER + f'{image},1,"POLYGON ((0 0, 5 0, 5 5, 0 0))",1\n').encode()
    data += "Zürich,2,POLYGON EMPTY,1\n".encode("latin-1")
    err = _reject(arena, data)
    assert err.problems[0].line == 3
    assert "UTF-8" in err.problems[0].reason


def test_header_and_wkt_errors_name_line_and_column(arena) -> None:
    image = _first_image(arena.truth)
    data = (
        HEADER
        + f'{image},1,"POLYGON ((0 0, 9 0, 9 9, 0 9, 0 0))",0.9\n'
        + f"{image},2,NOT A POLYGON,0.5\n"
        + f'{image},3,"LINESTRING (0 0, 1 1)",0.5\n'
    ).encode()
    err = _reject(arena, data)
    lines = {e.line for e in err.problems}
    assert {3, 4} <= lines
    assert all(e.column == "PolygonWKT_Pix" for e in err.problems if e.line in (3, 4))
    bad_header = _reject(arena, b"Image,Id,Wkt\nx,1,POLYGON EMPTY\n")
    assert bad_header.problems[0].line in (0, 1)


def test_unknown_image_ids(arena) -> None:
    data = (HEADER + 'AOI_9_Nowhere_img1,1,"POLYGON ((0 0, 9 0, 9 9, 0 9, 0 0))",1\n').encode()
    err = _reject(arena, data)
    assert err.problems[0].column == "ImageId"
    assert "not in this phase" in err.problems[0].reason


def test_duplicate_rows(arena) -> None:
    image = _first_image(arena.truth)
    row = f'{image},7,"POLYGON ((0 0, 9 0, 9 9, 0 9, 0 0))",1\n'
    err = _reject(arena, (HEADER + row + row).encode())
    assert err.problems[0].line == 3
    assert "duplicate" in err.problems[0].reason and "line 2" in err.problems[0].reason


def test_only_the_first_50_errors_with_a_count_of_the_rest(arena) -> None:
    rows = "".join(f"AOI_9_Nowhere_img{i},1,POLYGON EMPTY,1\n" for i in range(120))
    err = _reject(arena, (HEADER + rows).encode())
    assert len(err.problems) == 50
    assert err.total == 120
    assert "and 70 more" in str(err)


def test_vertex_limit(arena) -> None:
    image = _first_image(arena.truth)
    ring = ", ".join(f"{i % 50} {i // 50}" for i in range(300)) + ", 0 0"
    data = (HEADER + f'{image},1,"POLYGON (({ring}))",1\n').encode()
    settings = Settings(max_vertices=100)
    err = _reject(arena, data, settings=settings)
    assert err.problems[0].line == 2


def test_size_limit(arena) -> None:
    _, props = synthetic()
    settings = Settings(max_upload_bytes=len(props) - 1)
    err = _reject(arena, props, settings=settings)
    assert "limit" in err.problems[0].reason


def test_gzip_bomb_is_capped(arena) -> None:
    bomb = gzip.compress(HEADER.encode() + b"x" * 5_000_000)
    err = _reject(arena, bomb, settings=Settings(max_upload_bytes=1_000_000))
    assert "decompressed size" in err.problems[0].reason


def test_gzip_upload_is_accepted(arena) -> None:
    _, props = synthetic()
    view = lb.submit(
        arena.db,
        principal=arena.members["alpha"],
        slug=arena.slug,
        data=gzip.compress(props),
        filename="preds.csv.gz",
    )
    assert view.status == "queued"
    assert view.size == len(props)  # the plain CSV is what is stored


def test_utf16_gets_a_clear_message(arena) -> None:
    err = _reject(arena, (HEADER + "x,1,POLYGON EMPTY,1\n").encode("utf-16"))
    assert "UTF-16" in err.problems[0].reason


def test_header_only_file_is_rejected(arena) -> None:
    err = _reject(arena, HEADER.encode())
    assert err.problems[0].line in (0, 1)


def test_polygon_with_thousands_of_vertices_is_accepted(arena) -> None:
    """One WKT field far above the csv module's default 128 KiB field limit."""
    import math

    image = _first_image(arena.truth)
    ring = [
        f"{100 + 50 * math.cos(t / 9000 * 2 * math.pi):.4f} "
        f"{100 + 50 * math.sin(t / 9000 * 2 * math.pi):.4f}"
        for t in range(9000)
    ]
    data = (HEADER + f'{image},1,"POLYGON (({", ".join([*ring, ring[0]])}))",1\n').encode()
    assert len(data) > 131072
    view = lb.submit(arena.db, principal=arena.members["alpha"], slug=arena.slug, data=data)
    assert view.status == "queued"
