"""The $out/$merge read-preference rule looks only at available servers (CRUD spec)."""

from driver.execute import _secondary_write_stage_ok
from driver.read_preference import ReadPreference
from driver.sdam.description import ServerDescription, ServerType, TopologyDescription, TopologyType


def _topology(*servers: ServerDescription) -> TopologyDescription:
    return TopologyDescription(TopologyType.ReplicaSetNoPrimary, {s.address: s for s in servers}, set_name="rs")


SECONDARY_8 = ServerDescription("a:1", ServerType.RSSecondary, max_wire_version=25)


def test_possible_primary_without_wire_version_does_not_force_the_primary() -> None:
    topology = _topology(SECONDARY_8, ServerDescription("b:1", ServerType.PossiblePrimary))
    assert _secondary_write_stage_ok(ReadPreference("secondaryPreferred"), topology)


def test_an_available_pre_5_0_server_forces_the_primary() -> None:
    old = ServerDescription("b:1", ServerType.RSSecondary, max_wire_version=12)
    assert not _secondary_write_stage_ok(ReadPreference("secondaryPreferred"), _topology(SECONDARY_8, old))


def test_primary_mode_never_needs_the_rule() -> None:
    assert not _secondary_write_stage_ok(ReadPreference("primary"), _topology(SECONDARY_8))
