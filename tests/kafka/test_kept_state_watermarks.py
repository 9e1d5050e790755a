"""The offsets of the topic a stage keeps its state in are asked again while the partition's leader is
being elected or moving: a Match machine failed at its start on "not leader for partition" and was
restarted (seen once in a full test run). Another failure is raised at once."""

from __future__ import annotations

import pytest

from spot_seda.bus.kafkaclients import kafka_lib
from spot_seda.bus.kafkastate import KafkaBlobs

ck = kafka_lib()  # (the test command installs it: missing, this fails rather than skips)


class Probe:
    """A consumer whose first answers are these errors."""

    def __init__(self, *codes: int) -> None:
        self.codes = list(codes)
        self.asked = 0

    def get_watermark_offsets(self, tp, timeout):
        self.asked += 1
        if self.codes:
            raise ck.KafkaException(ck.KafkaError(self.codes.pop(0)))
        return (0, 7)


def blobs() -> KafkaBlobs:
    made = KafkaBlobs.__new__(KafkaBlobs)  # (no cluster: only the offsets' retry is under test)
    made._ck, made.topic = ck, "spot_seda.StageSnapshots"
    return made


@pytest.mark.parametrize("code", [ck.KafkaError.NOT_LEADER_FOR_PARTITION, ck.KafkaError.LEADER_NOT_AVAILABLE,
                                  ck.KafkaError._UNKNOWN_PARTITION])
def test_a_partition_whose_leader_is_moving_is_asked_again(code):
    probe = Probe(code, code)
    assert blobs()._watermarks(probe) == (0, 7) and probe.asked == 3


def test_another_failure_is_raised_at_once():
    probe = Probe(ck.KafkaError.TOPIC_AUTHORIZATION_FAILED)
    with pytest.raises(ck.KafkaException):
        blobs()._watermarks(probe)
    assert probe.asked == 1
