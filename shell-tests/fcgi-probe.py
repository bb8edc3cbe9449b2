#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""fcgi-probe.py SOCKET MODE: talks to one worker's FastCGI socket directly,
as a peer other than lighttpd would.

  silent    connect and close without sending a byte
  garbage   send bytes that are no FastCGI record (an HTTP request line),
            then wait up to 5 s for the worker to close the connection;
            exit 1 if it does not
  healthz   a well-formed FastCGI GET /healthz; prints the Status line the
            worker answers (exit 1 on no answer within 5 s)
  keepconn  two GET /healthz on one connection with FCGI_KEEP_CONN (as
            mod_proxy_fcgi with connection reuse sends them); prints both
            Status lines
"""
import socket
import struct
import sys


def record(typ, content, req_id=1):
    pad = (8 - len(content) % 8) % 8
    return struct.pack('>BBHHBB', 1, typ, req_id, len(content), pad, 0) + content + b'\0' * pad


def pair(name, value):
    def ln(n):
        return bytes([n]) if n < 128 else struct.pack('>I', n | 0x80000000)
    return ln(len(name)) + ln(len(value)) + name + value


def main():
    path, mode = sys.argv[1], sys.argv[2]
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.settimeout(5)
    c.connect(path)
    if mode == 'silent':
        c.close()
        return 0
    if mode == 'garbage':
        c.sendall(b'GET /healthz HTTP/1.0\r\n\r\n')
        try:
            while c.recv(4096):
                pass
        except ConnectionResetError:
            pass
        except socket.timeout:
            print('the worker kept the connection open', file=sys.stderr)
            return 1
        return 0
    for keep in ([1, 1] if mode == 'keepconn' else [0]):
        status = ask_healthz(c, keep)
        if not status:
            return 1
        print(status)
    c.close()
    return 0


def ask_healthz(c, keep):
    """One GET /healthz on c (FCGI_KEEP_CONN when keep); its Status line,
    read up to the request's FCGI_END_REQUEST (or EOF), or None."""
    params = b''.join(pair(k.encode(), v.encode()) for k, v in [
        ('REQUEST_METHOD', 'GET'), ('REQUEST_URI', '/healthz'), ('SCRIPT_NAME', '/healthz'),
        ('SERVER_PROTOCOL', 'HTTP/1.1'), ('REMOTE_ADDR', '127.0.0.1'), ('CONTENT_LENGTH', '0')])
    c.sendall(record(1, struct.pack('>HB5x', 1, keep)) + record(4, params) + record(4, b'') +
              record(5, b''))
    out, body, ended = b'', b'', False
    try:
        while not ended:
            # FCGI_STDOUT records (type 6) carry the CGI answer; type 3 ends it
            while len(out) >= 8:
                _, typ, _, n, pad, _ = struct.unpack('>BBHHBB', out[:8])
                if len(out) < 8 + n + pad:
                    break
                if typ == 6:
                    body += out[8:8 + n]
                ended = ended or typ == 3
                out = out[8 + n + pad:]
            if ended:
                break
            b = c.recv(65536)
            if not b:
                break
            out += b
    except socket.timeout:
        pass
    status = [l for l in body.split(b'\r\n') if l.lower().startswith(b'status:')]
    if not status:
        print('no answer: %r' % body[:200], file=sys.stderr)
        return None
    return status[0].decode()


sys.exit(main())
