"""The node runtime's promises that no single node shows: a stuck node says so."""

from __future__ import annotations

import threading

from scantalk.contract import OFFLINE, ONLINE, NodeName, Topics
from scantalk.counters import RuntimeCounter
from scantalk.runtime import Node
from scantalk.settings import Settings
from testbench.bus import wait_online


def test_a_node_whose_handler_is_stuck_shows_offline_until_it_works_again(broker, bus):
    settings = Settings.load({"SCANTALK_MQTT_PORT": str(broker.port)})
    node = Node(NodeName.VOICE, settings, hung_after_s=1)
    release = threading.Event()
    node.subscribe(Topics("lane-1").repeat, lambda _message: release.wait(30))
    running = threading.Thread(target=node.run)
    running.start()
    status = Topics("lane-1").status(NodeName.VOICE)
    try:
        wait_online(bus, "voice")
        bus.publish(Topics("lane-1").repeat, b"press")  # the handler never returns by itself
        bus.wait_for(status, lambda h: h.payload == OFFLINE)
        assert node.counters()[RuntimeCounter.HUNG] == 1
        release.set()
        bus.wait_for(status, lambda h: h.payload == ONLINE, count=2)
    finally:
        release.set()
        node.stop()
        running.join(10)
    bus.wait_for(status, lambda h: h.payload == OFFLINE, count=2)  # a clean stop says so, too
