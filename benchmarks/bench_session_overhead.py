"""ChatSession overhead over the raw SDK: 2,000 `send_message` vs 2,000 `create()` calls against the
same local server, interleaved in one run so both see the same machine load.

Prints microseconds per call for each and the ratio. Target: ChatSession adds at most 10%.
Usage: .venv/bin/python benchmarks/bench_session_overhead.py [N]
"""
import os
import statistics
import sys
import tempfile
import time

import loopback  # benchmarks/loopback.py, beside this script
import openai

# The real call path writes each call to a cost ledger: a throwaway one, not the user's.
os.environ.setdefault("GLWORK_LEDGER", os.path.join(tempfile.mkdtemp(prefix="glwork-bench-"), "ledger.sqlite3"))

from glwork.llm import ChatSession


def main(n=2000, block=50):
    server, base = loopback.start()
    raw = openai.OpenAI(base_url=base, api_key="bench-key", max_retries=0)
    sess = ChatSession(provider="openai", model="gpt-4o-mini", base_url=base, api_key="bench-key")
    msgs = [{"role": "user", "content": "Which ocean?"}]

    def raw_call():
        r = raw.chat.completions.create(model="gpt-4o-mini", messages=msgs)
        return r.choices[0].message.content

    def session_call():
        r = sess.send_message("Which ocean?")
        sess.reset()  # same request size as the raw call: no growing history
        return r

    for _ in range(50):  # warm both paths (connection pool, imports)
        raw_call(), session_call()
    times = {"raw": [], "session": []}
    # Interleave blocks so drift in machine load hits both sides equally.
    for i in range(0, n, block):
        for name, fn in (("raw", raw_call), ("session", session_call)) if (i // block) % 2 == 0 else \
                (("session", session_call), ("raw", raw_call)):
            t = time.perf_counter()
            for _ in range(block):
                fn()
            times[name].append((time.perf_counter() - t) / block * 1e6)
    server.shutdown()
    med = {k: statistics.median(v) for k, v in times.items()}
    mean = {k: sum(v) / len(v) for k, v in times.items()}
    ratio = med["session"] / med["raw"]
    print(f"calls per side: {n} (interleaved blocks of {block})")
    print(f"raw SDK create():          median {med['raw']:8.1f} us/call   mean {mean['raw']:8.1f}")
    print(f"ChatSession.send_message:  median {med['session']:8.1f} us/call   mean {mean['session']:8.1f}")
    print(f"overhead ratio (median):   {ratio:.3f}  ({(ratio - 1) * 100:+.1f}%; target <= +10%)")
    return ratio


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
