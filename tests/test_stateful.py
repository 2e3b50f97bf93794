"""Stateful differential testing: random sequences of note, attachment and job operations
run against both apps, each app on its own fresh database, and every reply must be the
same (compare="masked": timestamps and CSRF tokens normalised, tests/parity.py).

Each Hypothesis example is one fresh twin pair. Example count: a sixth of the active
profile's `max_examples` (at least 4), `stateful_step_count` steps each.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from tests.cases import multipart
from tests.generated import NOTE_DOCUMENTS, LoopThread, SyncTwins
from tests.parity import Reply, assert_same
from tests.support.databases import Databases

JSON = {"Content-Type": "application/json"}
TAGS = st.lists(st.sampled_from(["red", "blue", "x-1"]), max_size=3, unique=True)
VALID_NOTES = st.fixed_dictionaries(
    {"title": st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
                      min_size=1, max_size=10).filter(str.strip)},
    optional={"body": st.text(max_size=30), "tags": TAGS},
)


class TwinMachine(RuleBasedStateMachine):
    runner: LoopThread
    databases: Databases
    upstream: str

    notes = Bundle("notes")
    attachments = Bundle("attachments")
    jobs = Bundle("jobs")

    def __init__(self) -> None:
        super().__init__()
        self.pair = SyncTwins.open(self.runner, self.databases, self.upstream)
        self.etags: dict[int, str] = {}

    def teardown(self) -> None:
        self.pair.close()

    def send(self, method: str, target: str, **kwargs: Any) -> Reply:
        a, b = self.pair.both(method, target, **kwargs)
        assert a.status < 500, a
        assert b.status < 500, b
        assert_same(a, b, compare="masked")
        return a

    # ------------------------------------------------------------- notes
    @rule(target=notes, document=st.one_of(VALID_NOTES, NOTE_DOCUMENTS))
    def create(self, document: dict[str, Any]) -> Any:
        reply = self.send("POST", "/api/notes", headers=JSON, body=orjson.dumps(document))
        if reply.status != 201:
            return multiple()
        note_id = reply.json()["id"]
        self.etags[note_id] = str(reply.header("etag"))
        return note_id

    @rule(note_id=notes, conditional=st.booleans())
    def get(self, note_id: int, conditional: bool) -> None:
        headers = {"If-None-Match": self.etags[note_id]} if conditional else None
        reply = self.send("GET", f"/api/notes/{note_id}", headers=headers)
        if reply.status == 200:
            self.etags[note_id] = str(reply.header("etag"))

    @rule(note_id=notes, fresh=st.booleans(), document=st.one_of(VALID_NOTES, NOTE_DOCUMENTS),
          media=st.sampled_from(["application/json", "application/merge-patch+json"]))
    def patch(self, note_id: int, fresh: bool, document: dict[str, Any], media: str) -> None:
        etag = self.etags[note_id] if fresh else f'"{note_id}.999"'
        reply = self.send(
            "PATCH",
            f"/api/notes/{note_id}",
            headers={"Content-Type": media, "If-Match": etag},
            body=orjson.dumps(document),
        )
        if reply.status == 200:
            self.etags[note_id] = str(reply.header("etag"))

    @rule(note_id=notes)
    def like(self, note_id: int) -> None:
        reply = self.send("POST", f"/api/notes/{note_id}/likes")
        if reply.status == 200:
            revision = reply.json()["revision"]
            self.etags[note_id] = f'"{note_id}.{revision}"'

    @rule(note_id=consumes(notes), fresh=st.booleans())
    def delete(self, note_id: int, fresh: bool) -> None:
        etag = self.etags[note_id] if fresh else '"0.0"'
        self.send("DELETE", f"/api/notes/{note_id}", headers={"If-Match": etag})

    @rule(limit=st.integers(1, 5), tag=st.one_of(st.none(), st.sampled_from(["red", "blue"])))
    def list_pages(self, limit: int, tag: str | None) -> None:
        target = f"/api/notes?limit={limit}" + (f"&tag={tag}" if tag else "")
        for _ in range(20):  # follow `next` links: bounded
            reply = self.send("GET", target)
            if reply.status != 200 or reply.json()["next"] is None:
                return
            target = reply.json()["next"]

    # ------------------------------------------------------------- attachments
    @rule(target=attachments, note_id=notes, content=st.binary(min_size=1, max_size=64),
          kind=st.sampled_from([("a.txt", "text/plain"), ("b.md", "text/markdown"),
                                ("c.bin", "application/octet-stream")]))
    def upload(self, note_id: int, content: bytes, kind: tuple[str, str]) -> Any:
        headers, body = multipart(content, filename=kind[0], content_type=kind[1])
        reply = self.send("POST", f"/api/notes/{note_id}/attachments", headers=headers,
                          body=body)
        if reply.status != 201:
            return multiple()
        return (note_id, reply.json()["id"])

    @rule(attachment=attachments,
          range_=st.sampled_from([None, "bytes=0-0", "bytes=1-", "bytes=-3", "bytes=9999-"]))
    def download(self, attachment: tuple[int, int], range_: str | None) -> None:
        note_id, attachment_id = attachment
        headers = {"Range": range_} if range_ else None
        self.send("GET", f"/api/notes/{note_id}/attachments/{attachment_id}", headers=headers)

    # ------------------------------------------------------------- jobs
    @rule(target=jobs, steps=st.integers(1, 3), step_ms=st.integers(0, 5))
    def submit(self, steps: int, step_ms: int) -> Any:
        body = orjson.dumps({"kind": "sleep", "params": {"steps": steps, "step_ms": step_ms}})
        reply = self.send("POST", "/jobs", headers=JSON, body=body)
        assert reply.status == 202, reply
        job_id = reply.json()["id"]
        # Wait for the end on both, so later steps never race the job runners.
        done = self.send("GET", f"/jobs/{job_id}?wait_ms=10000")
        assert done.json()["state"] == "succeeded", done
        return job_id

    @rule(job_id=jobs)
    def job_events(self, job_id: int) -> None:
        self.send("GET", f"/jobs/{job_id}/events")

    # ------------------------------------------------------------- invariant
    @invariant()
    def same_listing(self) -> None:
        self.send("GET", "/api/notes?limit=100")


@pytest.fixture
def machine(databases: Databases, upstream_url: str) -> Iterator[type[TwinMachine]]:
    runner = LoopThread()
    TwinMachine.runner = runner
    TwinMachine.databases = databases
    TwinMachine.upstream = upstream_url
    yield TwinMachine
    runner.close()


def test_random_operation_sequences_stay_identical(machine: type[TwinMachine]) -> None:
    profile = settings()
    run_state_machine_as_test(
        machine,
        settings=settings(
            profile,
            max_examples=max(4, profile.max_examples // 6),
            stateful_step_count=min(profile.stateful_step_count, 50),
        ),
    )
