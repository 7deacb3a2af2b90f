"""What the scripted model does next: the directives of the task prompt, see model_server.py."""

import re

RETRY_MARKER = "Previous attempt"
DIRECTIVE = re.compile(r"^\s*model:\s*(?:(first-try|retry)\s+)?(write|run|say)\s+(.*?)\s*$", re.M)


class Action:
    """One model turn: a tool call (write/run) or a final answer (say)."""

    def __init__(self, kind, arg, text=""):
        self.kind, self.arg, self.text = kind, arg, text

    def __repr__(self):
        return f"Action({self.kind!r}, {self.arg!r}, {self.text!r})"


def directives(user_text):
    """The actions the prompt scripts, in order, for this attempt."""
    retry = RETRY_MARKER in user_text
    actions = []
    for when, kind, rest in DIRECTIVE.findall(user_text):
        if (when == "first-try" and retry) or (when == "retry" and not retry):
            continue
        rest = rest.replace("\\n", "\n")
        if kind == "write":
            path, _, text = rest.partition(" ")
            actions.append(Action("write", path, text))
        else:
            actions.append(Action(kind, rest))
    if not actions or actions[-1].kind != "say":
        actions.append(Action("say", "done"))
    return actions


def next_action(user_text, tool_results):
    """The action for the turn after `tool_results` tool calls were answered."""
    actions = directives(user_text)
    return actions[min(tool_results, len(actions) - 1)]


def shell_for(action):
    """A write or run action as one shell command (for CLIs whose tool is a shell)."""
    if action.kind == "run":
        return action.arg
    quoted = "'" + action.text.replace("'", "'\\''") + "'"
    directory = action.arg.rpartition("/")[0]
    mkdir = f"mkdir -p '{directory}' && " if directory else ""
    return f"{mkdir}printf '%s\\n' {quoted} > '{action.arg}'"


WORKDIR_PATTERNS = [
    re.compile(r"Working directory:\s*(\S+)"),
    re.compile(r"<cwd>([^<]+)</cwd>"),
    re.compile(r"currently working in the directory:\s*(\S+)"),
]


def find_workdir(text):
    """The agent's working directory, as its CLI states it in the request."""
    for pattern in WORKDIR_PATTERNS:
        m = pattern.search(text)
        if m:
            return m.group(1).rstrip(".")
    return None
