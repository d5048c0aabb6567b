"""The local chat models side by side: right answers, speed, memory, size (one run, interleaved).

Questions: the 20 of data/carbon-qa/dev.jsonl (answer regexes), asked ungrounded and grounded as
`glwork ask` grounds them (CarbonQAAgent: 3 passages of data/carbon-corpus found by glwork.rag,
its system message and prompt), plus the workshop's own questions as notebooks 01-07 ask them
(same messages, temperature and max_tokens). Each model runs in its own child process (so its peak
memory is its own), both loaded at once; questions alternate A,B / B,A so that the load other
work puts on the machine falls on both alike. The load average is printed with the figures.

    .venv/bin/python benchmarks/bench_local_models.py            # ~30 min on a busy 2-core machine
    .venv/bin/python benchmarks/bench_local_models.py --quick    # 4 questions of each kind
    .venv/bin/python benchmarks/bench_local_models.py --json out.json --show   # keep answers, print them

Timings: first-token = request to first streamed text (prompt processing included); tokens/s =
decoding after the first token; reply = the whole answer. The README's "Local models" has the table.
"""
import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

NAMES = ("qwen2.5-coder-0.5b-instruct", "qwen2.5-coder-1.5b-instruct")
MASS = re.compile(r"(\d[\d,]*(?:\.\d+)?)\s*(million\s+)?(kg|kilograms?|tonnes?|tons?|t)\b"
                  r"(?!\s*(?:/|per)\s*(?:passenger[- ])?km)", re.I)


def flight_ok(text):
    """A 100 km flight: a passenger's share is tens of kg, the whole aircraft a few tonnes. Right if
    every mass stated lies in 5 kg .. 5 t and there is one (the 0.5B said "3,800 tons")."""
    kgs = []
    for num, million, unit in MASS.findall(text):
        value = float(num.replace(",", "")) * (1e6 if million else 1)
        kgs.append(value if unit.lower().startswith("k") else value * 1000)
    return bool(kgs) and all(5 <= kg <= 5000 for kg in kgs)


def json_ok(text):
    """JSON mode on "Emissions: 1.2M tons" must give emissions_tonnes 1200000 (not 1.2)."""
    try:
        obj = json.loads(re.sub(r"^```(?:json)?|```$", "", text.strip()).strip())
    except ValueError:
        return False
    if not isinstance(obj, dict):
        return False
    value = next((v for k, v in obj.items() if k.lower() == "emissions_tonnes"), None)
    try:
        return float(str(value).replace(",", "")) == 1_200_000
    except ValueError:
        return False


def regex_check(require, forbid=()):
    return lambda text: (all(re.search(p, text, re.I) for p in require)
                         and not any(re.search(p, text, re.I) for p in forbid))


def ask(user, system=None, max_tokens=None, temperature=None, json_mode=False):
    msgs = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]
    return {"messages": msgs, "max_tokens": max_tokens, "temperature": temperature, "json": json_mode}


EXPERT = "You are a GHG accounting expert. Answer in two sentences."
_ADVISE = r"(work on|focus on|start with|prioriti[sz]e|tackle|reduc\w*|target)"
SCOPE3_CATEGORIES = (r"purchased goods|capital goods|fuel.{0,20}energy|transportation|distribution|waste|"
                     r"business travel|commut|leased assets|processing of sold|use of sold|end.of.life|franchise|"
                     r"investments")
