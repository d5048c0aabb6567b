"""Shared pieces of the agent, lab and `glwork ask` tests: a small slice of the lab's documents and
a saved index of it, so each agent's setup() loads instead of embedding again."""
from glwork.agents import lab_documents

# The three scope overviews, the five scope 1/2 categories and a few ESRS E1 requirements: 12
# documents (the lab's checks want 10 or more), ~25 chunks.
SMALL_IDS = ("scope1", "scope2", "scope3", "ghg-scope1-01-stationary-combustion", "ghg-scope1-02-mobile-combustion",
             "ghg-scope1-03-fugitive-emissions", "ghg-scope2-01-purchased-electricity",
             "ghg-scope2-02-purchased-heat-and-steam", "ghg-scope3-06-business-travels", "esrs-e1-5", "esrs-e1-6",
             "esrs-e1-8")


def small_documents():
    docs = {d["id"]: d for d in lab_documents()}
    return [docs[i] for i in SMALL_IDS]


def build_index(path):
    """Index the small documents once and save them (RAGEngine.load() reopens them in milliseconds)."""
    from glwork.llm import RAGEngine
    rag = RAGEngine(chunk_size=1000, top_k=3)
    rag.index_documents(small_documents())
    rag.save(path)
    return path


def agent_index(folder):
    """A folder holding the small documents' index where CarbonQAAgent(index_dir=folder) finds it."""
    from glwork.agents import CarbonQAAgent
    target = CarbonQAAgent(documents=small_documents(), index_dir=folder).index_path()
    if not (target / "manifest.json").exists():
        build_index(target)
    return folder
