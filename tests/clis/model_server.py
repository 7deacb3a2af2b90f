#!/usr/bin/env python3
"""A scripted model server for the end-to-end preset tests.

The real agent CLIs (Claude Code, Codex, Gemini CLI, aider) talk to it on
127.0.0.1 as if it were their provider's API. What the "model" does is
scripted by directive lines in the task's prompt, so a test plan decides the
edits:

    model: write PATH TEXT        create PATH (relative to the agent's worktree) holding TEXT
    model: run COMMAND            run COMMAND with the CLI's shell tool
    model: say TEXT               answer TEXT and stop (the default last step)
    model: first-try write ...    only when the brief has no "Previous attempt" section
    model: retry write ...        only when it has one

TEXT may use \\n for a newline. Directives are read from user messages only
(never from tool output) and played one per model turn: the number of tool
results already in the conversation says which one is next.

Every request is appended as one JSON line ({"method", "path", "body"}) to
the --log file, so a test can assert what the CLI sent. CONNECT (an
HTTPS proxy request) is refused: HTTP(S)_PROXY point here so that nothing
a CLI tries to reach elsewhere leaves the machine.

Usage: model_server.py --log FILE   (prints "PORT\\n" once listening)
"""

import argparse
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, __file__.rpartition("/")[0] or ".")
import proto_anthropic
import proto_gemini
import proto_openai_chat
import proto_openai_responses

PROTOCOLS = [proto_anthropic, proto_openai_responses, proto_gemini, proto_openai_chat]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    log_lock = threading.Lock()
    log_path = None

    def log_message(self, *args):
        pass

    def record(self, body):
        with self.log_lock, open(self.log_path, "a") as f:
            f.write(json.dumps({"method": self.command, "path": self.path, "body": body}) + "\n")

    def reply(self, status, content_type, payload):
        data = payload.encode() if isinstance(payload, str) else payload
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        self.record(body)
        for proto in PROTOCOLS:
            answer = proto.handle(self.command, self.path, body)
            if answer is not None:
                status, content_type, payload = answer
                return self.reply(status, content_type, payload)
        self.reply(404, "application/json", json.dumps({"error": f"no scripted answer for {self.path}"}))

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = handle_any

    def do_CONNECT(self):
        self.record("")
        self.reply(403, "text/plain", "the scripted model server reaches nothing outside 127.0.0.1\n")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--log", required=True)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    Handler.log_path = args.log
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
