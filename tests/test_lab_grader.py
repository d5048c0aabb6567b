"""glwork.lab.grade_homework measures behaviour: the course's solution gets full marks, the kit's
reference agent is refused, and each shortcut loses the points of the line it fakes."""
import re
from concurrent.futures import ThreadPoolExecutor

import pytest

import glwork.lab as lab
from glwork.agents import Agent, CarbonQAAgent
from glwork.llm import ChatSession, RAGEngine
from glwork.resilience.retry import RetryPolicy
from homework_helpers import RELEASED, SOURCE, notebook_namespace, small_documents
from lab_helpers import agent_index
from lab_helpers import small_documents as lab_documents

FULL = {"index": 25, "answers": 25, "caching": 25, "costs": 25, "hybrid": 5, "citations": 5, "fallback": 5}


@pytest.fixture(scope="module")
def solution():
    ns = notebook_namespace(SOURCE)
    ns["load_documents"] = small_documents   # 12 documents: setup() indexes in about a second
    return ns["DocumentQAAgent"]


_VECTORS = {}


@pytest.fixture(autouse=True)
def offline(monkeypatch, _clean_provider_env):
    import glwork.rag.engine as engine
    monkeypatch.setenv("GLWORK_MODE", "local")
    # The fallback test retries the failing primary: no need to wait between attempts here.
    monkeypatch.setattr(RetryPolicy, "backoff", lambda self, attempt: 0.0)
    # Every graded agent indexes the same documents in its setup(): embed each text once per run.
    encode_all = engine.encode_all

    def remembered(embedder, texts, **kwargs):
        key = (getattr(embedder, "name", None), tuple(texts))
        if key not in _VECTORS:
            _VECTORS[key] = encode_all(embedder, texts, **kwargs)
        return _VECTORS[key].copy()
    monkeypatch.setattr(engine, "encode_all", remembered, raising=False)


def points(grade):
    return {i.key: i.points for i in grade.items}


def notes(grade, key):
    return "; ".join(grade[key].notes)


def lost(grade):
    """{rubric line: points lost} for the lines that did not get full marks."""
    return {k: FULL[k] - v for k, v in points(grade).items() if v != FULL[k]}


def test_the_course_solution_gets_full_marks(solution, capsys):
    grade = lab.grade_homework(solution)
    assert (grade.total, grade.bonus) == (100, 15), grade
    assert "setup() indexed 12 documents" in notes(grade, "index")
    assert ("'Which Scope 3 category covers franchises?': grounded in ghg-scope3-14-franchises"
            in notes(grade, "answers"))
    assert "(local)" in notes(grade, "answers") and "glwork-extractive-v1" in notes(grade, "answers")
    assert "'What Scope 3 category do franchises fall under?' was served from the cache" in notes(grade, "caching")
    assert "was not served a cached answer" in notes(grade, "caching")
    assert "total_cost matches the" in notes(grade, "costs")
    assert "the primary failed (3 injected errors) and anthropic/claude-3-opus answered" in notes(grade, "fallback")
    assert repr(grade).startswith("Homework: document Q&A system · 100/100 (+15/15 bonus)")
    assert "<table>" in grade._repr_html_() and "100/100" in grade._repr_html_()
    # an nbgrader test cell outputs the line's points and prints its notes
    assert grade.points("caching") == 25.0 and "Semantic caching: 25/25" in capsys.readouterr().out
    with pytest.raises(KeyError, match="no rubric line 'speed'"):
        grade.points("speed")


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory):
    return agent_index(tmp_path_factory.mktemp("reference-index"))


