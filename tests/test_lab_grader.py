"""glwork.lab.grade_homework: each requirement and bonus scored on real agents, with the reason."""
import pytest

import glwork.lab as lab
from glwork.agents import Agent, CarbonQAAgent
from glwork.lab.grader import ANSWERS, CACHING, CITATIONS, COSTS, FALLBACK, HYBRID, INDEX
from glwork.llm import ChatSession, RAGEngine
from lab_helpers import agent_index, small_documents


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory):
    return agent_index(tmp_path_factory.mktemp("grader-index"))


@pytest.fixture(autouse=True)
def local(monkeypatch, _clean_provider_env):
    monkeypatch.setenv("GLWORK_MODE", "local")
    monkeypatch.setenv("GLWORK_LOCAL_ENGINE", "extractive")


def notes(grade, name):
    return "; ".join(grade[name].notes)


def test_the_reference_agent_with_every_bonus_gets_full_marks(index_dir):
    agent = CarbonQAAgent(documents=small_documents(), index_dir=index_dir, search_type="hybrid",
                          citation_mode=True, fallback_provider="anthropic", fallback_model="claude-3-opus")
    grade = lab.grade_homework(agent)
    assert (grade.total, grade.max_total, grade.bonus, grade.max_bonus) == (100, 100, 15, 15), grade
    assert "12 documents" in notes(grade, INDEX)
    assert "'What is Scope 1?' was served from the cache" in notes(grade, CACHING)
    assert "cost_report(): total $" in notes(grade, COSTS)
    assert "falls back to anthropic/claude-3-opus" in notes(grade, FALLBACK)
    text = repr(grade)
    assert text.startswith("Homework: document Q&A system · 100/100 (+15/15 bonus)") and "Bonus" in text
    assert "<table>" in grade._repr_html_() and "100/100" in grade._repr_html_()
    assert grade.scores()[HYBRID] == 5 and len(grade.scores()) == 7


def test_bonuses_not_attempted_score_zero_and_say_so(index_dir):
    grade = lab.grade_homework(CarbonQAAgent(documents=small_documents(), index_dir=index_dir))
    assert grade.total == 100 and grade.bonus == 0, grade
    assert all(grade[b].notes == ["not attempted"] for b in (HYBRID, CITATIONS, FALLBACK))


class Skeleton(Agent):
    """The homework notebook's agent before any TODO is done."""

    def __init__(self):
        super().__init__(name="document_qa_agent")
        self.rag = self.session = self.cache = None

    def setup(self):
        pass

    def execute(self):
        if not self.input_data.get("query"):
            raise ValueError("No query provided")


def test_an_unfinished_agent_scores_zero_with_what_to_do():
    grade = lab.grade_homework(Skeleton())
    assert grade.total == 0 and grade.bonus == 0
    assert "no RAGEngine on the agent" in notes(grade, INDEX)
    assert "execute() returns nothing yet" in notes(grade, ANSWERS)
    assert "needs answers first" in notes(grade, CACHING)


@pytest.mark.parametrize("agent,expected", [(None, "got nothing"), (Skeleton, "a class, not an agent"),
                                            ("agent", "a str, not an Agent")])
def test_not_an_agent_is_graded_zero_not_a_crash(agent, expected):
    grade = lab.grade_homework(agent)
    assert grade.total == 0 and expected in notes(grade, ANSWERS)


class Homework(Agent):
    """A plausible attempt: RAG + LLM, an exact-match dict cache, per-answer costs, no report."""

    def __init__(self, documents):
        super().__init__(name="document_qa_agent")
        self.documents = documents
        self.answers = {}

    def setup(self):
        self.rag = RAGEngine(top_k=2)
        self.rag.index_documents(self.documents)
        self.session = ChatSession(provider="openai", model="gpt-4", max_tokens=40)

    def execute(self):
        query = self.input_data["query"]
        if query in self.answers:
            return {**self.answers[query], "cached": True, "cost": 0, "tokens": 0}
        sources = self.rag.retrieve(query)
        self.session.reset()
        reply = self.session.send_message("\n".join(s["content"] for s in sources) + "\n\nQuestion: " + query)
        result = {"answer": str(reply), "sources": [{"id": s["id"]} for s in sources], "cached": False,
                  "cost": reply.cost, "tokens": reply.usage.total_tokens}
        self.answers[query] = {"answer": result["answer"], "sources": result["sources"]}
        return result


def test_an_exact_match_cache_small_index_and_no_report_get_partial_marks():
    grade = lab.grade_homework(Homework(small_documents()[:4]))
    assert grade[INDEX].points == 10 and "only 4 documents indexed: index at least 10" in notes(grade, INDEX)
    assert grade[ANSWERS].points == 25
    assert grade[CACHING].points == 8 and "only the exact question is cached" in notes(grade, CACHING)
    assert grade[COSTS].points == 10 and "no cost_report() method" in notes(grade, COSTS)
    assert grade.total == 53


def test_a_report_that_does_not_add_up_and_a_false_cache_hit_lose_points(index_dir):
    class Sloppy(CarbonQAAgent):
        def __init__(self):
            super().__init__(documents=small_documents(), index_dir=index_dir, similarity_threshold=0.5)

        def setup(self):
            from glwork.llm import SemanticCacheManager
            super().setup()
            self.cache = SemanticCacheManager(similarity_threshold=0.5, guard=False)

        def cost_report(self):
            return {"total_cost": 99.0}
    grade = lab.grade_homework(Sloppy())
    assert grade[CACHING].points == 20 and "got a cached answer to another question" in notes(grade, CACHING)
    assert grade[COSTS].points == 20 and "cost_report() says $99.0000, but the answers cost $" in notes(grade, COSTS)


def test_custom_questions_for_other_documents(index_dir):
    grade = lab.grade_homework(CarbonQAAgent(documents=small_documents(), index_dir=index_dir),
                               question="How are business travel emissions calculated?",
                               paraphrase="How do you calculate business travel emissions?",
                               other_question="What is internal carbon pricing?")
    assert grade.total == 100, grade
    assert "answered 'How are business travel emissions calculated?'" in notes(grade, ANSWERS)


def test_a_crashing_agent_is_reported_not_raised():
    class Crashing(Skeleton):
        def setup(self):
            raise RuntimeError("no documents folder")
    grade = lab.grade_homework(Crashing())
    assert grade.total == 0 and "setup() raised RuntimeError: no documents folder" in notes(grade, INDEX)