# The workshop's questions as the notebooks ask them (messages, max_tokens, temperature as sent).
WORKSHOP = [
    ("01 100 km flight", ask("Calculate emissions for a 100 km flight. Answer in two sentences.",
                             "You are a carbon footprint expert", 200, 0.7), flight_ok),
    ("01 Scope 3 definition", ask("What are Scope 3 emissions? One sentence.", max_tokens=120),
     regex_check([r"value chain|upstream|downstream|indirect|outside|supplier"],
                 [r"pollutant", r"not accounted", r"\bdirect emissions from (sources )?(owned|controlled)"])),
    ("01 JSON 1.2M tons", ask("Extract as JSON with keys company, year, emissions_tonnes: Company: Tesla, "
                              "Year: 2023, Emissions: 1.2M tons", max_tokens=120, json_mode=True), json_ok),
    ("03 carbon footprint", ask("What is carbon footprint?", max_tokens=80),
     regex_check([r"greenhouse|co2|carbon dioxide", r"total|amount|sum"])),
    ("03 Scope 1", ask("What are Scope 1 emissions?", EXPERT, 80),
     regex_check([r"\bdirect", r"own|control"], [r"region"])),
    ("03 Scope 2", ask("Explain Scope 2 emissions", EXPERT, 80),
     regex_check([r"purchas|bought|acquired|import", r"electric|heat|steam|cool"], [r"region", r"china"])),
    ("03 carbon offset", ask("What is a carbon offset?", "You are a carbon footprint expert.", 60, 0.7),
     regex_check([r"reduc|remov|avoid|captur|absorb",
                  r"compensat|balanc|elsewhere|project|credit|counteract|make up for|neutrali"],
                 [r"measure of the amount"])),
    ("04 why back off", ask("In one sentence: why should retries wait longer each time?", max_tokens=60),
     regex_check([r"overload|load|recover|rate.?limit|congest|strain|pressure|time to|breath|throttl"])),
    ("05 which scope first", ask("Last year we emitted 1,200 t CO2e in Scope 1, 3,400 t in Scope 2 and 18,000 t "
                                 "in Scope 3. In two sentences: which scope should we work on first, and why?",
                                 max_tokens=120),
     regex_check([rf"{_ADVISE}\W+(\w+\W+){{0,3}}scope 3\b"
                  rf"|scope 3\W+(\w+\W+){{0,8}}(first|priority|largest|biggest|highest|most)"],
                 [rf"{_ADVISE}\W+(\w+\W+){{0,3}}scope [12]\b|scope [12]\W+(\w+\W+){{0,4}}first"])),
    ("05 market-based Scope 2", ask("How do I read a market-based Scope 2 figure? One sentence.", max_tokens=60),
     regex_check([r"contract|supplier|certificate|instrument|purchas|tariff|chose|green"])),
    ("05 a Scope 3 category", ask("Name one Scope 3 category. Three words.", max_tokens=60),
     regex_check([SCOPE3_CATEGORIES])),
    ("07 largest Scope 3 category", ask("Which Scope 3 category do most manufacturers find largest?",
                                        "You are helpful", 80),
     regex_check([r"purchased goods|category 1\b"])),
]


def checks():
    """{(kind, label): check}: answers are judged when a run is summarised, so a saved run
    (--from-json) is judged by the current checks."""
    out = {("workshop", label): check for label, _, check in WORKSHOP}
    for d in dev_questions():
        check = regex_check(d["require_all"], d.get("forbid", ()))
        out[("ungrounded", d["question"])] = out[("grounded", d["question"])] = check
    return out


def judge(rows):
    table = checks()
    for r in rows:
        r["right"] = bool(table[(r["kind"], r["label"])](r["text"]))
    return rows


def dev_questions():
    path = ROOT / "data" / "carbon-qa" / "dev.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def grounded_prompts(questions):
    """Messages as `glwork ask` sends them (CarbonQAAgent's retrieval, system message and prompt)."""
    from glwork.agents.carbon import PROMPT, SYSTEM_MESSAGE, CarbonQAAgent
    from glwork.local.model import cache_dir
    agent = CarbonQAAgent(index_dir=cache_dir() / "carbon-qa", mode="local")
    agent.setup()     # indexes the corpus once (~1 min), then reloads the saved index
    out = []
    for q in questions:
        sources = agent.find_sources(q)
        context = "\n\n".join(f"Source {i + 1}: {s['content']}" for i, s in enumerate(sources))
        out.append([{"role": "system", "content": SYSTEM_MESSAGE},
                    {"role": "user", "content": PROMPT.format(context=context, query=q)}])
    return out


# ---- the child: one model, questions on stdin, measurements on stdout ------------------------------
def child(name):
    from glwork.local.engine import GenRequest, LlamaEngine
    t0 = time.perf_counter()
    eng = LlamaEngine(name)
    load = time.perf_counter() - t0
    out = sys.stdout
    sys.stdout = sys.stderr      # anything else printed must not break the protocol
    out.write(json.dumps({"load_s": load, "model": eng.model}) + "\n")
    out.flush()
    for line in sys.stdin:
        job = json.loads(line)
        if job.get("stats"):
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            out.write(json.dumps({"rss_mb": rss, **_rss_parts()}) + "\n")
            out.flush()
            break
        req = GenRequest(job["messages"], max_tokens=job["max_tokens"], temperature=job["temperature"],
                         json_mode=job["json"])
        # Timed from the engine's "start" (after it waited for other processes' llama.cpp jobs:
        # glwork runs one at a time per machine), so a wait is reported apart, not as the model's.
        sent, cpu, start, first, result = time.perf_counter(), time.process_time(), None, None, None
        for kind, value in eng.chat(req):
            if kind == "start" and start is None:
                start = time.perf_counter()
            elif kind == "text" and first is None and value:
                first = time.perf_counter()
            elif kind == "done":
                result = value
        end = time.perf_counter()
        start, first = start or sent, first or end
        out.write(json.dumps({"text": result.text, "prompt_tokens": result.prompt_tokens,
                              "completion_tokens": result.completion_tokens, "first_s": first - start,
                              "total_s": end - start, "decode_s": end - first, "wait_s": start - sent,
                              "cpu_s": time.process_time() - cpu, "threads": eng._threads}) + "\n")
        out.flush()
    eng.close()