def reference_submissions(index_dir, solution):
    def reference():
        return CarbonQAAgent(documents=lab_documents(), index_dir=index_dir)

    class Subclassed(CarbonQAAgent):
        def __init__(self):
            super().__init__(documents=lab_documents(), index_dir=index_dir, search_type="hybrid")

    class Wrapper(Agent):
        def __init__(self):
            super().__init__(name="wrapper")
            self.inner = reference()

        def execute(self):
            return self.inner.execute_with_input(self.input_data)

    hidden = {}

    class Delegating(solution):   # indexes like a solution, then lets the reference agent answer
        def execute(self):
            inner = hidden.setdefault("agent", reference())
            return inner.execute_with_input(self.input_data)

    return {"the class": CarbonQAAgent, "an instance": reference(), "a subclass": Subclassed,
            "an attribute": Wrapper, "called at run time": Delegating}


@pytest.mark.parametrize("how,expected", [
    ("the class", "(glwork.agents.CarbonQAAgent):"), ("an instance", "(glwork.agents.CarbonQAAgent):"),
    ("a subclass", "subclassed as Subclassed"), ("an attribute", "as self.inner"),
    ("called at run time", "called from your agent")])
def test_the_reference_agent_is_refused(index_dir, solution, how, expected):
    grade = lab.grade_homework(reference_submissions(index_dir, solution)[how])
    assert grade.total == 0 and grade.bonus == 0
    assert grade.title.startswith("Homework: document Q&A system · not graded: this is the kit's reference agent")
    assert expected in grade.refused and "your own Agent subclass" in grade.refused
    assert repr(grade).startswith(grade.title) and "not graded" in grade._repr_html_()


MARKER = re.compile(r"\[\d+\]")


class NeverHit:
    def get(self, query):
        return None

    def set(self, query, value, **kwargs):
        pass


class ExactCache(NeverHit):
    def __init__(self):
        self.answers = {}

    def get(self, query):
        return self.answers.get(query)

    def set(self, query, value, **kwargs):
        self.answers[query] = value


def shortcuts(solution, saved_index):
    class RagQueryNoCache(solution):
        """Answers with rag.query(): its own ChatSession is never used, and nothing is cached."""
        def execute(self):
            r = self.rag.query(self.input_data["query"])
            return {"answer": r.answer, "sources": [{"id": s["id"]} for s in r.sources], "cached": False,
                    "cost": r.cost, "tokens": r.usage.total_tokens}

    class NoLLM(solution):
        """Answers with the best passage itself: a search engine, not an agent that answers."""
        def execute(self):
            sources = self.rag.retrieve(self.input_data["query"])
            return {"answer": sources[0]["content"][:300], "sources": [{"id": s["id"]} for s in sources],
                    "cached": False, "cost": 0.0, "tokens": 0}

    class CacheFlagOnly(solution):
        def setup(self):
            super().setup()
            self.cache = NeverHit()

        def execute(self):
            return {**super().execute(), "cached": True}

    class CallInAThread(solution):
        """No cache; after the first question it asks the model from a worker thread."""
        def setup(self):
            super().setup()
            self.cache, self.asked = NeverHit(), 0

        def execute(self):
            self.asked += 1
            if self.asked == 1:
                return super().execute()
            with ThreadPoolExecutor(1) as pool:
                return pool.submit(solution.execute, self).result()

    class ExactMatchCache(solution):
        def setup(self):
            super().setup()
            self.cache = ExactCache()

    class CitationFlagOnly(solution):
        def setup(self):
            super().setup()
            self.rag.citation_mode = True

        def execute(self):
            result = super().execute()
            return {**result, "answer": MARKER.sub("", result["answer"])}

    class FallbackFlagOnly(solution):
        """The session with a fallback is kept, unused; the one that answers has none."""
        def setup(self):
            super().setup()
            self.spare, self.session = self.session, ChatSession(provider="openai", model="gpt-4", max_tokens=160)

    class CannedAnswerOnError(solution):
        def setup(self):
            super().setup()
            self.session = ChatSession(provider="openai", model="gpt-4", max_tokens=160)

        def execute(self):
            try:
                return super().execute()
            except Exception:
                return {"answer": "The service is busy, please try again.", "sources": [], "cached": False,
                        "cost": 0.0, "tokens": 0}

    class PreloadedDocuments(solution):
        """Opens an index saved before grading: setup() indexes nothing."""
        def setup(self):
            super().setup()
            self.rag = RAGEngine.load(saved_index, search_type="hybrid", top_k=3)

    class Ungrounded(solution):
        """Retrieves sources but asks the model without them."""
        def execute(self):
            query = self.input_data["query"]
            hit = self.cache.get(query)
            if hit:
                return {**hit, "cached": True, "cost": 0.0, "tokens": 0}
            sources = self.rag.retrieve(query)
            self.session.reset()
            reply = self.session.send_message(query)
            result = {"answer": str(reply), "sources": [{"id": s["id"]} for s in sources], "cached": False,
                      "cost": reply.cost, "tokens": reply.usage.total_tokens}
            self.cache.set(query, {"answer": result["answer"], "sources": result["sources"]})
            return result

    class RunningTotals(solution):
        """The workshop text's slip: the session's running totals as each answer's cost and tokens."""
        def execute(self):
            result = super().execute()
            if not result["cached"]:
                result.update(cost=self.session.get_cost(), tokens=self.session.get_token_count())
            return result

    class KitFillsCosts(solution):
        """Returns no cost or tokens: Agent.execute_with_input fills them in, which earns nothing."""
        def execute(self):
            return {k: v for k, v in super().execute().items() if k not in ("cost", "tokens")}

    return {c.__name__: c for c in (RagQueryNoCache, NoLLM, CacheFlagOnly, CallInAThread, ExactMatchCache,
                                    CitationFlagOnly, FallbackFlagOnly, CannedAnswerOnError, PreloadedDocuments,
                                    Ungrounded, RunningTotals, KitFillsCosts)}


