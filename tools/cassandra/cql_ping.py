"""Asks a CQL server for its release_version over the native protocol (v4), stdlib only.
Exit 0 and print the version when the node answers a query; exit 1 otherwise."""
import socket, struct, sys

def frame(stream, opcode, body):
    return struct.pack(">BBhBI", 0x04, 0, stream, opcode, len(body)) + body

def read_frame(sock):
    header = b""
    while len(header) < 9:
        chunk = sock.recv(9 - len(header))
        if not chunk:
            raise IOError("closed")
        header += chunk
    _, _, _, opcode, length = struct.unpack(">BBhBI", header)
    body = b""
    while len(body) < length:
        chunk = sock.recv(length - len(body))
        if not chunk:
            raise IOError("closed")
        body += chunk
    return opcode, body

def string_map(entries):
    out = struct.pack(">H", len(entries))
    for k, v in entries.items():
        out += struct.pack(">H", len(k)) + k.encode() + struct.pack(">H", len(v)) + v.encode()
    return out

def main(host, port):
    sock = socket.create_connection((host, int(port)), timeout=5)
    sock.sendall(frame(0, 0x01, string_map({"CQL_VERSION": "3.0.0"})))
    opcode, _ = read_frame(sock)
    if opcode != 0x02:  # READY
        raise IOError("not ready: opcode %d" % opcode)
    query = b"SELECT release_version FROM system.local"
    body = struct.pack(">I", len(query)) + query + struct.pack(">HB", 0x0001, 0)  # consistency ONE, no flags
    sock.sendall(frame(1, 0x07, body))
    opcode, body = read_frame(sock)
    if opcode != 0x08:  # RESULT
        raise IOError("query failed: opcode %d" % opcode)
    # Rows result: kind, metadata (flags, column count, global table spec, columns), row count, rows.
    kind, flags, ncols = struct.unpack(">iii", body[:12])
    pos = 12
    def read_string():
        nonlocal pos
        (n,) = struct.unpack(">H", body[pos:pos + 2]); pos += 2
        s = body[pos:pos + n].decode(); pos += n
        return s
    if flags & 0x0001:
        read_string(); read_string()
    for _ in range(ncols):
        if not flags & 0x0001:
            read_string(); read_string()
        read_string(); pos += 2  # name, type id
    (nrows,) = struct.unpack(">i", body[pos:pos + 4]); pos += 4
    (n,) = struct.unpack(">i", body[pos:pos + 4]); pos += 4
    print(body[pos:pos + n].decode())

try:
    main(sys.argv[1], sys.argv[2])
except Exception as e:
    print(e, file=sys.stderr)
    sys.exit(1)
