#!/usr/bin/env python3
"""An HTTP client for the dashboard/API tests (tests/cli/web_*.sh).

  web_client.py URL [--cert PEM] [--ca PEM] [--method M] [--body TEXT]
              [--header 'K: V']... [--headers]
prints the status code on the first line, then the body (with --headers,
the response headers first, one per line, then an empty line). A TLS or
connection failure prints 'ERR <why>' and exits 3. Timeout: 30 s.

  web_client.py --raw HOST PORT BYTES...   send the bytes (Python escapes
allowed: '\\r\\n'), one write each, and print what comes back until the
server closes or 10 s pass.
"""
import http.client
import socket
import ssl
import sys
import urllib.parse


def raw(host, port, parts):
    s = socket.create_connection((host, int(port)), timeout=10)
    try:
        for p in parts:
            s.sendall(p.encode().decode('unicode_escape').encode('latin-1'))
    except OSError:
        pass  # the server may answer and close before taking it all
    out = b''
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
    except socket.timeout:
        out += b'\n[timeout]'
    sys.stdout.write(out.decode('utf-8', 'replace'))


def main(a):
    if a and a[0] == '--raw':
        raw(a[1], a[2], a[3:])
        return 0
    url, cert, ca, method, body, headers, show = a[0], None, None, 'GET', None, {}, False
    i = 1
    while i < len(a):
        if a[i] == '--cert':
            cert = a[i + 1]; i += 2
        elif a[i] == '--ca':
            ca = a[i + 1]; i += 2
        elif a[i] == '--method':
            method = a[i + 1]; i += 2
        elif a[i] == '--body':
            body = a[i + 1]; i += 2
        elif a[i] == '--header':
            k, v = a[i + 1].split(':', 1); headers[k.strip()] = v.strip(); i += 2
        elif a[i] == '--headers':
            show = True; i += 1
        else:
            raise SystemExit('web_client.py: unknown option ' + a[i])
    u = urllib.parse.urlsplit(url)
    try:
        if u.scheme == 'https':
            ctx = ssl.create_default_context(cafile=ca)
            ctx.check_hostname = False
            if cert:
                ctx.load_cert_chain(cert)
            c = http.client.HTTPSConnection(u.hostname, u.port, context=ctx, timeout=30)
        else:
            c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        path = u.path + ('?' + u.query if u.query else '')
        c.request(method, path, body=body, headers=headers)
        r = c.getresponse()
        data = r.read()
    except (OSError, ssl.SSLError, http.client.HTTPException) as e:
        print('ERR', type(e).__name__, e)
        return 3
    print(r.status)
    if show:
        for k, v in r.getheaders():
            print(f'{k}: {v}')
        print()
    sys.stdout.write(data.decode('utf-8', 'replace'))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
