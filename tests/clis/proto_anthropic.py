"""The Anthropic Messages API (Claude Code), scripted by script.py.

Claude Code sends `POST /v1/messages?beta=true` (streaming SSE when the body
says "stream": true) for the agent loop and for side calls made with a small
model; `POST /v1/messages/count_tokens` counts tokens. Only a request that
offers the Write/Bash tools is an agent turn; any other is a side call and
gets a short plain answer.
"""

import json
import os
import re

import script

# Claude Code's system prompt has "# Environment ... - Primary working
# directory: /abs/path" on a line of its own (script.find_workdir knows only
# "Working directory:").
WORKDIR = re.compile(r"Primary working directory:[ \t]*(.+?)[ \t]*$", re.M)


def text_of(content, reminders=False):
    """The text blocks of a message's content (a string or a block list).

    Blocks Claude Code adds to user messages itself (git status, CLAUDE.md,
    attribution ...) are "<system-reminder>" text blocks: not the user's text.
    """
    if isinstance(content, str):
        return content
    return "\n".join(b.get("text", "") for b in content
                     if b.get("type") == "text" and (reminders or not b.get("text", "").startswith("<system-reminder>")))


def user_text_and_results(messages):
    """The user's own text (tool results excluded) and the tool-result count."""
    texts, results = [], 0
    for m in messages:
        if m.get("role") != "user":
            continue
        content = m.get("content")
        texts.append(text_of(content))
        if isinstance(content, list):
            results += sum(1 for b in content if b.get("type") == "tool_result")
    return "\n".join(texts), results


def turn(req):
    """The content blocks and stop reason of one agent turn."""
    user_text, results = user_text_and_results(req.get("messages", []))
    action = script.next_action(user_text, results)
    tools = {t.get("name") for t in req.get("tools", [])}
    if action.kind == "say":
        return [{"type": "text", "text": action.arg}], "end_turn"
    # Write wants an absolute file_path, so it needs the working directory
    # (stated in the system prompt, or in the first user message with
    # --exclude-dynamic-system-prompt-sections); without one, use Bash.
    everything = "\n".join(text_of(t, reminders=True) for t in
                           [req.get("system", "")] + [m.get("content", "") for m in req.get("messages", [])])
    found = WORKDIR.search(everything)
    workdir = found.group(1) if found else script.find_workdir(everything)
    if action.kind == "write" and "Write" in tools and workdir:
        name, args = "Write", {"file_path": os.path.join(workdir, action.arg), "content": action.text + "\n"}
    else:
        name, args = "Bash", {"command": script.shell_for(action), "description": "scripted step"}
    return [{"type": "tool_use", "id": f"toolu_{results + 1:04d}", "name": name, "input": args}], "tool_use"


def side_call(req):
    """A side call (no Write/Bash tools): a short plain answer.

    Claude Code 2.1.332 made none in our runs (-p, acceptEdits, Bash allowed,
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1). Older versions asked a small
    model for a Bash command's prefix; "none" there means "nothing to
    remember" and does not block the command.
    """
    system = text_of(req.get("system", ""), reminders=True).lower()
    return [{"type": "text", "text": "none" if "prefix" in system else "ok"}], "end_turn"


def sse(model, blocks, stop_reason):
    """One streamed message: message_start, a start/delta/stop per block, message_delta, message_stop."""
    events = [("message_start", {"type": "message_start", "message": {
        "id": "msg_scripted", "type": "message", "role": "assistant", "model": model, "content": [],
        "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 1, "output_tokens": 1}}})]
    for i, block in enumerate(blocks):
        if block["type"] == "text":
            start, delta = dict(block, text=""), {"type": "text_delta", "text": block["text"]}
        else:
            start, delta = dict(block, input={}), {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
        events += [("content_block_start", {"type": "content_block_start", "index": i, "content_block": start}),
                   ("content_block_delta", {"type": "content_block_delta", "index": i, "delta": delta}),
                   ("content_block_stop", {"type": "content_block_stop", "index": i})]
    events += [("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                                  "usage": {"output_tokens": 1}}),
               ("message_stop", {"type": "message_stop"})]
    return "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events)


def handle(method, path, body):
    route = path.split("?")[0]
    if method == "POST" and route == "/v1/messages/count_tokens":
        return 200, "application/json", json.dumps({"input_tokens": 1})
    if method != "POST" or route != "/v1/messages":
        return None
    req = json.loads(body or "{}")
    tools = {t.get("name") for t in req.get("tools", [])}
    blocks, stop = turn(req) if {"Write", "Bash"} & tools else side_call(req)
    model = req.get("model", "claude")
    if req.get("stream"):
        return 200, "text/event-stream", sse(model, blocks, stop)
    return 200, "application/json", json.dumps({
        "id": "msg_scripted", "type": "message", "role": "assistant", "model": model, "content": blocks,
        "stop_reason": stop, "stop_sequence": None, "usage": {"input_tokens": 1, "output_tokens": 1}})
