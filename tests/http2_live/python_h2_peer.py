#!/usr/bin/python3
"""An HTTP/2 peer on python-h2 (a pure-Python HTTP/2 stack), for live interop
with tools/h2_peer over plaintext h2c with prior knowledge.

  python_h2_peer.py server
      Listens on 127.0.0.1 (a free port), prints "LISTENING 127.0.0.1:PORT",
      and serves what h2_peer's server serves: GET /bytes/N answers N bytes of
      the pattern (seed 0), POST to any path echoes the body. Runs until
      killed.

  python_h2_peer.py client --port=PORT [--get=SIZES] [--echo=SIZES]
                    [--repeat=N] [--concurrent=N]
      GETs /bytes/N and POSTs N-byte pattern bodies to /echo (a seed per
      request) on one connection, up to --concurrent streams at once, and
      checks every status, length and byte. Prints one line,
      "python-h2 client: OK ..." or "python-h2 client: FAIL ...", and exits
      0 or 1.

The pattern is tools/h2_peer/pattern.h's: byte i of the body with seed s is
(7*i + 13*(i >> 8) + 29*(i >> 16) + 101*s) mod 256.
"""

import argparse
import socket
import sys
import threading
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions

# A row of 256 pattern bytes is 7*l (l = i mod 256) plus a per-row constant.
_ROW = bytes((7 * l) & 0xFF for l in range(256))
_ADD = [bytes((b + k) & 0xFF for b in range(256)) for k in range(256)]

# READ_SIZE: bytes read from the socket at a time.
READ_SIZE = 65536
# TIMEOUT_S: a socket that stays silent this long means a stuck peer.
TIMEOUT_S = 30


def pattern(seed, offset, n):
    """Returns the body bytes [offset, offset + n) of the pattern with seed."""
    out = bytearray()
    i, end = offset, offset + n
    while i < end:
        row_start = i & ~0xFF
        base = (13 * ((i >> 8) & 0xFF) + 29 * ((i >> 16) & 0xFF) + 101 * seed) & 0xFF
        row = _ROW.translate(_ADD[base])
        hi = min(256, end - row_start)
        out += row[i - row_start:hi]
        i = row_start + hi
    return bytes(out)


def parse_sizes(text):
    sizes = []
    for item in filter(None, (text or "").split(",")):
        unit = 1
        if item[-1] in "kK":
            unit, item = 1024, item[:-1]
        elif item[-1] in "mM":
            unit, item = 1 << 20, item[:-1]
        sizes.append(int(item) * unit)
    return sizes


class Sender:
    """Pending outgoing bodies, sent as the peer's windows allow."""

    def __init__(self, conn):
        self.conn = conn
        self.bodies = {}  # stream id -> [bytes or bytearray, offset, end_stream]

    def add(self, stream_id, body, end_stream=True):
        self.bodies[stream_id] = [body, 0, end_stream]

    def pump(self):
        for stream_id in list(self.bodies):
            body, off, end = self.bodies[stream_id]
            while off < len(body):
                try:
                    window = self.conn.local_flow_control_window(stream_id)
                except h2.exceptions.StreamClosedError:
                    del self.bodies[stream_id]
                    break
                n = min(window, self.conn.max_outbound_frame_size, len(body) - off)
                if n <= 0:
                    break
                last = off + n == len(body)
                self.conn.send_data(stream_id, bytes(body[off:off + n]),
                                    end_stream=last and end)
                off += n
            else:
                if len(body) == 0 and end:
                    self.conn.send_data(stream_id, b"", end_stream=True)
                self.bodies.pop(stream_id, None)
                continue
            if stream_id in self.bodies:
                self.bodies[stream_id][1] = off


def serve_connection(sock):
    sock.settimeout(TIMEOUT_S)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    conn.initiate_connection()
    sender = Sender(conn)
    echoes = {}  # stream id -> bytearray received so far
    try:
        sock.sendall(conn.data_to_send())
        while True:
            data = sock.recv(READ_SIZE)
            if not data:
                break
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.RequestReceived):
                    headers = {k.decode(): v.decode() for k, v in event.headers}
                    method, path = headers.get(":method"), headers.get(":path", "")
                    path = path.split("?", 1)[0]
                    sid = event.stream_id
                    if method == "POST":
                        conn.send_headers(sid, [(":status", "200"),
                                                ("content-type", "application/octet-stream")])
                        echoes[sid] = bytearray()
                    elif method == "GET" and path.startswith("/bytes/") and \
                            path[len("/bytes/"):].isdigit():
                        n = int(path[len("/bytes/"):])
                        conn.send_headers(sid, [(":status", "200"),
                                                ("content-length", str(n))],
                                          end_stream=n == 0)
                        if n:
                            sender.add(sid, pattern(0, 0, n))
                    else:
                        conn.send_headers(sid, [(":status", "404")], end_stream=True)
                elif isinstance(event, h2.events.DataReceived):
                    if event.stream_id in echoes:
                        echoes[event.stream_id] += event.data
                    conn.acknowledge_received_data(event.flow_controlled_length,
                                                   event.stream_id)
                elif isinstance(event, h2.events.StreamEnded):
                    body = echoes.pop(event.stream_id, None)
                    if body is not None:
                        sender.add(event.stream_id, body)
                elif isinstance(event, h2.events.ConnectionTerminated):
                    sock.sendall(conn.data_to_send())
                    return
            sender.pump()
            sock.sendall(conn.data_to_send())
    except (OSError, h2.exceptions.ProtocolError) as e:
        print("python-h2 server: connection error: %r" % (e,), file=sys.stderr, flush=True)
    finally:
        sock.close()


