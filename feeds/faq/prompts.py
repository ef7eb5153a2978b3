"""The fixed questions asked of every paper, per language, and the messages that carry them.

``PROMPT_VERSION`` is part of an answer's key: changing the questions or the instructions means a new
version, so old answers are not shown as answers to questions that were never asked.
"""

from __future__ import annotations

__all__ = ["PROMPT_VERSION", "QUESTIONS", "messages", "truncation_note"]

PROMPT_VERSION = 1

QUESTIONS: dict[str, tuple[str, ...]] = {
    "en": (
        "What problem does this paper try to solve?",
        "What is the related work?",
        "How does the paper solve the problem?",
        "What experiments were done, and what are the results?",
        "What are the limitations, and what could be explored further?",
        "Summarise the main content of the paper.",
    ),
    "zh": (
        "这篇论文试图解决什么问题？",
        "有哪些相关研究？",
        "论文如何解决这个问题？",
        "论文做了哪些实验？结果如何？",
        "有什么局限性？有什么可以进一步探索的点？",
        "总结一下论文的主要内容。",
    ),
}

_SYSTEM = {
    "en": (
        "You are a careful research assistant. You read the full text of an arXiv paper and answer "
        "questions about it in English, in Markdown: one level-3 heading per question, then the answer. "
        "Write mathematics as LaTeX between $...$ or $$...$$. Base every answer on the paper only."
    ),
    "zh": (
        "你是一位严谨的科研助手。你会阅读一篇 arXiv 论文的全文，并用中文以 Markdown 格式回答问题："
        "每个问题一个三级标题，然后是回答。数学公式用 $...$ 或 $$...$$ 包裹的 LaTeX 书写。"
        "只依据论文内容回答。"
    ),
}

_CUT = {
    "en": "(The text below was cut to fit the model's context: it ends before the paper does.)",
    "zh": "（以下正文因模型上下文长度所限被截断，并非论文全文。）",
}

_NOTES = {
    "en": "Only the first {kept:,} of {total:,} characters of the paper's text were given to the model.",
    "zh": "仅将论文正文 {total:,} 个字符中的前 {kept:,} 个交给了模型。",
}


def messages(language: str, title: str, text: str, truncated: bool) -> list[dict[str, str]]:
    """The chat messages for one paper: the instructions, the paper, the questions."""
    questions = "\n".join(f"{i}. {q}" for i, q in enumerate(QUESTIONS[language], 1))
    cut = f"{_CUT[language]}\n\n" if truncated else ""
    return [
        {"role": "system", "content": _SYSTEM[language]},
        {"role": "user", "content": f"# {title}\n\n{cut}{text}"},
        {"role": "user", "content": questions},
    ]


def truncation_note(language: str, kept: int, total: int) -> str:
    """The note shown above an answer whose paper was cut to the model's budget."""
    return _NOTES[language].format(kept=kept, total=total)
