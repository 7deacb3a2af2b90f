"""OpenAI Chat Completions (POST /v1/chat/completions), as aider sends it via litellm.

aider gives the model no tools: with `--edit-format whole` a reply edits a file by
naming its path on a line, then a fenced block holding the file's whole new content
(aider/coders/wholefile_coder.py). aider writes the files, commits them itself, and
for that asks (a second, non-streamed request) for a one-line commit message. So
one reply plays every scripted write at once. `run` directives are not played: the
whole format has no shell blocks (only the diff formats collect them, and under
--yes-always aider answers "no" to running them), but the -m message of a scripted
`git commit` becomes the message of aider's own commit.
"""

import json
import shlex
import sys
import time

sys.path.insert(0, __file__.rpartition("/")[0] or ".")
import script

# First words of aider's own side prompts (aider/prompts.py).
COMMIT_PROMPT = "generates concise, one-line Git commit messages"
SUMMARY_PROMPT = "*Briefly* summarize this partial conversation"


def text_of(content):
    """A message's text: a string, or a list of {"type": "text", "text": ...} parts."""
    if isinstance(content, str):
        return content
    return "".join(p.get("text", "") for p in content or [] if isinstance(p, dict))


def commit_message(actions):
    """The -m message of the first scripted `git commit`, if any."""
    for action in actions:
        if action.kind != "run":
            continue
        try:
            words = shlex.split(action.arg)
        except ValueError:
            continue
        for i, word in enumerate(words[:-1]):
            if word in ("-m", "--message") and "commit" in words[:i]:
                return words[i + 1]
    return None


def reply_for(actions):
    """The whole-format reply: every write up to the first `say`, then the say text."""
    parts = []
    for action in actions:
        if action.kind == "write":
            # aider ends a block at any line starting with its fence (``` unless a
            # file in the chat holds one), so TEXT must not have such a line.
            parts.append(f"{action.arg}\n```\n{action.text}\n```\n")
        elif action.kind == "say":
            parts.append(action.text + "\n")
            break
    return "\n".join(parts)


def answer(model, text, stream):
    usage = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
    base = {"id": "chatcmpl-scripted", "created": int(time.time()), "model": model}
    if not stream:
        message = {"role": "assistant", "content": text}
        body = dict(base, object="chat.completion", usage=usage,
                    choices=[{"index": 0, "message": message, "finish_reason": "stop"}])
        return 200, "application/json", json.dumps(body)
    chunk = dict(base, object="chat.completion.chunk")
    events = [
        dict(chunk, choices=[{"index": 0, "delta": {"role": "assistant", "content": text},
                              "finish_reason": None}]),
        dict(chunk, choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}]),
        dict(chunk, choices=[], usage=usage),  # what stream_options.include_usage asks for
    ]
    sse = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
    return 200, "text/event-stream", sse


def handle(method, path, body):
    if method != "POST" or not path.split("?")[0].endswith("/chat/completions"):
        return None
    request = json.loads(body or "{}")
    messages = request.get("messages", [])
    system = "".join(text_of(m.get("content")) for m in messages if m.get("role") == "system")
    user_text = "\n".join(text_of(m.get("content")) for m in messages if m.get("role") == "user")
    actions = script.directives(user_text)
    if COMMIT_PROMPT in system:
        # The user message is aider's chat context ("USER: <brief>") plus the diffs.
        text = commit_message(actions) or "chore: apply scripted edits"
    elif SUMMARY_PROMPT in system:
        text = "I asked you to follow the scripted directives."
    else:
        text = reply_for(actions)
    return answer(request.get("model", "scripted"), text, bool(request.get("stream")))