@pytest.fixture(scope="module")
def saved_index(tmp_path_factory):
    rag = RAGEngine(chunk_size=1000, top_k=3)
    rag.index_documents(small_documents())
    path = tmp_path_factory.mktemp("saved") / "index"
    rag.save(path)
    return path


@pytest.mark.parametrize("name,expected_loss,note", [
    ("RagQueryNoCache", {"caching": 25, "citations": 5, "fallback": 5},
     "(the same question as 'Which Scope 3 category covers franchises?' in other words) was answered again"),
    ("NoLLM", {"answers": 20, "caching": 25, "citations": 5, "fallback": 5}, "was not written by an LLM"),
    ("CacheFlagOnly", {"caching": 25, "costs": 5}, "says 'cached' but made 1 LLM call(s)"),
    ("CallInAThread", {"caching": 25}, "in other words) was answered again (1 LLM call(s))"),
    ("ExactMatchCache", {"caching": 20}, "only the exact question is cached"),
    ("CitationFlagOnly", {"citations": 5}, "no [n] citation markers in the answer"),
    ("FallbackFlagOnly", {"fallback": 5}, "the primary failed (3 injected errors) and nothing else answered"),
    ("CannedAnswerOnError", {"fallback": 5}, "an answer came back, but from no other provider or model"),
    ("PreloadedDocuments", {"index": 20}, "the RAGEngine holds 12 documents, but your setup() indexed none"),
    ("Ungrounded", {"answers": 15, "citations": 5}, "the answer does not state the fact"),
    ("RunningTotals", {"costs": 15}, "but its LLM calls used"),
    ("KitFillsCosts", {"costs": 10}, "execute() returns no 'cost' (the kit filled it in)"),
])
def test_each_shortcut_loses_the_points_it_fakes(solution, saved_index, name, expected_loss, note):
    grade = lab.grade_homework(shortcuts(solution, saved_index)[name])
    assert lost(grade) == expected_loss, grade
    assert note in "; ".join(n for i in grade.items for n in i.notes), grade


