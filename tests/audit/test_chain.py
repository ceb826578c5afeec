from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from moatcode.audit.chain import ChainSummary, Link, Problem, walk_chain
from moatcode.audit.checkpoint import CheckpointSigner, signature_checker
from moatcode.audit.record import GENESIS_HASH, hash_record_dict
from tests.audit.conftest import add_checkpoint, make_chain, make_record, rechain


def links(records: list[dict[str, Any]]) -> list[Link]:
    out = []
    for position, r in enumerate(records, 1):
        error = None if hash_record_dict(r) == r["hash"] else "its hash does not match."
        checkpoint = r["data"] if r["kind"] == "checkpoint" else None
        out.append(Link(position, r["seq"], r["prev_hash"], r["hash"], r["kind"], error,
                        checkpoint))
    return out


def problem_of(records: list[dict[str, Any]], **kwargs: Any) -> Problem | None:
    kwargs.setdefault("expect_genesis", True)
    return walk_chain(links(records), **kwargs).problem


@pytest.fixture
def signer() -> CheckpointSigner:
    return CheckpointSigner.from_private_key(Ed25519PrivateKey.generate())


def test_intact_chain_summary() -> None:
    records = make_chain(10)
    assert walk_chain(links(records), expect_genesis=True) == ChainSummary(
        records=10, first_seq=1, last_seq=10, head_hash=records[-1]["hash"],
        from_genesis=True, checkpoints=0, signatures_checked=False,
        last_checkpoint_seq=None, problem=None,
    )


def test_empty_chain_is_intact() -> None:
    summary = walk_chain([], expect_genesis=True)
    assert (summary.records, summary.problem, summary.from_genesis) == (0, None, False)


def test_edited_field() -> None:
    records = make_chain(10)
    records[4]["data"] = {"message": "nothing happened"}
    assert problem_of(records) == Problem("edited", 5, 5, "its hash does not match.")


def test_edited_and_rehashed_record() -> None:
    records = make_chain(10)
    records[4]["data"] = {"message": "nothing happened"}
    records[4]["hash"] = hash_record_dict(records[4])
    assert problem_of(records) == Problem(
        "edited", 5, 5,
        "record 5 was changed and its hash recomputed: record 6 was chained to a different "
        "record.",
    )


def test_deleted_record() -> None:
    records = make_chain(10)
    del records[4]
    assert problem_of(records) == Problem("deleted", 5, 5, "record 5 is missing before record 6.")


def test_deleted_records() -> None:
    records = make_chain(10)
    del records[3:6]
    assert problem_of(records) == Problem(
        "deleted", 4, 4, "records 4 to 6 are missing before record 7."
    )


def test_deleted_head() -> None:
    records = make_chain(10)[2:]
    assert problem_of(records) == Problem(
        "deleted", 1, 1, "records 1 to 2 are missing: the store starts at 3."
    )
    assert problem_of(records, expect_genesis=False) is None


def test_inserted_record_that_breaks_the_link() -> None:
    records = make_chain(10)
    records.insert(5, make_record(6, "f" * 64, data={"message": "forged"}))
    assert problem_of(records) == Problem(
        "inserted", 6, 6, "an extra record 6 sits here: the next record links to record 5."
    )


def test_inserted_record_with_a_made_up_seq() -> None:
    records = make_chain(10)
    records.insert(5, make_record(99, records[4]["hash"], data={"message": "forged"}))
    assert problem_of(records) == Problem(
        "inserted", 99, 6, "an extra record 99 sits here: the next record links to record 5."
    )


def test_inserted_record_linked_with_a_duplicate_seq() -> None:
    records = make_chain(10)
    records.insert(5, make_record(6, records[4]["hash"], data={"message": "forged"}))
    assert problem_of(records) == Problem(
        "inserted", 6, 6,
        "the record at position 6 is an extra record 6: the chain continues from the one "
        "after it.",
    )


def test_duplicated_record() -> None:
    records = make_chain(10)
    records.insert(5, dict(records[4]))
    assert problem_of(records) == Problem("inserted", 5, 6, "a second record 5 follows record 5.")


def test_swapped_records() -> None:
    records = make_chain(10)
    records[4], records[5] = records[5], records[4]
    assert problem_of(records) == Problem("reordered", 6, 5, "record 6 comes before record 5.")


def test_swapped_far_apart() -> None:
    records = make_chain(10)
    records[2], records[7] = records[7], records[2]
    assert problem_of(records) == Problem("reordered", 8, 3, "record 8 comes before record 3.")


def test_swapped_last_two() -> None:
    records = make_chain(10)
    records[8], records[9] = records[9], records[8]
    assert problem_of(records) == Problem("reordered", 10, 9, "record 10 comes before record 9.")


def test_record_moved_back() -> None:
    records = make_chain(10)
    records.append(records.pop(2))
    assert problem_of(records) == Problem("reordered", 4, 3, "record 4 comes before record 3.")


def test_first_record_not_from_genesis() -> None:
    records = rechain([make_record(1, "a" * 64), *make_chain(3)[1:]], 1)
    records[0] = make_record(1, "a" * 64)
    assert problem_of(records) == Problem(
        "edited", 1, 1, "the first record does not start the chain (seq 1 after the genesis hash)."
    )


