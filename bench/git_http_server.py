#!/usr/bin/env python3
"""A tiny smart-HTTP git server for bench/run: each request runs
`git http-backend` as a CGI program over the repositories under ROOT.

Usage: git_http_server.py ROOT
Listens on 127.0.0.1 at a free port and prints the port on its first line.
Pushes are allowed (REMOTE_USER is set). Request bodies may be chunked or
gzipped (git does both); http-backend itself undoes the gzip.

Python's own `http.server --cgi` passes neither chunked bodies nor the
Content-Encoding and Git-Protocol headers to the program, so git cannot
talk to it.
"""

import http.server
import os
import subprocess
import sys

ROOT = os.path.abspath(sys.argv[1])


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.cgi()

    def do_POST(self):
        self.cgi()

    def log_message(self, *args):
        pass

    def body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def cgi(self):
        path, _, query = self.path.partition("?")
        env = dict(os.environ)
        for name, value in self.headers.items():
            env["HTTP_" + name.upper().replace("-", "_")] = value
        env.pop("HTTP_TRANSFER_ENCODING", None)
        body = self.body() if self.command == "POST" else b""
        env.update(
            GATEWAY_INTERFACE="CGI/1.1",
            SERVER_PROTOCOL="HTTP/1.0",
            REQUEST_METHOD=self.command,
            PATH_INFO=path,
            QUERY_STRING=query,
            CONTENT_TYPE=self.headers.get("Content-Type", ""),
            CONTENT_LENGTH=str(len(body)),
            REMOTE_ADDR=self.client_address[0],
            REMOTE_USER="bench",
            GIT_PROJECT_ROOT=ROOT,
            GIT_HTTP_EXPORT_ALL="1",
        )
        out = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True).stdout
        sep = b"\r\n\r\n" if b"\r\n\r\n" in out else b"\n\n"
        head, _, rest = out.partition(sep)
        status, headers = 200, []
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(rest)))
        self.end_headers()
        self.wfile.write(rest)


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
