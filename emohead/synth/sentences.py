"""The sentence list every synthetic actor speaks (MEAD's design: same content in every emotion).

Short, phonetically varied English sentences (open vowels, rounded vowels, bilabial closures),
written for this project. The split is by sentence: the last ``n_test`` of the chosen list are test.
"""
from __future__ import annotations

SENTENCES: tuple[str, ...] = (
    "She had your dark suit in greasy wash water all year.",
    "Please bring me the map before noon.",
    "We were away a whole week in May.",
    "Bob might buy a blue boat by the pier.",
    "How are you doing on this fine morning?",
    "Open the window and let the warm air in.",
    "The old man rode his bike to the market.",
    "My mother made apple pie on Monday.",
    "Who told you about the moon and the stars?",
    "Call me when you reach the top of the hill.",
    "I will never forget that summer by the sea.",
    "Put the book back where you found it.",
    "Our team won the game in the final minute.",
    "Please wait here while I fetch the car.",
    "The baby was sleeping in a warm room.",
    "Father bought a few boxes of oranges.",
    "Why would anyone open that door at night?",
    "You may go now, but come back soon.",
    "The birds flew over the quiet lake.",
    "Maybe we should move to a bigger house.",
    "It is time to wash the dishes and sweep the floor.",
    "The music was loud and the room was full.",
    "Nobody knew where the money went.",
    "We walked along the beach at sunset.",
    "Bring a warm coat, the wind is cold.",
    "Mark bought a blue pen and a pad of paper.",
    "Do you know how far it is to the museum?",
    "I can hardly believe what you are saying.",
    "The boy threw the ball over the wall.",
    "Meet me by the main gate at five.",
)


def choose_sentences(n: int) -> tuple[str, ...]:
    """The first ``n`` sentences; errors if more are asked for than exist."""
    if not 1 <= n <= len(SENTENCES):
        raise ValueError(f"synth.n_sentences={n}: choose between 1 and {len(SENTENCES)}")
    return SENTENCES[:n]


def sentence_id(index: int) -> str:
    return f"s{index:02d}"