def test_unreadable_record_is_edited() -> None:
    records = links(make_chain(5))
    records[2] = Link(3, None, "", "", "", "line 3 is not an audit record.")
    assert walk_chain(records, expect_genesis=True).problem == Problem(
        "edited", None, 3, "line 3 is not an audit record."
    )


def test_valid_checkpoints(signer: CheckpointSigner) -> None:
    records = make_chain(10, signer=signer, checkpoint_every=4)
    summary = walk_chain(
        links(records), expect_genesis=True, check_signature=signature_checker(
            signer.private_key.public_key()
        ),
    )
    assert (summary.problem, summary.checkpoints, summary.last_checkpoint_seq) == (
        None, 3, len(records)
    )


def test_truncated_tail_with_key(signer: CheckpointSigner) -> None:
    records = make_chain(10, signer=signer, checkpoint_every=4)  # checkpoints at 5, 10, 13
    check = signature_checker(signer.private_key.public_key())
    assert [r["seq"] for r in records if r["kind"] == "checkpoint"] == [5, 10, 13]
    cut = records[:12]
    assert problem_of(cut, check_signature=check) == Problem(
        "truncated", 11, 12,
        "records 11 to 12 come after the last valid checkpoint (10): the log was cut off and "
        "perhaps re-chained, or the last session is still running or was killed before it "
        "closed.",
    )


def test_truncated_tail_without_key_once_checkpoints_exist(signer: CheckpointSigner) -> None:
    records = make_chain(10, signer=signer, checkpoint_every=4)[:12]
    problem = problem_of(records)
    assert problem is not None and (problem.kind, problem.seq) == ("truncated", 11)
    assert problem_of(make_chain(10)) is None  # no checkpoints at all: nothing to go by


def test_rechained_tail_without_the_key(signer: CheckpointSigner) -> None:
    records = make_chain(10, signer=signer, checkpoint_every=4)
    check = signature_checker(signer.private_key.public_key())
    # Cut after record 7, make up three records and re-chain them; no key to sign with.
    forged = records[:7] + [make_record(0, GENESIS_HASH, data={"message": "fine"})] * 3
    forged = rechain(forged, 7)
    expected = Problem(
        "truncated", 6, 10,
        "records 6 to 10 come after the last valid checkpoint (5): the log was cut off and "
        "perhaps re-chained, or the last session is still running or was killed before it "
        "closed.",
    )
    assert problem_of(forged, check_signature=check) == expected
    assert problem_of(forged) == expected  # the earlier checkpoint shows the tail is open


def test_rechained_tail_with_a_checkpoint_signed_by_another_key(
    signer: CheckpointSigner,
) -> None:
    records = make_chain(10, signer=signer, checkpoint_every=4)
    check = signature_checker(signer.private_key.public_key())
    forged = rechain(records[:7] + [make_record(0, GENESIS_HASH)] * 2, 7)
    intruder = CheckpointSigner.from_private_key(Ed25519PrivateKey.generate())
    add_checkpoint(forged, intruder)
    assert problem_of(forged) is None  # without the key, a forged checkpoint looks fine
    assert problem_of(forged, check_signature=check) == Problem(
        "forged_checkpoint", 10, 10,
        f"checkpoint 10: it names key {intruder.key_id!r}, not the given key {signer.key_id}.",
    )


def test_checkpoint_with_a_bad_signature(signer: CheckpointSigner) -> None:
    records = make_chain(4, signer=signer)
    data = dict(records[-1]["data"])
    data["signature"] = ("00" if data["signature"][:2] != "00" else "11") + data["signature"][2:]
    records[-1]["data"] = data
    records = rechain(records, 4)
    check = signature_checker(signer.private_key.public_key())
    assert problem_of(records, check_signature=check) == Problem(
        "forged_checkpoint", 5, 5, "checkpoint 5: its signature does not verify with the given key."
    )


def test_checkpoint_must_sign_the_record_before_it(signer: CheckpointSigner) -> None:
    records = make_chain(4)
    data = signer.sign(2, records[1]["hash"])  # signs an older record
    records.append(make_record(5, records[-1]["hash"], kind="checkpoint", data=data))
    assert problem_of(records) == Problem(
        "forged_checkpoint", 5, 5, "checkpoint 5 does not sign the record before it."
    )


def test_checkpoints_counted_even_when_a_later_record_is_bad(signer: CheckpointSigner) -> None:
    records = make_chain(8, signer=signer, checkpoint_every=4)
    records[-2]["data"] = {"message": "changed"}
    summary = walk_chain(links(records), expect_genesis=True)
    assert (summary.checkpoints, summary.records, summary.problem is not None) == (
        1, len(records), True
    )


def test_whole_log_rewritten_without_the_key(signer: CheckpointSigner) -> None:
    records = make_chain(10, signer=signer, checkpoint_every=4)
    check = signature_checker(signer.private_key.public_key())
    forged = rechain([make_record(0, GENESIS_HASH)] * 3, 0)
    assert problem_of(forged) is None  # nothing to go by without a key
    assert problem_of(forged, check_signature=check) == Problem(
        "truncated", 1, 3,
        "records 1 to 3 are not covered by any valid checkpoint: the log was cut off and "
        "perhaps re-chained, or the last session is still running or was killed before it "
        "closed.",
    )
    assert records[0]["hash"] != forged[0]["hash"]
