"""The OpenAI Responses API as Codex CLI speaks it (POST /v1/responses).

Codex sends the whole conversation in `input` on every turn (store=false, no
previous_response_id): the prompt is a {"type":"message","role":"user"} item
with "input_text" parts; our earlier tool calls come back as function_call /
custom_tool_call items and their results as function_call_output /
custom_tool_call_output items. Codex also sends its own context as role
"user" messages: "# AGENTS.md instructions for DIR" (the repo's AGENTS.md) and
"<environment_context>" (holding <cwd>DIR</cwd>, which script.find_workdir
reads); those are not the user's text and are skipped.

The answer is an SSE stream (sent whole): response.created,
response.output_item.added/done per output item, response.completed with an
id and usage. Tools: a model Codex knows (e.g. gpt-5.5) gets a freeform
`apply_patch` tool (used for writes) and `exec_command` {"cmd"}; an unknown
model name gets only `exec_command` (writes then go through the shell). Both
resolve relative paths against the session cwd, the worktree.
"""

import json
import itertools

import script

_ids = itertools.count(1)


# User-role messages that Codex itself adds (context, not the user's text).
CODEX_CONTEXT = ("# AGENTS.md instructions for ", "<environment_context>", "<user_instructions>")


def _user_text(items):
    """The text of the user messages (not developer preamble, Codex context or tool output)."""
    parts = []
    for item in items:
        if item.get("type", "message") == "message" and item.get("role") == "user":
            content = item.get("content")
            if isinstance(content, str):
                content = [{"text": content}]
            for c in content or []:
                text = c.get("text", "") if isinstance(c, dict) else ""
                if not text.lstrip().startswith(CODEX_CONTEXT):
                    parts.append(text)
    return "\n".join(parts)


def _tool_call(tools, action):
    """The output item performing `action` with the tools Codex offered."""
    names = {t.get("name") for t in tools if isinstance(t, dict)}
    n = next(_ids)
    if action.kind == "write" and "apply_patch" in names:
        # A "custom" (freeform) tool: the call carries raw text in `input`, not JSON
        # arguments, and its result comes back as a custom_tool_call_output item.
        # An Add File hunk also replaces a file that exists; the path is relative to cwd.
        lines = "".join(f"+{line}\n" for line in action.text.split("\n"))
        patch = f"*** Begin Patch\n*** Add File: {action.arg}\n{lines}*** End Patch\n"
        return {"type": "custom_tool_call", "id": f"ctc_{n}", "call_id": f"call_{n}",
                "name": "apply_patch", "input": patch, "status": "completed"}
    command = script.shell_for(action)
    if "exec_command" in names or "shell" not in names:
        name, args = "exec_command", {"cmd": command}
    else:
        name, args = "shell", {"command": ["bash", "-lc", command]}
    return {"type": "function_call", "id": f"fc_{n}", "call_id": f"call_{n}",
            "name": name, "arguments": json.dumps(args)}


def _message(text):
    n = next(_ids)
    return {"type": "message", "id": f"msg_{n}", "role": "assistant", "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": []}]}


def _sse(items, model):
    rid = f"resp_{next(_ids)}"
    events = [("response.created", {"response": {"id": rid, "status": "in_progress", "model": model}})]
    for i, item in enumerate(items):
        events.append(("response.output_item.added", {"output_index": i, "item": item}))
        if item["type"] == "message":
            events.append(("response.output_text.delta", {"output_index": i, "item_id": item["id"],
                                                          "content_index": 0,
                                                          "delta": item["content"][0]["text"]}))
        events.append(("response.output_item.done", {"output_index": i, "item": item}))
    usage = {"input_tokens": 10, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 5,
             "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 15}
    events.append(("response.completed", {"response": {"id": rid, "status": "completed",
                                                       "model": model, "output": items,
                                                       "usage": usage}}))
    return "".join(f"event: {t}\ndata: {json.dumps(dict(type=t, **d))}\n\n" for t, d in events)


def handle(method, path, body):
    # Codex exec 0.171 with a custom provider sends nothing else (no GET /v1/models,
    # no title or token-count calls); GET /models is left to the chat protocol.
    if method != "POST" or not path.split("?")[0].endswith("/responses"):
        return None
    req = json.loads(body or "{}")
    if "input" not in req:
        return None
    items = req["input"] if isinstance(req["input"], list) else [
        {"type": "message", "role": "user", "content": req["input"]}]
    results = sum(1 for i in items if i.get("type") in ("function_call_output", "custom_tool_call_output"))
    action = script.next_action(_user_text(items), results)
    if action.kind == "say":
        out = _message(action.arg)
    else:
        out = _tool_call(req.get("tools") or [], action)
    return 200, "text/event-stream", _sse([out], req.get("model", "scripted"))