def run_server():
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    print("LISTENING 127.0.0.1:%d" % listener.getsockname()[1], flush=True)
    while True:
        sock, _ = listener.accept()
        threading.Thread(target=serve_connection, args=(sock,), daemon=True).start()


def run_client(args):
    requests = []  # (method, path, body or None, expected body)
    for _ in range(args.repeat):
        for n in parse_sizes(args.get):
            requests.append(("GET", "/bytes/%d" % n, None, n, 0))
        for n in parse_sizes(args.echo):
            seed = len(requests) + 1
            requests.append(("POST", "/echo", pattern(seed, 0, n), n, seed))
    sock = socket.create_connection(("127.0.0.1", args.port), timeout=TIMEOUT_S)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    sender = Sender(conn)
    waiting = list(reversed(range(len(requests))))
    in_flight = {}  # stream id -> [request index, status, bytearray]
    passed, failures, verified, most = 0, [], 0, 0
    settings_seen = False
    start = time.monotonic()
    while waiting or in_flight:
        limit = min(args.concurrent, conn.remote_settings.max_concurrent_streams)
        while settings_seen and waiting and len(in_flight) < limit:
            index = waiting.pop()
            method, path, body, _, _ = requests[index]
            sid = conn.get_next_available_stream_id()
            headers = [(":method", method), (":scheme", "http"), (":path", path),
                       (":authority", "127.0.0.1:%d" % args.port)]
            if body is not None:
                headers.append(("content-length", str(len(body))))
            conn.send_headers(sid, headers, end_stream=body is None or len(body) == 0)
            if body:
                sender.add(sid, body)
            in_flight[sid] = [index, None, bytearray()]
            most = max(most, len(in_flight))
        sender.pump()
        sock.sendall(conn.data_to_send())
        data = sock.recv(READ_SIZE)
        if not data:
            failures.append("connection closed with %d requests open" % len(in_flight))
            break
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.RemoteSettingsChanged):
                settings_seen = True
            elif isinstance(event, h2.events.ResponseReceived):
                status = dict(event.headers).get(b":status", b"").decode()
                in_flight[event.stream_id][1] = status
            elif isinstance(event, h2.events.DataReceived):
                in_flight[event.stream_id][2] += event.data
                conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                index, status, got = in_flight.pop(event.stream_id)
                method, path, _, n, seed = requests[index]
                if status != "200":
                    failures.append("%s %s: status %s" % (method, path, status))
                elif len(got) != n:
                    failures.append("%s %s: %d body bytes, want %d" % (method, path, len(got), n))
                elif got != pattern(seed, 0, n):
                    failures.append("%s %s: body differs from the pattern" % (method, path))
                else:
                    passed += 1
                    verified += n
            elif isinstance(event, h2.events.StreamReset):
                index, _, _ = in_flight.pop(event.stream_id)
                failures.append("%s %s: reset, code %d" % (requests[index][0], requests[index][1],
                                                          event.error_code))
            elif isinstance(event, h2.events.ConnectionTerminated):
                failures.append("GOAWAY, code %d" % event.error_code)
                waiting, in_flight = [], {}
    conn.close_connection()
    try:
        sock.sendall(conn.data_to_send())
    except OSError:
        pass
    sock.close()
    elapsed = time.monotonic() - start
    if failures or passed != len(requests):
        print("python-h2 client: FAIL %d of %d requests: %s" %
              (len(requests) - passed, len(requests), failures[0] if failures else "?"),
              flush=True)
        return 1
    print("python-h2 client: OK %d requests, %d body bytes verified, at most %d streams at "
          "once, %.3f s" % (passed, verified, most, elapsed), flush=True)
    return 0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["server", "client"])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--get", default="")
    parser.add_argument("--echo", default="")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--concurrent", type=int, default=10)
    args = parser.parse_args()
    if args.mode == "server":
        run_server()
        return 0
    try:
        return run_client(args)
    except (OSError, h2.exceptions.ProtocolError) as e:
        print("python-h2 client: FAIL %r" % (e,), flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