def _rss_parts():
    """Resident memory now: anonymous (this process's own) and file-backed (the mapped GGUF: page
    cache that processes mapping the same file share, and that the kernel can reclaim)."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return {}
    return {k.lower() + "_mb": int(re.search(rf"{k}:\s+(\d+)", status).group(1)) / 1024
            for k in ("RssAnon", "RssFile") if f"{k}:" in status}


class Child:
    def __init__(self, name):
        self.name = name
        self.proc = subprocess.Popen([sys.executable, __file__, "--child", name], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        self.hello = self._read()

    def _read(self):
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"the {self.name} child stopped (exit {self.proc.wait()}); see its stderr above")
        return json.loads(line)

    def run(self, job):
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def finish(self):
        stats = self.run({"stats": True})
        self.proc.stdin.close()
        self.proc.wait(timeout=60)
        return stats


# ---- the run ---------------------------------------------------------------------------------------
def jobs(quick):
    dev = dev_questions()
    workshop = WORKSHOP
    if quick:
        dev, workshop = dev[:4], workshop[:4]
    print(f"retrieving passages for {len(dev)} questions (glwork.rag on data/carbon-corpus) ...", flush=True)
    grounded = grounded_prompts([d["question"] for d in dev])
    out = [("workshop", label, job) for label, job, _ in workshop]
    for d, msgs in zip(dev, grounded):
        out.append(("ungrounded", d["question"], ask(d["question"], max_tokens=160, temperature=0.3)))
        out.append(("grounded", d["question"], {"messages": msgs, "max_tokens": 160, "temperature": 0.3,
                                                "json": False}))
    return out


def measure(quick, save=None):
    from glwork.local.model import gguf_path
    from glwork.local.models import get
    work = jobs(quick)
    load0 = os.getloadavg()
    started = time.perf_counter()
    print(f"starting both models (load average {load0[0]:.2f}) ...", flush=True)
    kids = {n: Child(n) for n in NAMES}
    # The first generation of a fresh model is slower (warm-up): time it apart.
    warm = {n: kids[n].run(ask("Say hello.", max_tokens=8)) for n in NAMES}
    rows, loads = [], []
    for i, (kind, label, job) in enumerate(work):
        order = NAMES if i % 2 == 0 else NAMES[::-1]
        for n in order:
            r = kids[n].run(job)
            r.update(model=n, kind=kind, label=label)
            rows.append(r)
        judge(rows[-2:])
        loads.append(os.getloadavg()[0])
        done = {n: sum(x["right"] for x in rows if x["model"] == n) for n in NAMES}
        print(f"  {i + 1}/{len(work)} {kind:10s} right so far: {done}  load {loads[-1]:.2f}", flush=True)
        if save:     # a long run interrupted keeps what it measured
            Path(save).write_text(json.dumps({"rows": rows, "partial": True}, indent=1))
    stats = {n: kids[n].finish() for n in NAMES}
    return {"rows": rows, "warm": warm, "hello": {n: kids[n].hello for n in NAMES}, "stats": stats,
            "size": {n: gguf_path(get(n)).stat().st_size for n in NAMES},
            "load_avg": {"start": load0[0], "mean": statistics.mean(loads), "max": max(loads),
                         "end": os.getloadavg()[0]},
            "minutes": (time.perf_counter() - started) / 60, "cpus": os.cpu_count(),
            "date": time.strftime("%Y-%m-%d")}


def summary(res):
    """{model: {figure: value}} from a run."""
    out = {}
    for n in NAMES:
        rows = [r for r in res["rows"] if r["model"] == n]
        by = {k: [r for r in rows if r["kind"] == k] for k in ("ungrounded", "grounded", "workshop")}
        short = by["workshop"] + by["ungrounded"]
        tps = [(r["completion_tokens"] - 1) / r["decode_s"] for r in rows if r["completion_tokens"] > 8]
        out[n] = {
            **{f"right_{k}": (sum(r["right"] for r in v), len(v)) for k, v in by.items()},
            "tokens_per_s": statistics.median(tps),
            "first_token_short_s": statistics.median(r["first_s"] for r in short),
            "first_token_grounded_s": statistics.median(r["first_s"] for r in by["grounded"]),
            "reply_short_median_s": statistics.median(r["total_s"] for r in by["workshop"]),
            "reply_short_max_s": max(r["total_s"] for r in by["workshop"]),
            "reply_grounded_median_s": statistics.median(r["total_s"] for r in by["grounded"]),
            "prompt_tokens_grounded": statistics.median(r["prompt_tokens"] for r in by["grounded"]),
            "load_s": res["hello"][n]["load_s"], "first_call_s": res["warm"][n]["total_s"],
            "rss_mb": res["stats"][n]["rss_mb"], "size_gb": res["size"][n] / 1e9,
            "anon_mb": res["stats"][n].get("rssanon_mb"), "file_mb": res["stats"][n].get("rssfile_mb"),
        }
    return out


def table(res):
    s = summary(res)
    la = res["load_avg"]
    lines = [f"Local chat models side by side ({res['date']}, {res['cpus']} CPUs, llama-cpp-python, n_threads=2; "
             f"load average {la['start']:.1f} at start, mean {la['mean']:.1f}, max {la['max']:.1f}: "
             f"other jobs shared the cores; {res['minutes']:.0f} min)", ""]
    head = f"{'':38s}" + "".join(f"{n.replace('qwen2.5-coder-', ''):>18s}" for n in NAMES)
    lines += [head, "-" * len(head)]

    def row(label, fmt):
        lines.append(f"{label:38s}" + "".join(f"{fmt(s[n]):>18s}" for n in NAMES))
    def frac(t):
        return f"{t[0]}/{t[1]}"

    row("right, carbon-qa dev, ungrounded", lambda x: frac(x["right_ungrounded"]))
    row("right, carbon-qa dev, grounded (ask)", lambda x: frac(x["right_grounded"]))
    row("right, workshop questions (01-07)", lambda x: frac(x["right_workshop"]))
    row("decoding, tokens/s (median)", lambda x: f"{x['tokens_per_s']:.1f}")
    row("first token, short prompt (median)", lambda x: f"{x['first_token_short_s']:.2f} s")
    row(f"first token, grounded (~{s[NAMES[0]]['prompt_tokens_grounded']:.0f} tok)",
        lambda x: f"{x['first_token_grounded_s']:.2f} s")
    row("workshop reply, median / max", lambda x: f"{x['reply_short_median_s']:.1f} / {x['reply_short_max_s']:.1f} s")
    row("grounded reply (median)", lambda x: f"{x['reply_grounded_median_s']:.1f} s")
    row("load (Llama init)", lambda x: f"{x['load_s']:.2f} s")
    row("first call after load (8 tokens)", lambda x: f"{x['first_call_s']:.2f} s")
    row("peak memory (RSS)", lambda x: f"{x['rss_mb']:.0f} MB")
    if all(s[n]["anon_mb"] for n in NAMES):
        row("  of which own / mapped GGUF", lambda x: f"{x['anon_mb']:.0f} / {x['file_mb']:.0f} MB")
    row("install size (GGUF, on disk once)", lambda x: f"{x['size_gb']:.2f} GB")
    lines += ["", "Workshop questions, right (+) or wrong (-):"]
    for label, *_ in WORKSHOP:
        marks = [r for r in res["rows"] if r["label"] == label and r["kind"] == "workshop"]
        if marks:
            lines.append(f"  {label:34s}" + "".join(
                f"{('+' if r['right'] else '-'):>18s}" for n in NAMES for r in marks if r["model"] == n))
    return "\n".join(lines)


def show_answers(res):
    for r in res["rows"]:
        flag = "RIGHT" if r["right"] else "wrong"
        text = r["text"].replace("\n", " ")[:300]
        print(f"[{r['model'].replace('qwen2.5-coder-', '')} {r['kind']} {flag}] {r['label'][:60]}\n    {text}")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--quick", action="store_true", help="4 questions of each kind")
    p.add_argument("--json", help="write the whole run (answers included) to this file")
    p.add_argument("--show", action="store_true", help="print every answer")
    p.add_argument("--from-json", dest="from_json", help="print the table of a saved run")
    args = p.parse_args()
    if args.child:
        return child(args.child)
    res = json.loads(Path(args.from_json).read_text()) if args.from_json else measure(args.quick, args.json)
    judge(res["rows"])
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))
    if args.show:
        show_answers(res)
    print()
    print(table(res))


if __name__ == "__main__":
    main()
