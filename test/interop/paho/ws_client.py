"""Eclipse Paho Python (paho-mqtt 1.6, MQTT 3.1.1) over WebSocket, for Petrel's interop tests.

Run by test/interop/transport-peers.test.ts with Debian's /usr/bin/python3:

    ws_client.py ws|wss HOST PORT PATH TOPIC [CAFILE]

Connects over ws:// or wss:// (verifying the server against CAFILE), subscribes to TOPIC at
QoS 1, publishes one QoS 1 message to it, and prints the message it gets back as one JSON line.
Every wait is bounded (TIMEOUT seconds): on a timeout it prints {"error": ...} and exits 1.
"""
import json
import sys
import threading

import paho.mqtt.client as mqtt

TIMEOUT = 10


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def fail(message):
    emit({"error": message})
    sys.exit(1)


def main(scheme, host, port, path, topic, cafile=None):
    client = mqtt.Client(client_id="paho-" + scheme, transport="websockets")
    client.ws_set_options(path=path)
    if scheme == "wss":
        client.tls_set(ca_certs=cafile)
    connected = threading.Event()
    subscribed = threading.Event()
    arrived = threading.Event()
    got = {}

    def on_connect(c, userdata, flags, rc):
        got["connack"] = rc
        connected.set()

    def on_message(c, userdata, msg):
        got["message"] = {"topic": msg.topic, "payload": msg.payload.decode("utf-8", "replace"), "qos": msg.qos}
        arrived.set()

    client.on_connect = on_connect
    client.on_subscribe = lambda c, u, mid, granted: subscribed.set()
    client.on_message = on_message
    client.connect(host, int(port), keepalive=30)
    client.loop_start()
    if not connected.wait(TIMEOUT):
        fail("no CONNACK")
    if got["connack"] != 0:
        fail("CONNACK %d" % got["connack"])
    client.subscribe(topic, 1)
    if not subscribed.wait(TIMEOUT):
        fail("no SUBACK")
    client.publish(topic, "paho over " + scheme, qos=1)
    if not arrived.wait(TIMEOUT):
        fail("no message back")
    emit(got["message"])
    client.disconnect()
    client.loop_stop()


if __name__ == "__main__":
    if len(sys.argv) < 6:
        fail("usage: ws_client.py ws|wss HOST PORT PATH TOPIC [CAFILE]")
    main(*sys.argv[1:])
