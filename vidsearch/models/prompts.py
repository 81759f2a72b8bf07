"""The instructions every video language model adapter gives. Each adapter's PROMPT_VERSION embeds
PROMPTS_VERSION: bump it when a text here changes, so the library is re-captioned, not mixed."""

PROMPTS_VERSION = "v1"

CAPTION_PROMPT = (
    "Describe this video in detail: the setting, the people and objects in it, what happens and in what "
    "order, and any text shown on screen."
)
ANSWER_PROMPT = (
    "Answer the question using only the numbered moments above. Cite every moment you use as [n], "
    "with its number. If the moments do not answer the question, say so."
)
