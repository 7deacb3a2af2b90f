"""The Gemini API (Gemini CLI), scripted by script.py.

Gemini CLI (GOOGLE_GEMINI_BASE_URL=http://127.0.0.1:PORT, GEMINI_API_KEY=any)
sends `POST /v1beta/models/MODEL:streamGenerateContent?alt=sse` for agent
turns (the model's whole answer as one SSE event), and
`POST /v1beta/models/MODEL:generateContent` in JSON mode for side calls with
no tools: the "auto" model router's classifier (generationConfig.
responseJsonSchema {complexity_reasoning, complexity_score: INTEGER}, or
{reasoning, model_choice: enum flash|pro}) and the next-speaker check
({reasoning, next_speaker: enum user|model}). A side call is answered with an
object built from its schema: score 1 / first enum value, i.e. "simple, use
flash" and "the user speaks next".

Conversation: `contents` is a list of {role: "user"|"model", parts}, where a
tool call is a model part {functionCall: {name, args}} and its result a user
part {functionResponse: {name, response}}; so the user's own text is the text
parts of user turns, and functionResponse parts count the tool results.
"""

import json
import os
import re

import script

ROUTE = re.compile(r"^/v1[^/]*/models/([^/:]+):(streamGenerateContent|generateContent|countTokens)$")
# Gemini CLI opens the conversation with a user part "<session_context>...
# - **Workspace Directories:**\n  - /abs/worktree ...</session_context>": context, not the user's words.
CONTEXT = "<session_context>"
WORKSPACE = re.compile(r"Workspace Directories:\**\s*-\s*(\S+)")


def user_text_and_results(contents):
    """The user's own text (tool results and session context excluded) and the tool-result count."""
    texts, results = [], 0
    for c in contents:
        if c.get("role", "user") != "user":
            continue
        for part in c.get("parts", []):
            if "functionResponse" in part:
                results += 1
            elif isinstance(part.get("text"), str) and not part["text"].startswith(CONTEXT):
                texts.append(part["text"])
    return "\n".join(texts), results


def tool_names(req):
    """The names of the function tools a request offers (none in a side call)."""
    return {f.get("name") for t in req.get("tools", []) for f in t.get("functionDeclarations", [])}


def turn(req):
    """The model parts of one agent turn."""
    user_text, results = user_text_and_results(req.get("contents", []))
    action = script.next_action(user_text, results)
    if action.kind == "say":
        return [{"text": action.arg}]
    if action.kind == "write" and "write_file" in tool_names(req):
        # write_file wants an absolute path inside the workspace (the worktree),
        # which the session context lists first under "Workspace Directories".
        texts = [p.get("text", "") for c in req.get("contents", []) for p in c.get("parts", [])]
        m = WORKSPACE.search("\n".join(t for t in texts if isinstance(t, str) and t.startswith(CONTEXT)))
        workdir = m.group(1) if m else os.getcwd()
        call = {"name": "write_file", "args": {"file_path": os.path.join(workdir, action.arg),
                                               "content": action.text + "\n"}}
    else:
        call = {"name": "run_shell_command", "args": {"command": script.shell_for(action),
                                                      "description": "scripted step"}}
    return [{"functionCall": call}]


def from_schema(schema):
    """A minimal value matching a JSON schema (first enum value, empty-ish rest)."""
    kind = str(schema.get("type", "object")).lower()
    if schema.get("enum"):
        return schema["enum"][0]
    if kind == "object":
        props = schema.get("properties", {})
        return {k: from_schema(v) for k, v in props.items()}
    if kind == "array":
        return []
    if kind in ("number", "integer"):
        return 1
    if kind == "boolean":
        return False
    return "scripted"


def side_call(req):
    """A side call (router classifier, next-speaker check ...): a short plain answer."""
    config = req.get("generationConfig", {})
    schema = config.get("responseJsonSchema") or config.get("responseSchema")
    if schema:
        return [{"text": json.dumps(from_schema(schema))}]
    return [{"text": "{}" if "json" in str(config.get("responseMimeType", "")) else "ok"}]


def response(model, parts):
    return {"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 1, "totalTokenCount": 2},
            "modelVersion": model}


def handle(method, path, body):
    m = ROUTE.match(path.split("?")[0])
    if method != "POST" or not m:
        return None
    model, verb = m.groups()
    req = json.loads(body or "{}")
    if verb == "countTokens":
        return 200, "application/json", json.dumps({"totalTokens": 1})
    parts = turn(req) if {"write_file", "run_shell_command"} & tool_names(req) else side_call(req)
    if verb == "streamGenerateContent":
        return 200, "text/event-stream", f"data: {json.dumps(response(model, parts))}\n\n"
    return 200, "application/json", json.dumps(response(model, parts))
