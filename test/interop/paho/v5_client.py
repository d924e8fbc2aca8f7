"""Eclipse Paho Python (paho-mqtt 1.6, MQTT 5) as a peer for Petrel's interop tests.

Run by test/interop/paho-python.test.ts with Debian's /usr/bin/python3:

    v5_client.py connect HOST PORT CLIENT_ID         CONNACK as JSON
    v5_client.py sub HOST PORT TOPIC COUNT           'ready' after SUBACK, then one JSON line per message
    v5_client.py pub HOST PORT TOPIC                 QoS 0, 1, 2 with properties; the acknowledgements as JSON
    v5_client.py request HOST PORT TOPIC REPLY_TOPIC one request with Response Topic and Correlation Data; the reply

Every line written is one JSON object, flushed at once. Every wait is bounded (TIMEOUT seconds):
on a timeout the script prints {"error": ...} and exits 1.
"""
import json
import sys
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

TIMEOUT = 10


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def fail(message):
    emit({"error": message})
    sys.exit(1)


def props_dict(props):
    """Properties as JSON: user properties as ordered pairs, binary data as text."""
    if props is None:
        return {}
    out = {}
    for name in ("PayloadFormatIndicator", "MessageExpiryInterval", "ContentType", "ResponseTopic",
                 "SubscriptionIdentifier", "TopicAlias", "AssignedClientIdentifier", "ServerKeepAlive",
                 "ReceiveMaximum", "TopicAliasMaximum", "MaximumPacketSize", "RetainAvailable",
                 "MaximumQoS", "SessionExpiryInterval", "SharedSubscriptionAvailable",
                 "WildcardSubscriptionAvailable", "SubscriptionIdentifierAvailable"):
        if hasattr(props, name):
            out[name] = getattr(props, name)
    if hasattr(props, "CorrelationData"):
        out["CorrelationData"] = props.CorrelationData.decode("utf-8", "replace")
    if hasattr(props, "UserProperty"):
        out["UserProperty"] = [list(p) for p in props.UserProperty]
    return out


class Peer:
    """A paho client on its own network thread, with events to wait on."""

    def __init__(self, client_id):
        self.client = mqtt.Client(client_id=client_id, protocol=mqtt.MQTTv5)
        self.connack = None
        self.connected = threading.Event()
        self.subacks = {}
        self.subscribed = threading.Event()
        self.acks = []
        self.acked = threading.Condition()
        self.messages = []
        self.arrived = threading.Condition()
        self.client.on_connect = self.on_connect
        self.client.on_subscribe = self.on_subscribe
        self.client.on_publish = self.on_publish
        self.client.on_message = self.on_message

    def on_connect(self, client, userdata, flags, reason_code, properties):
        self.connack = {
            "reasonCode": reason_code.value,
            "sessionPresent": bool(flags.get("session present")),
            "properties": props_dict(properties),
        }
        self.connected.set()

    def on_subscribe(self, client, userdata, mid, reason_codes, properties):
        self.subacks[mid] = [rc.value for rc in reason_codes]
        self.subscribed.set()

    def on_publish(self, client, userdata, mid):
        with self.acked:
            self.acks.append(mid)
            self.acked.notify_all()

    def on_message(self, client, userdata, msg):
        with self.arrived:
            self.messages.append({
                "topic": msg.topic,
                "payload": msg.payload.decode("utf-8", "replace"),
                "qos": msg.qos,
                "retain": bool(msg.retain),
                "properties": props_dict(msg.properties),
            })
            self.arrived.notify_all()

    def connect(self, host, port, properties=None):
        self.client.connect(host, int(port), keepalive=30, clean_start=True, properties=properties)
        self.client.loop_start()
        if not self.connected.wait(TIMEOUT):
            fail("no CONNACK")
        return self.connack

    def subscribe(self, topic, qos, sub_id=None):
        props = None
        if sub_id is not None:
            props = Properties(PacketTypes.SUBSCRIBE)
            props.SubscriptionIdentifier = sub_id
        self.subscribed.clear()
        self.client.subscribe(topic, options=SubscribeOptions(qos=qos), properties=props)
        if not self.subscribed.wait(TIMEOUT):
            fail("no SUBACK")
        return list(self.subacks.values())[-1]

    def wait_messages(self, count):
        deadline = time.time() + TIMEOUT
        with self.arrived:
            while len(self.messages) < count:
                left = deadline - time.time()
                if left <= 0:
                    fail("received %d of %d messages" % (len(self.messages), count))
                self.arrived.wait(left)

    def wait_acks(self, count):
        deadline = time.time() + TIMEOUT
        with self.acked:
            while len(self.acks) < count:
                left = deadline - time.time()
                if left <= 0:
                    fail("%d of %d publishes acknowledged" % (len(self.acks), count))
                self.acked.wait(left)

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


def publish_properties():
    props = Properties(PacketTypes.PUBLISH)
    props.PayloadFormatIndicator = 1
    props.ContentType = "text/plain"
    props.MessageExpiryInterval = 300
    props.ResponseTopic = "paho/reply"
    props.CorrelationData = b"corr-1"
    props.UserProperty = ("a", "1")
    props.UserProperty = ("b", "2")
    props.UserProperty = ("a", "3")
    return props


def cmd_connect(host, port, client_id):
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 30
    props.ReceiveMaximum = 10
    props.UserProperty = ("client", "paho-python")
    peer = Peer(client_id)
    emit(peer.connect(host, port, props))
    peer.close()


def cmd_sub(host, port, topic, count):
    peer = Peer("paho-sub")
    peer.connect(host, port)
    emit({"ready": True, "suback": peer.subscribe(topic, 2, sub_id=7)})
    peer.wait_messages(int(count))
    for m in peer.messages:
        emit(m)
    peer.close()


def cmd_pub(host, port, topic):
    peer = Peer("paho-pub")
    peer.connect(host, port)
    for qos in (0, 1, 2):
        peer.client.publish(topic, "paho qos %d" % qos, qos=qos, properties=publish_properties())
    peer.wait_acks(3)
    emit({"acks": len(peer.acks)})
    peer.close()


def cmd_request(host, port, topic, reply_topic):
    peer = Peer("paho-requester")
    peer.connect(host, port)
    peer.subscribe(reply_topic, 1)
    props = Properties(PacketTypes.PUBLISH)
    props.ResponseTopic = reply_topic
    props.CorrelationData = b"req-42"
    peer.client.publish(topic, "what time is it", qos=1, properties=props)
    peer.wait_messages(1)
    emit(peer.messages[0])
    peer.close()


COMMANDS = {"connect": cmd_connect, "sub": cmd_sub, "pub": cmd_pub, "request": cmd_request}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        fail("usage: v5_client.py connect|sub|pub|request HOST PORT ...")
    COMMANDS[sys.argv[1]](*sys.argv[2:])