def test_documents_indexed_from_a_generator_count(solution):
    class FromGenerator(solution):
        def setup(self):
            super().setup()
            self.rag = RAGEngine(chunk_size=1000, top_k=3, search_type="hybrid")
            self.rag.index_documents(d for d in small_documents())
    grade = lab.grade_homework(FromGenerator)
    assert (grade.total, grade.bonus) == (100, 15) and "setup() indexed 12 documents" in notes(grade, "index")


def test_the_released_notebook_unfinished_scores_zero_with_what_to_do():
    grade = lab.grade_homework(notebook_namespace(RELEASED)["DocumentQAAgent"])
    assert grade.total == 0 and grade.bonus == 0
    assert "setup() is not written yet" in notes(grade, "index")
    assert "no RAGEngine on the agent" in notes(grade, "index")
    assert notes(grade, "caching") == "needs answers first (see Answer questions)"
    assert notes(grade, "hybrid") == "not attempted"


class NeedsArguments(Agent):
    def __init__(self, documents):
        super().__init__(name="needs_arguments")


@pytest.mark.parametrize("agent,expected", [
    (None, "grade_homework got nothing"), ("agent", "grade_homework got a str"),
    (NeedsArguments, "NeedsArguments() failed: TypeError"),
])
def test_not_a_gradable_agent_is_graded_zero_not_a_crash(agent, expected):
    grade = lab.grade_homework(agent)
    assert grade.total == 0 and expected in notes(grade, "answers")


def test_a_crashing_setup_is_reported_not_raised(solution):
    class Crashing(solution):
        def setup(self):
            raise RuntimeError("no documents folder")
    grade = lab.grade_homework(Crashing)
    assert grade.total == 0 and "setup() raised RuntimeError: no documents folder" in notes(grade, "index")


def test_questions_for_other_documents(solution):
    docs = [{"id": f"note{i}", "content": f"Meeting note {i}: the budget code is X{i}{i}7.", "metadata": {}}
            for i in range(12)]

    class Notes(solution):
        def setup(self):
            super().setup()
            self.rag = RAGEngine(top_k=3, search_type="hybrid")
            self.rag.index_documents(docs)

    questions = [{"question": f"What is the budget code in meeting note {i}?",
                  "paraphrase": f"Which budget code does meeting note {i} give?", "doc": f"note{i}",
                  "require_all": [f"X{i}{i}7"]} for i in (3, 5, 8)]
    grade = lab.grade_homework(Notes, questions=questions)
    assert grade.total == 100, grade
    assert "'What is the budget code in meeting note 3?': grounded in note3" in notes(grade, "answers")
    with pytest.raises(ValueError, match="at least three questions"):
        lab.grade_homework(Notes, questions=questions[:2])


def test_a_seed_picks_other_questions_about_indexed_documents():
    from glwork.lab.questions import pick
    ids = [d["id"] for d in small_documents()]
    assert [q.doc for q in pick(ids)] == ids[:3]   # the pool's order: franchises, investments, waste
    seeded = pick(ids, seed="fall-2026")
    assert seeded == pick(ids, seed="fall-2026") and seeded != pick(ids)
    assert all(q.doc in ids for q in seeded) and len({q.doc for q in seeded}) == 3
    assert [q.doc for q in pick(["esrs-e1-5"])][0] == "esrs-e1-5"   # the indexed one first, then others


def test_the_grading_engine_is_restored(monkeypatch):
    import os
    seen = []

    def build(agent, grade):   # where grading starts: note the engine, then stop
        seen.append(os.environ["GLWORK_LOCAL_ENGINE"])
        raise RuntimeError("stop")
    monkeypatch.setattr("glwork.lab.grader._build", build)
    monkeypatch.setenv("GLWORK_LOCAL_ENGINE", "llama")
    lab.grade_homework(None)
    monkeypatch.setenv("GLWORK_HOMEWORK_ENGINE", "auto")
    lab.grade_homework(None)
    assert seen == ["extractive", "auto"] and os.environ["GLWORK_LOCAL_ENGINE"] == "llama"
