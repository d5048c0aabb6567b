"""Keep API keys out of messages, reprs, logs and outputs.

Every string that leaves the kit through an exception or a log record passes through `redact()`.
"""
import logging
import os
import re

# Key-shaped tokens of the providers we talk to, plus bearer headers and Slack webhooks.
_PATTERNS = [
    re.compile(r"sk-(?:proj-|ant-(?:api\d\d-)?|svcacct-)?[A-Za-z0-9_\-]{16,}"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._\-]{12,}"),
    re.compile(r"(?i)((?:api-key|x-api-key|authorization)[\"']?\s*[:=]\s*[\"']?)[A-Za-z0-9._\-]{12,}"),
    re.compile(r"hooks\.slack\.com/services/[A-Za-z0-9/]+"),
    re.compile(r"AKIA[0-9A-Z]{16}"),
    # Azure OpenAI keys: 32 hex digits standing alone (request ids carry a prefix such as req_).
    re.compile(r"(?<![0-9A-Za-z_\-])[0-9a-fA-F]{32}(?![0-9A-Za-z_\-])"),
]
SECRET_ENV_VARS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "AZURE_OPENAI_API_KEY", "SLACK_WEBHOOK_URL",
                   "AZURE_OPENAI_AD_TOKEN")
_extra_secrets: set = set()
MASK = "[REDACTED]"


def register_secret(value):
    """Remember a secret passed as an argument (not from the environment) so it is redacted too."""
    if value and isinstance(value, str) and len(value) >= 8:
        _extra_secrets.add(value)


def _known_secrets():
    vals = {os.environ.get(name) for name in SECRET_ENV_VARS} | _extra_secrets
    return sorted((v for v in vals if v and len(v) >= 8), key=len, reverse=True)


def redact(text):
    """Return `text` with every known key value and key-shaped token masked."""
    if text is None:
        return text
    text = str(text)
    for secret in _known_secrets():
        text = text.replace(secret, MASK)
    for pat in _PATTERNS:
        if pat.groups:
            text = pat.sub(lambda m: m.group(1) + MASK, text)
        else:
            text = pat.sub(MASK, text)
    return text


class RedactingFilter(logging.Filter):
    """Logging filter that redacts the formatted message of every record it sees."""

    def filter(self, record):
        msg = record.getMessage()
        clean = redact(msg)
        if clean != msg:
            record.msg, record.args = clean, None
        return True


def get_logger(name):
    """A logger under 'glwork' whose records are redacted before any handler sees them."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(RedactingFilter())
    return logger


# What a leaked credential looks like in a cassette or a notebook output.
_LEAK_PATTERNS = [
    ("openai/anthropic key", re.compile(r"sk-(?:proj-|ant-|svcacct-)?[A-Za-z0-9_\-]{20,}")),
    ("bearer token", re.compile(r"(?i)bearer\s+(?!test|dummy|fake|local|placeholder|\[REDACTED\])"
                                r"[A-Za-z0-9._\-]{20,}")),
    ("api-key header", re.compile(r"(?i)[\"']?(?:x-)?api-key[\"']?\s*[:=]\s*\[?[\"']?"
                                  r"(?!test|dummy|fake|local|\[REDACTED\])[A-Za-z0-9]{24,}")),
    ("aws access key", re.compile(r"AKIA[0-9A-Z]{16}")),
    ("slack webhook", re.compile(r"hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]+")),
    ("jwt", re.compile(r"eyJ[A-Za-z0-9_\-]{10,}\.eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}")),
]


def find_secrets(text):
    """[(kind, excerpt)] for every credential-shaped string in `text`, plus known key values."""
    found = [(kind, m.group(0)[:12] + "...") for kind, pat in _LEAK_PATTERNS for m in pat.finditer(text)]
    found += [("configured key value", s[:4] + "...") for s in _known_secrets() if s in text]
    return found


def scan_paths(paths, suffixes=(".yaml", ".yml", ".json", ".ipynb", ".py", ".md", ".txt")):
    """{path: findings} for files under `paths` that contain a secret."""
    from pathlib import Path
    report = {}
    for root in map(Path, paths):
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.suffix in suffixes)
        for f in files:
            hits = find_secrets(f.read_text(errors="replace"))
            if hits:
                report[str(f)] = hits
    return report
